"""The saved form of a model: a diffusers pipeline (DDPMPipeline for pixel models,
LatentDiffusionPipeline for latent ones) whose __call__ samples as the benchmark does."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import DDPMPipeline, DiffusionPipeline, UNet2DModel
from diffusers.models.modeling_utils import ModelMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from diffbench.io import atomic_dir
from diffbench.models.pipelines import AUTOENCODER_COMPONENTS, DiffusionModel
from diffbench.sampling.sampler import generate


class LatentDiffusionPipeline(DiffusionPipeline):
    """Unconditional latent diffusion: a UNet2DModel denoising z = scaling_factor * E(x).

    The autoencoder is `vae` (AutoencoderKL) or `vqvae` (VQModel); the other is None.
    """

    _optional_components = ["vae", "vqvae"]

    def __init__(self, unet: UNet2DModel, scheduler: SchedulerMixin, vae=None, vqvae=None):
        super().__init__()
        self.register_modules(unet=unet, scheduler=scheduler, vae=vae, vqvae=vqvae)

    @torch.no_grad()
    def __call__(self, seeds: list[int], num_inference_steps: int = 50, batch_size: int = 16):
        """uint8 images (N, H, W, C), image k drawn from its own generator seeded seeds[k]."""
        model = DiffusionModel(self.unet, self.scheduler, self.vae or self.vqvae)
        images, _ = generate(model, self.scheduler, {}, num_inference_steps, seeds, batch_size, self.device)
        return images


def autoencoder_component(autoencoder: ModelMixin) -> str:
    return next(name for name, cls in AUTOENCODER_COMPONENTS.items() if isinstance(autoencoder, cls))


def save_model(model: DiffusionModel, out_dir: str | Path) -> None:
    if model.autoencoder is None:
        pipeline = DDPMPipeline(unet=model.unet, scheduler=model.scheduler)
    else:
        component = autoencoder_component(model.autoencoder)
        pipeline = LatentDiffusionPipeline(model.unet, model.scheduler, **{component: model.autoencoder})
    with atomic_dir(out_dir) as tmp:
        pipeline.save_pretrained(tmp, safe_serialization=True)
