"""LPIPS (Zhang et al. 2018) with the reference `lpips` package, used three ways: autoencoder
reconstruction, sample diversity (mean pairwise distance within a set) and sampler convergence
(distance between images of the same seed at n steps and at the reference step count).

Inputs: uint8 (N, H, W, C) images are converted once here to float in [-1, 1], the range
`lpips.LPIPS` expects with its default normalize=False. AlexNet's feature stack needs at least
~32 px, so images with a side below `min_side` are upsampled (bilinear) first; the side used is
returned with every result.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torchvision import models

from diffbench.errors import MissingWeights

# The torchvision ImageNet backbones lpips builds on (its linear heads ship inside the package).
BACKBONES = {
    "alex": models.AlexNet_Weights.IMAGENET1K_V1,
    "vgg": models.VGG16_Weights.IMAGENET1K_V1,
    "squeeze": models.SqueezeNet1_1_Weights.IMAGENET1K_V1,
}


def backbone_path(net: str) -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(BACKBONES[net].url)


def require_backbone(net: str, config_key: str = "evaluation.lpips_net") -> Path:
    path = backbone_path(net)
    if not path.is_file():
        raise MissingWeights(
            f"LPIPS backbone weights ({net}, '{config_key}') not found at {path}; run `diffbench fetch-assets` "
            f"on a machine with internet (downloads {BACKBONES[net].url} into the torch hub cache, TORCH_HOME)."
        )
    return path


def fetch_backbone(net: str) -> Path:
    path = backbone_path(net)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(BACKBONES[net].url, str(path), progress=True)
    return path


def load_lpips(net: str, device: torch.device, config_key: str = "evaluation.lpips_net"):
    """The frozen LPIPS network (gradients still flow to its inputs)."""
    import lpips  # imported here: it prints nothing with verbose=False, but loads torchvision models

    require_backbone(net, config_key)
    model = lpips.LPIPS(net=net, verbose=False).to(device).eval()
    return model.requires_grad_(False)


def lpips_range_input(x: torch.Tensor, min_side: int) -> torch.Tensor:
    """Float NCHW in [-1, 1] -> RGB, upsampled (bilinear) to at least `min_side`; differentiable, so
    the autoencoder's perceptual loss uses it too."""
    if x.shape[1] == 1:
        x = x.repeat(1, 3, 1, 1)
    if x.shape[-1] < min_side:
        x = F.interpolate(x, size=(min_side, min_side), mode="bilinear", align_corners=False)
    return x


def to_lpips_input(images: np.ndarray, min_side: int = 64) -> torch.Tensor:
    """uint8 NHWC -> float NCHW in [-1, 1], RGB, upsampled to at least `min_side`."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float().div(127.5).sub(1)
    return lpips_range_input(x, min_side)


@torch.no_grad()
def paired_distances(
    a: np.ndarray, b: np.ndarray, model, device: torch.device, batch_size: int = 64, min_side: int = 64
) -> np.ndarray:
    """LPIPS between a[i] and b[i] for every i."""
    if a.shape != b.shape:
        raise ValueError(f"paired LPIPS needs equal shapes, got {a.shape} and {b.shape}")
    out = []
    for start in range(0, len(a), batch_size):
        x = to_lpips_input(a[start : start + batch_size], min_side).to(device)
        y = to_lpips_input(b[start : start + batch_size], min_side).to(device)
        out.append(model(x, y).flatten().double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0)


def _summary(prefix: str, values: np.ndarray, min_side: int) -> dict:
    return {
        f"{prefix}_mean": float(values.mean()),
        f"{prefix}_std": float(values.std(ddof=1)) if len(values) > 1 else 0.0,
        f"{prefix}_pairs": int(len(values)),
        "lpips_side": min_side,
    }


def diversity(
    images: np.ndarray, model, device: torch.device, max_pairs: int = 1000, seed: int = 0, min_side: int = 64
) -> dict:
    """Mean LPIPS over random pairs of distinct images of one set (low values: mode collapse)."""
    n = len(images)
    if n < 2:
        raise ValueError("diversity needs at least 2 images")
    rng = np.random.default_rng(seed)
    first = rng.integers(0, n, max_pairs)
    second = (first + rng.integers(1, n, max_pairs)) % n  # never the same image
    values = paired_distances(images[first], images[second], model, device, min_side=min_side)
    return _summary("lpips_diversity", values, min_side)


def convergence(images: np.ndarray, reference: np.ndarray, model, device: torch.device, min_side: int = 64) -> dict:
    """Mean LPIPS between same-seed images of two sample sets (e.g. n steps vs the most steps)."""
    return _summary(
        "lpips_convergence", paired_distances(images, reference, model, device, min_side=min_side), min_side
    )
