"""A model on disk: loading and saving it as a diffusers pipeline.

A saved model is a `save_pretrained` folder: model_index.json, unet/, scheduler/ and, for latent
models, the autoencoder (vae/ for AutoencoderKL, vqvae/ for VQModel, as CompVis' LDM checkpoints).
Pixel models are saved as a plain diffusers DDPMPipeline. Latent models use LatentDiffusionPipeline
rather than diffusers' deprecated LDMPipeline, which ignores the latent scaling factor; both
pipelines' __call__ sample as the benchmark does. Each component loads with
`<Class>.from_pretrained(folder, subfolder=...)` anywhere, and `load_model` reads any folder or hub
id of that layout (an LDM-style checkpoint too).
"""

from __future__ import annotations

from pathlib import Path

import diffusers
import torch
from diffusers import DDPMPipeline, DiffusionPipeline, UNet2DModel
from diffusers.models.modeling_utils import ModelMixin
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from diffbench.io import atomic_dir
from diffbench.models.diffusion_model import AUTOENCODER_COMPONENTS, DiffusionModel
from diffbench.sampling.sampler import generate
from diffbench.sampling.schedulers import Sampler


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
        images, _ = generate(model, Sampler(self.scheduler), num_inference_steps, seeds, batch_size, self.device)
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
