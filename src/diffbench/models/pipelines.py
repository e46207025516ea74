"""The model sampling uses (denoiser, schedule, optional autoencoder) and loading it from the
diffusers layout; saving, with the pipeline class, is in diffbench.sampling.pipeline.

A saved model is a `save_pretrained` folder: model_index.json, unet/, scheduler/ and, for latent
models, the autoencoder (vae/ for AutoencoderKL, vqvae/ for VQModel, as CompVis' LDM checkpoints).
Pixel models are saved as a plain diffusers DDPMPipeline. Latent models use LatentDiffusionPipeline
(diffbench.sampling.pipeline) rather than diffusers' deprecated LDMPipeline, which ignores the latent scaling factor.
Each component loads with `<Class>.from_pretrained(folder, subfolder=...)` anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import diffusers
import torch
from diffusers import AutoencoderKL, DiffusionPipeline, UNet2DModel, VQModel
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


def load_model(path_or_id: str | Path, revision: str | None = None) -> DiffusionModel:
    """Load from a local folder or a hub id (downloaded into HF_HOME, or read offline from it).

    Raises OSError/ValueError with diffusers' message when the folder, id or a component is missing.
    """
    source = str(path_or_id)
    index = DiffusionPipeline.load_config(source, revision=revision)
    components = {
        name: value[1]
        for name, value in index.items()
        if not name.startswith("_") and isinstance(value, (list, tuple)) and value[0] is not None
    }
    if components.get("unet") != "UNet2DModel":
        raise ValueError(
            f"{source} is not an unconditional UNet2DModel pipeline (components: {components}); "
            "diffbench loads DDPM-style (unet + scheduler) and LDM-style (vae or vqvae + unet + scheduler) models."
        )
    if "scheduler" not in components or not hasattr(diffusers, components["scheduler"]):
        raise ValueError(f"{source} has no diffusers scheduler component (components: {components}).")
    unet = UNet2DModel.from_pretrained(source, subfolder="unet", revision=revision)
    scheduler_class = getattr(diffusers, components["scheduler"])
    scheduler = scheduler_class.from_config(
        scheduler_class.load_config(source, subfolder="scheduler", revision=revision)
    )
    autoencoder = None
    for name, cls in AUTOENCODER_COMPONENTS.items():
        if name in components:
            if components[name] not in ("AutoencoderKL", "VQModel"):
                raise ValueError(f"{source}: component {name} is a {components[name]}, not AutoencoderKL or VQModel.")
            cls = getattr(diffusers, components[name])
            autoencoder = cls.from_pretrained(source, subfolder=name, revision=revision)
    return DiffusionModel(unet=unet, scheduler=scheduler, autoencoder=autoencoder)
