"""First-stage autoencoder kinds (KL and VQ), behind one registry with explicit signatures.

Each kind says how to build the diffusers model, its training forward pass (reconstruction and
regulariser; training/first_stage.py adds the perceptual and adversarial terms), how to encode images to
the latent distribution the UNet learns, and how to decode latents back to pixels.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, VQModel
from diffusers.models.modeling_utils import ModelMixin

from diffbench.data.tensors import to_model_range, to_uint8
from diffbench.specs import AutoencoderSpec


def norm_groups(channels: int) -> int:
    """Largest GroupNorm group count (<= 32) dividing `channels`."""
    return next(g for g in (32, 16, 8, 4, 2, 1) if channels % g == 0)


def level_channels(spec: AutoencoderSpec) -> list[int]:
    levels = int(math.log2(spec.downsampling_factor)) + 1
    return [min(spec.base_channels * 2**i, spec.max_channels) for i in range(levels)]


def _common_kwargs(spec: AutoencoderSpec, image_channels: int, resolution: int) -> dict:
    channels = level_channels(spec)
    return dict(
        in_channels=image_channels,
        out_channels=image_channels,
        down_block_types=["DownEncoderBlock2D"] * len(channels),
        up_block_types=["UpDecoderBlock2D"] * len(channels),
        block_out_channels=channels,
        layers_per_block=spec.layers_per_block,
        latent_channels=spec.latent_channels,
        norm_num_groups=min(norm_groups(c) for c in channels),
        sample_size=resolution,
    )


def _build_kl(spec: AutoencoderSpec, image_channels: int, resolution: int) -> AutoencoderKL:
    return AutoencoderKL(**_common_kwargs(spec, image_channels, resolution))


def _build_vq(spec: AutoencoderSpec, image_channels: int, resolution: int) -> VQModel:
    return VQModel(
        **_common_kwargs(spec, image_channels, resolution),
        num_vq_embeddings=spec.num_vq_embeddings,
        vq_embed_dim=spec.latent_channels,
    )


def _kl_forward(
    model: AutoencoderKL, x: torch.Tensor, spec: AutoencoderSpec
) -> tuple[torch.Tensor, torch.Tensor, dict]:
    # A posterior sample is decoded; the regulariser is the LDM paper's KL-reg (weight ~1e-6).
    posterior = model.encode(x).latent_dist
    kl = posterior.kl().mean()
    latents = posterior.sample()
    regulariser, parts = spec.kl_weight * kl, {"kl": kl.detach()}
    if spec.scale_equivariance_weight:
        # Scale equivariance: decode the halved latent to the halved image (2x2 means, which are
        # bilinear downsampling by exactly 2), reduced as the KL kind reduces its reconstruction.
        halved = model.decode(F.avg_pool2d(latents, 2)).sample
        term = (F.avg_pool2d(x, 2) - halved).abs().sum((1, 2, 3)).mean()
        regulariser = regulariser + spec.scale_equivariance_weight * term
        parts["scale_equivariance"] = term.detach()
    return model.decode(latents).sample, regulariser, parts


def _vq_forward(model: VQModel, x: torch.Tensor, spec: AutoencoderSpec) -> tuple[torch.Tensor, torch.Tensor, dict]:
    # As taming-transformers' VQGAN: the quantiser's codebook + commitment loss, weight 1.
    output = model(x)
    commit = output.commit_loss.mean()
    return output.sample, commit, {"codebook": commit.detach()}


def _kl_encode(model: AutoencoderKL, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    dist = model.encode(x).latent_dist
    return dist.mean, dist.std


def _vq_encode(model: VQModel, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    # The UNet learns pre-quantisation latents; decode() quantises them (as in LDM's VQ-reg models).
    latents = model.encode(x).latents
    return latents, torch.zeros_like(latents)


@dataclass(frozen=True)
class AutoencoderKind:
    name: str
    model_class: type[ModelMixin]
    component: str  # sub-folder name in a saved pipeline (CompVis LDM checkpoints use "vqvae")
    build: Callable[[AutoencoderSpec, int, int], ModelMixin]
    # (model, x, spec) -> (reconstruction, weighted regulariser loss, {term: detached value})
    forward: Callable[[ModelMixin, torch.Tensor, AutoencoderSpec], tuple[torch.Tensor, torch.Tensor, dict]]
    # How the per-pixel reconstruction loss becomes a number: LDM's KL models sum it over each
    # image and average over the batch; taming's VQ models average over every pixel.
    pixel_reduction: str
    encode: Callable[[ModelMixin, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]  # (mean, std) of z


AUTOENCODERS: dict[str, AutoencoderKind] = {
    "kl": AutoencoderKind("kl", AutoencoderKL, "vae", _build_kl, _kl_forward, "sum", _kl_encode),
    "vq": AutoencoderKind("vq", VQModel, "vqvae", _build_vq, _vq_forward, "mean", _vq_encode),
}


def kind_of(model: ModelMixin) -> AutoencoderKind:
    for kind in AUTOENCODERS.values():
        if isinstance(model, kind.model_class):
            return kind
    raise TypeError(f"not a supported first-stage autoencoder: {type(model).__name__}")


def last_layer(model: ModelMixin) -> torch.nn.Parameter:
    """The decoder's output convolution weight, where taming's adaptive weight compares gradients."""
    return model.decoder.conv_out.weight


def decode(model: ModelMixin, latents: torch.Tensor) -> torch.Tensor:
    """Unscaled latents -> images in [-1, 1] (VQ models quantise first)."""
    return model.decode(latents).sample


@torch.no_grad()
def reconstruct(autoencoder, images: np.ndarray, device: torch.device, batch_size: int = 64) -> np.ndarray:
    """uint8 images -> uint8 reconstructions through the posterior mean (KL) or quantised code (VQ)."""
    kind = kind_of(autoencoder)
    out = []
    for start in range(0, len(images), batch_size):
        x = to_model_range(images[start : start + batch_size]).to(device, autoencoder.dtype)
        mean, _ = kind.encode(autoencoder, x)
        out.append(to_uint8(decode(autoencoder, mean)))
    return np.concatenate(out)
