"""What every training stage records next to its model."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import torch

from diffbench.io import atomic_path
from diffbench.records import RecordKind
from diffbench.runtime import device_info, peak_memory
from diffbench.training.checkpoint import Checkpointing


def count_parameters(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def write_training_outputs(
    *,
    table: pd.DataFrame,
    summary: dict,
    extra: dict,
    device: torch.device,
    device_setting: str,
    out_record: str | Path,
    out_loss: str | Path,
    kind: RecordKind,
    checkpointing: Checkpointing | None = None,
) -> dict:
    """Write the loss table and the record; then the training checkpoint is no longer needed."""
    record = {
        **extra,
        **summary,
        **peak_memory(device),
        **device_info(device, device_setting),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    with atomic_path(out_loss) as tmp:
        table.to_csv(tmp, index=False)
    kind.write(out_record, record)
    if checkpointing is not None:
        checkpointing.remove()  # the outputs hold everything now
    return record
