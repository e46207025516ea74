"""Host batches onto the feature network's device, and features back, without stalling a GPU.

torch-fidelity (and a plain loop) copies each batch from pageable memory and reads each batch's
features back at once, so the GPU idles while the host slices, converts and copies the next
batch. Here, on CUDA, batches go through two pinned staging buffers and are copied on a side
stream, so the copy and the host's work on batch k+1 overlap the network's work on batch k, and
the features stay on the device until the last batch (one read-back). No library offers this for
in-memory arrays (DataLoader's pin_memory pins a fresh buffer per batch in a thread, and its
consumer still synchronises per batch). On a CPU both are the plain path: nothing is copied.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import torch


def on_device(batches: Iterable[torch.Tensor], device: torch.device) -> Iterator[torch.Tensor]:
    """Each host tensor of `batches` on `device`, same values; on CUDA, staged as the module says.

    A yielded CUDA tensor is ready for the current stream: it waits for its copy there, and the
    allocator is told it is used there, so the side stream cannot free it early.
    """
    if device.type != "cuda":
        for batch in batches:
            yield batch.to(device)
        return
    compute = torch.cuda.current_stream(device)
    copier = torch.cuda.Stream(device)
    staging: list[torch.Tensor | None] = [None, None]
    copied: list[torch.cuda.Event | None] = [None, None]
    for index, batch in enumerate(batches):
        slot = index % 2
        if copied[slot] is not None:
            copied[slot].synchronize()  # the copy that last read this slot (two batches ago) is done
        buffer = staging[slot]
        if not _holds(buffer, batch):
            buffer = staging[slot] = torch.empty(batch.shape, dtype=batch.dtype, pin_memory=True)
        host = buffer[: len(batch)]
        host.copy_(batch)
        with torch.cuda.stream(copier):
            moved = host.to(device, non_blocking=True)
            copied[slot] = torch.cuda.Event()
            copied[slot].record(copier)
        compute.wait_stream(copier)
        moved.record_stream(compute)  # freed only once the compute stream is done with it
        yield moved


def _holds(buffer: torch.Tensor | None, batch: torch.Tensor) -> bool:
    return (
        buffer is not None
        and buffer.dtype == batch.dtype
        and buffer.shape[1:] == batch.shape[1:]
        and len(buffer) >= len(batch)
    )


def gathered(features: list[torch.Tensor], dim: int) -> np.ndarray:
    """float64 (N, dim) on the host from per-batch features on any device: one read-back, at the end.

    float32 -> float64 is exact, so casting after the transfer changes no value.
    """
    if not features:
        return np.zeros((0, dim))
    return torch.cat(features).cpu().numpy().astype(np.float64)
