"""The denoiser's training loss and what it learns from: pixels, or a frozen first stage's latents.

One object per concept, as NVlabs/edm keeps each loss in one class: `DenoiserData` says what a clean
batch is (and the range the sampler clamps x0 to), `DiffusionLoss` is the loop's loss function;
which noise levels it trains on is noise_levels.py's.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from diffusers import DDPMScheduler, UNet2DModel

from diffbench.data.tensors import to_model_range
from diffbench.training.noise_levels import TimestepSampler


@dataclass(frozen=True)
class DenoiserData:
    """The training images (uint8 NHWC on the device) and, for a latent model, their posteriors
    q(z|x) = N(mean, std^2) from the frozen autoencoder (computed once) and its scaling factor."""

    images: torch.Tensor
    latent_mean: torch.Tensor | None = None
    latent_std: torch.Tensor | None = None
    scale: float = 1.0

    @property
    def x0_range(self) -> float:
        """The largest |x0| the denoiser learns: 1 for pixels in [-1, 1]; for latents, that of the
        scaled posterior means (what samplers clamp x0 to under diffusion.x0_clamp: data_range)."""
        if self.latent_mean is None:
            return 1.0
        return float(self.latent_mean.abs().max()) * self.scale

    def __len__(self) -> int:
        return len(self.images)

    def clean_batch(self, indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        indices = indices.to(self.images.device)
        if self.latent_mean is None:
            return to_model_range(self.images[indices])
        # A fresh z ~ q(z|x) every step, as LDM trains on posterior samples.
        eps = torch.randn(self.latent_mean[indices].shape, generator=generator, device=generator.device)
        return (self.latent_mean[indices] + self.latent_std[indices] * eps) * self.scale


class DiffusionLoss:
    """MSE between the UNet's output and its target (epsilon, v or x0) at a timestep drawn by
    `timesteps`, for the training loop: called as loss(indices, generator, step)."""

    def __init__(
        self,
        unet: UNet2DModel,
        scheduler: DDPMScheduler,
        data: DenoiserData,
        prediction_type: str,
        timesteps: TimestepSampler,
    ):
        self.unet, self.scheduler, self.data, self.prediction_type = unet, scheduler, data, prediction_type
        self.timesteps = timesteps

    def __call__(self, indices: torch.Tensor, generator: torch.Generator, step: int) -> tuple[torch.Tensor, dict]:
        x0 = self.data.clean_batch(indices, generator)
        noise = torch.randn(x0.shape, generator=generator, device=generator.device)
        t = self.timesteps(len(x0), generator)
        noisy = self.scheduler.add_noise(x0, noise, t)
        return F.mse_loss(self.unet(noisy, t).sample.float(), self.target(x0, noise, t).float()), {}

    def target(self, x0: torch.Tensor, noise: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if self.prediction_type == "epsilon":
            return noise
        if self.prediction_type == "v_prediction":
            return self.scheduler.get_velocity(x0, noise, t)
        return x0
