"""Sampling throughput over batch sizes, as the LDM paper measures it: samples/s at the best batch.

A sample set is drawn at the configured batch size, which need not be the fastest on the machine.
The sweep times one UNet evaluation and one decode of a whole batch at batch sizes 1, 2, 4, ... up
to a limit or to the first that does not fit in GPU memory; from those, the images/s of sampling
at any number of steps follows (every step costs one UNet evaluation, the decode comes once).
"""

from __future__ import annotations

import time

import torch

from diffbench.models.diffusion_model import DiffusionModel
from diffbench.runtime import synchronize
from diffbench.sampling.batch_timing import BatchTiming, batch_sizes
from diffbench.sampling.sampler import to_images


def _best_time(fn, device: torch.device, repeats: int) -> float:
    fn()  # warm-up: kernel selection, allocation and compilation are not timed
    # (with cuda_graphs the first timed call records the graph; the best of >= 2 is a replay)
    best = float("inf")
    for _ in range(repeats):
        synchronize(device)
        start = time.perf_counter()
        fn()
        synchronize(device)
        best = min(best, time.perf_counter() - start)
    return best


@torch.no_grad()
def time_batch(
    model: DiffusionModel, batch: int, device: torch.device, dtype: torch.dtype, repeats: int
) -> BatchTiming:
    cfg = model.unet.config
    x = torch.randn(batch, cfg.in_channels, cfg.sample_size, cfg.sample_size, device=device)
    t = torch.full((batch,), 1, device=device)  # the cost does not depend on the timestep
    unet_s = _best_time(lambda: model.unet(x.to(dtype), t), device, repeats)
    decode_s = 0.0 if model.autoencoder is None else _best_time(lambda: to_images(model, x), device, repeats)
    return BatchTiming(batch, unet_s, decode_s)


def sweep(
    model: DiffusionModel, device: torch.device, dtype: torch.dtype, max_batch: int, repeats: int = 2
) -> tuple[list[BatchTiming], str]:
    """Timings at each batch size up to `max_batch`, and why the sweep stopped: at `max_batch`, or
    at the first batch that does not fit in GPU memory (that batch is named, not timed)."""
    timings = []
    for batch in batch_sizes(max_batch):
        try:
            timings.append(time_batch(model, batch, device, dtype, repeats))
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            return timings, f"out of memory at batch {batch}"
    return timings, f"max_batch {max_batch}"
