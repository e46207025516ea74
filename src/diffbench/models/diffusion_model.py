"""The model sampling uses (denoiser, schedule, optional autoencoder) and the strings that describe
it in records. Loading and saving it as a diffusers pipeline: diffbench.sampling.pipeline_io.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from diffusers import AutoencoderKL, UNet2DModel, VQModel
from diffusers.models.modeling_utils import ModelMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin

AUTOENCODER_COMPONENTS = {"vae": AutoencoderKL, "vqvae": VQModel}


@dataclass
class DiffusionModel:
    """The parts sampling needs: denoiser, its noise schedule and, for latent models, the autoencoder."""

    unet: UNet2DModel
    scheduler: SchedulerMixin
    autoencoder: ModelMixin | None = None

    @property
    def family(self) -> str:
        return "pixel" if self.autoencoder is None else "latent"

    @property
    def scaling_factor(self) -> float:
        return float(self.autoencoder.config.scaling_factor)

    def modules(self) -> list[ModelMixin]:
        return [m for m in (self.unet, self.autoencoder) if m is not None]

    def to(self, device: torch.device, dtype: torch.dtype = torch.float32) -> DiffusionModel:
        """Move to `device`; the UNet (where the NFEs are spent) takes `dtype`.

        The autoencoder stays in fp32 when its config asks for it (AutoencoderKL's
        `force_upcast`, honoured by diffusers' own pipelines) and always for VQModel, whose
        nearest-codebook search should not run in reduced precision.
        """
        self.unet.to(device=device, dtype=dtype).eval()
        if self.autoencoder is not None:
            upcast = isinstance(self.autoencoder, VQModel) or getattr(self.autoencoder.config, "force_upcast", False)
            self.autoencoder.to(device=device, dtype=torch.float32 if upcast else dtype).eval()
        return self

    @property
    def decoder_dtype(self) -> torch.dtype | None:
        return None if self.autoencoder is None else self.autoencoder.dtype


def noise_schedule(scheduler: SchedulerMixin) -> str:
    """The forward process a denoiser was trained on, as one string that compares equal exactly
    when two models share it (the report flags comparisons where it differs)."""
    c = scheduler.config
    betas = f"{c.beta_start:g}->{c.beta_end:g}" if getattr(c, "trained_betas", None) is None else "custom betas"
    return f"{c.beta_schedule} {betas}, T={c.num_train_timesteps}, {c.prediction_type}"


def denoiser_architecture(unet: UNet2DModel) -> str:
    """The UNet's architecture without its input shape (which differs between pixels and latents)."""
    c = unet.config
    blocks = "/".join(name.removesuffix("2D") for name in c.down_block_types)
    return f"UNet2DModel {list(c.block_out_channels)}, {c.layers_per_block} layers/block, {blocks}"
