"""Seeded sampling: image k comes from its own generators, so it does not depend on batching.

As in NVlabs/edm, every image owns generators seeded with its seed; batches only group images
for speed. Its initial noise comes from a CPU torch.Generator (the same start on every device).
The noise of stochastic steps comes from a generator on the sampling device by default
(`step_noise: device`; Philox on CUDA), since drawing it on the host costs a copy and a
synchronisation at every step; `step_noise: cpu` keeps the CPU generator (diffusers' numbers).
"""

from __future__ import annotations

import inspect

import numpy as np
import torch
from diffusers.schedulers.scheduling_utils import SchedulerMixin
from diffusers.utils.torch_utils import randn_tensor
from tqdm.auto import tqdm

from diffbench.data.tensors import to_uint8
from diffbench.models.autoencoders import decode
from diffbench.models.diffusion_model import DiffusionModel
from diffbench.runtime import Stopwatch
from diffbench.sampling.host_schedule import step_timesteps
from diffbench.sampling.resume import BatchStore
from diffbench.sampling.schedulers import Sampler


def _accepts_generator(scheduler: SchedulerMixin) -> bool:
    return "generator" in inspect.signature(scheduler.step).parameters


def denoise(
    model: DiffusionModel,
    sampler: Sampler,
    steps: int,
    seeds: list[int],
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[torch.Tensor, int]:
    """One batch: returns (final latents or pixels in float32, number of UNet evaluations)."""
    scheduler = sampler.fresh()  # fresh state per batch (multistep solvers)
    scheduler.set_timesteps(steps, device=device)
    seeds = [int(s) for s in seeds]
    generators = [torch.Generator("cpu").manual_seed(s) for s in seeds]
    cfg = model.unet.config
    shape = (len(seeds), cfg.in_channels, cfg.sample_size, cfg.sample_size)
    x = randn_tensor(shape, generator=generators, device=device, dtype=torch.float32)
    x = x * scheduler.init_noise_sigma
    kwargs = dict(sampler.step_options)
    if _accepts_generator(scheduler):
        # On a CPU the image's one generator goes on drawing (the same images for both settings).
        on_host = sampler.noise_on(device) == "cpu"
        kwargs["generator"] = generators if on_host else [torch.Generator(device).manual_seed(s) for s in seeds]
    nfe = 0
    # the UNet takes the device timestep; step() the host one where the scheduler keeps it (no read-back)
    for t, t_step in zip(scheduler.timesteps, step_timesteps(scheduler), strict=True):
        model_input = scheduler.scale_model_input(x, t)
        prediction = model.unet(model_input.to(dtype), t).sample.float()
        nfe += 1
        x = scheduler.step(prediction, t_step, x, **kwargs).prev_sample
    return x, nfe


def to_images(model: DiffusionModel, x: torch.Tensor) -> torch.Tensor:
    """Denoised latents or pixels -> pixels in [-1, 1] (float32)."""
    if model.autoencoder is None:
        return x
    return decode(model.autoencoder, (x / model.scaling_factor).to(model.decoder_dtype)).float()


@torch.no_grad()
def generate(
    model: DiffusionModel,
    sampler: Sampler,
    steps: int,
    seeds: list[int],
    batch_size: int,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    progress: bool = False,
    store: BatchStore | None = None,
) -> tuple[np.ndarray, dict]:
    """uint8 images (N, H, W, C) for `seeds`, and timing/NFE statistics.

    With a `store`, each finished batch is kept there and batches already in it are reused (their
    recorded timings count, so the costs are those of computing every image once).
    """
    chunks, finite, reused = [], [], 0
    totals = {"nfe_per_image": None, "denoise_s": 0.0, "decode_s": 0.0}
    bar = tqdm(total=len(seeds), desc="sampling", unit="img", disable=not progress, mininterval=2)
    for start in range(0, len(seeds), batch_size):
        batch = seeds[start : start + batch_size]
        done = store.load(batch) if store is not None else None
        if done is None:
            images, batch_stats = _sample_batch(model, sampler, steps, batch, device, dtype)
            if store is not None:
                store.save(batch, images, batch_stats)
        else:
            (images, batch_stats), reused = done, reused + len(batch)
        assert totals["nfe_per_image"] in (None, batch_stats["nfe_per_image"]), "every batch runs the same schedule"
        for key in ("denoise_s", "decode_s"):
            totals[key] += batch_stats[key]
        totals["nfe_per_image"] = batch_stats["nfe_per_image"]
        chunks.append(images)
        finite += batch_stats["finite"]
        bar.update(len(batch))
        bar.set_postfix(img_per_s=f"{(start + len(batch)) / max(totals['denoise_s'] + totals['decode_s'], 1e-9):.2f}")
    bar.close()
    # `finite` marks images without NaN/inf (those are stored as zeros): evaluation leaves them out.
    finite = np.asarray(finite, dtype=bool)
    stats = {
        "num_images": len(seeds),
        **totals,
        "nonfinite_images": int((~finite).sum()),
        "resumed_images": reused,
        "finite": finite,
    }
    return np.concatenate(chunks) if chunks else np.zeros((0,)), stats


def _sample_batch(
    model: DiffusionModel,
    sampler: Sampler,
    steps: int,
    seeds: list[int],
    device: torch.device,
    dtype: torch.dtype,
) -> tuple[np.ndarray, dict]:
    clock = Stopwatch(device)
    with clock.phase("denoise"):
        x, nfe = denoise(model, sampler, steps, seeds, device, dtype)
    if model.autoencoder is None:
        pixels = x  # nothing to decode, and no decode time to record
    else:
        with clock.phase("decode"):
            pixels = to_images(model, x)
    finite = torch.isfinite(pixels).flatten(1).all(dim=1)
    stats = {
        "nfe_per_image": nfe,
        "denoise_s": clock.seconds.get("denoise", 0.0),
        "decode_s": clock.seconds.get("decode", 0.0),
        "finite": finite.tolist(),
    }
    return to_uint8(torch.nan_to_num(pixels)), stats


def flops_per_image(model: DiffusionModel, device: torch.device, dtype: torch.dtype) -> dict:
    """FLOPs of one UNet evaluation and of one decode, for a single image (torch's FLOP counter)."""
    from torch.utils.flop_counter import FlopCounterMode

    cfg = model.unet.config
    x = torch.zeros(1, cfg.in_channels, cfg.sample_size, cfg.sample_size, device=device, dtype=dtype)
    t = torch.tensor([1], device=device)
    with torch.no_grad():
        with FlopCounterMode(display=False) as unet_counter:
            model.unet(x, t)
        decoder_flops = 0
        if model.autoencoder is not None:
            with FlopCounterMode(display=False) as decoder_counter:
                decode(model.autoencoder, x.to(model.decoder_dtype))
            decoder_flops = decoder_counter.get_total_flops()
    return {"unet_gflops_per_nfe": unet_counter.get_total_flops() / 1e9, "decoder_gflops": decoder_flops / 1e9}


def warm_up(
    model: DiffusionModel,
    sampler: Sampler,
    steps: int,
    batch_sizes: set[int],
    device: torch.device,
    dtype: torch.dtype,
    unet_calls: int = 1,
) -> float:
    """A UNet and decoder pass per batch size that sampling will use, with the timestep the sampler
    passes (an element of its timesteps: 0-d, its dtype), outside the sampling times, so kernel
    selection, allocation and compilation (sampling.speedups.compile compiles again for a new
    input shape or timestep type) are not counted per image; `unet_calls` UNet calls each
    (speedups.warm_up_calls: two record CUDA graphs). Returns its seconds, recorded apart."""
    probe = sampler.fresh()
    probe.set_timesteps(steps, device=device)
    t = probe.timesteps[0]
    cfg = model.unet.config
    watch = Stopwatch(device)
    with torch.no_grad(), watch.phase("warm_up"):
        for size in sorted(batch_sizes):
            x = torch.zeros(size, cfg.in_channels, cfg.sample_size, cfg.sample_size, device=device)
            for _ in range(unet_calls):
                model.unet(x.to(dtype), t)
            to_images(model, x)
    return watch.seconds["warm_up"]


def batch_sizes_of(num_images: int, batch_size: int) -> set[int]:
    """The sizes of the batches `generate` draws `num_images` in: the full one and the remainder."""
    return {min(batch_size, num_images - start) for start in range(0, num_images, batch_size)}
