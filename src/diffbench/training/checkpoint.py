"""Training checkpoints: the whole state of a run, saved atomically, so a killed job resumes.

Everything that decides the next step is saved - weights, EMA, optimiser, learning-rate
schedule, gradient scaler, step, the loop's generator, torch's global RNG (and CUDA's), the batch
order and position - so on the CPU a resumed run ends with the same weights as an uninterrupted
one. A fingerprint of the settings and inputs keeps a run from resuming another run's state.
The file is not a Snakemake output: Snakemake deletes a failed job's outputs, and this must
survive that.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from diffbench.io import atomic_path

log = logging.getLogger(__name__)


@dataclass
class Checkpointing:
    path: Path
    every: int | None  # steps between saves; None = never save
    fingerprint: str
    modules: dict[str, Any]  # anything with state_dict / load_state_dict (modules, a loss with a discriminator)
    ema: Any | None = None  # diffusers EMAModel (state_dict / load_state_dict)

    def load(self) -> dict | None:
        """The saved state when it belongs to this run, else None (the run starts at step 0)."""
        if not self.path.is_file():
            return None
        state = torch.load(self.path, map_location="cpu", weights_only=True)
        if state.get("fingerprint") != self.fingerprint:
            log.warning("%s was saved by a run with other settings or inputs; starting from step 0.", self.path)
            return None
        for name, module in self.modules.items():
            module.load_state_dict(state["modules"][name])
        if self.ema is not None:
            self.ema.load_state_dict(state["ema"])
        log.info("resuming from %s at step %d", self.path, state["step"])
        return state

    def save(self, loop_state: dict) -> None:
        state = {
            "fingerprint": self.fingerprint,
            "modules": {name: module.state_dict() for name, module in self.modules.items()},
            "ema": self.ema.state_dict() if self.ema is not None else None,
            **loop_state,
        }
        with atomic_path(self.path) as tmp:  # a kill mid-write leaves the previous checkpoint intact
            torch.save(state, tmp)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)
