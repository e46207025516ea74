"""Latents of a frozen autoencoder: their spread (for the scaling factor) and the posterior of
every training image (computed once before denoiser training)."""

from __future__ import annotations

import torch
from torch.utils.flop_counter import FlopCounterMode

from diffbench.data.tensors import to_model_range


@torch.no_grad()
def latent_std(autoencoder, kind, images: torch.Tensor, generator: torch.Generator, batch_size: int = 256) -> float:
    """Standard deviation of latents z ~ q(z|x) over `images` (float64 accumulation, on the device:
    one read-back at the end, not two per batch)."""
    sums, count = 0, 0  # becomes a float64 tensor (sum, sum of squares) on the device
    for start in range(0, len(images), batch_size):
        mean, std = kind.encode(autoencoder, images[start : start + batch_size])
        z = (mean + std * torch.randn(mean.shape, generator=generator).to(mean.device)).double()
        sums, count = sums + torch.stack([z.sum(), (z * z).sum()]), count + z.numel()
    total, total_sq = sums.tolist()
    variance = total_sq / count - (total / count) ** 2
    return max(variance, 1e-12) ** 0.5


@torch.no_grad()
def encode_dataset(autoencoder, kind, data: torch.Tensor, batch_size: int = 256):
    """(mean, std) of q(z|x) for every training image, computed once: the autoencoder is frozen."""
    means, stds = [], []
    for start in range(0, len(data), batch_size):
        mean, std = kind.encode(autoencoder, to_model_range(data[start : start + batch_size]))
        means.append(mean)
        stds.append(std)
    return torch.cat(means), torch.cat(stds)


@torch.no_grad()
def encode_gflops_per_image(autoencoder, kind, images: torch.Tensor, batch_size: int = 16) -> float:
    """GFLOPs of encoding one image (uint8 NHWC), counted on a small batch by torch's FLOP counter
    outside any timed region; encoding costs the same for every image."""
    batch = to_model_range(images[:batch_size])
    with FlopCounterMode(display=False) as counter:
        kind.encode(autoencoder, batch)
    return counter.get_total_flops() / 1e9 / len(batch)
