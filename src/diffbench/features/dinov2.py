"""DINOv2 ViT-L/14 features (1024-d), the extractor dgm-eval recommends for Fréchet distances
(Stein et al. 2023), through torch-fidelity's FeatureExtractorDinoV2.

torch-fidelity loads it with torch.hub: the model code (hub repo facebookresearch/dinov2) and
its weights both live in the torch hub cache (TORCH_HOME), filled once by fetch-assets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from diffbench.errors import MissingWeights
from diffbench.features.inception import network_inputs
from diffbench.features.transfer import gathered

NAME = "dinov2-vit-l-14"
HUB_REPO, HUB_ENTRY = "facebookresearch/dinov2", "dinov2_vitl14"
WEIGHTS_URL = "https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth"
FEATURE_DIM = 1024
INPUT_SIDE = 224
RESIZE_MODES = ("tf-bilinear", "clean")
_IMAGENET_MEAN = tuple(255 * m for m in (0.485, 0.456, 0.406))
_IMAGENET_STD = tuple(255 * s for s in (0.229, 0.224, 0.225))


def cache_paths() -> tuple[Path, Path]:
    hub = Path(torch.hub.get_dir())
    return hub / "facebookresearch_dinov2_main", hub / "checkpoints" / Path(WEIGHTS_URL).name


def resolve_weights(configured: str | None) -> Path:
    if configured:
        raise MissingWeights(
            "'evaluation.inception_weights' does not apply to dinov2-vit-l-14, which loads through the torch hub "
            "cache; remove it."
        )
    code, weights = cache_paths()
    if not (code / "hubconf.py").is_file() or not weights.is_file():
        raise MissingWeights(
            f"DINOv2 ({NAME}) is not in the torch hub cache: expected the code at {code} and the weights at "
            f"{weights}; run `diffbench fetch-assets` (the fetch_assets rule) on a machine with internet."
        )
    return weights


def fetch_weights(path: Path | None = None) -> Path:
    """torch.hub.load fetches the code and the weights into the cache when they are absent."""
    torch.hub.load(HUB_REPO, HUB_ENTRY)
    return resolve_weights(None)


def load_dinov2(weights: Path, device: torch.device):
    from torch_fidelity.feature_extractor_dinov2 import FeatureExtractorDinoV2

    return FeatureExtractorDinoV2(NAME, ["dinov2"]).to(device).eval()


@torch.no_grad()
def dinov2_features(
    images: np.ndarray, model, device: torch.device, batch_size: int = 64, resize: str = "tf-bilinear"
) -> np.ndarray:
    """uint8 (N, H, W, C) -> float64 (N, 1024); "tf-bilinear" is torch-fidelity's own resize to 224."""
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r} (known: {RESIZE_MODES})")
    out = []
    mean = torch.tensor(_IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(_IMAGENET_STD, device=device).view(1, 3, 1, 1)
    for x in network_inputs(images, batch_size, resize, INPUT_SIDE, device):
        # clean: torch-fidelity's forward after its resize (ImageNet normalisation, then the ViT).
        out.append(model.model((x - mean) / std) if resize == "clean" else model(x)[0])
    return gathered(out, FEATURE_DIM)
