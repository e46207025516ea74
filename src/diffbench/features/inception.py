"""Inception-v3 pool3 features with the TF-ported FID weights, through torch-fidelity.

This is the network and the resize (TF1-compatible bilinear to 299x299 from uint8 images) that
pytorch-fid, torch-fidelity and torchmetrics use, so FIDs are comparable with the DDPM/LDM papers.
Weights come from a configured file or from the torch hub cache ($TORCH_HOME/hub/checkpoints);
they are never swapped for other weights.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, FeatureExtractorInceptionV3

FEATURE_DIM = 2048
WEIGHTS_URL = URL_INCEPTION_V3


class MissingWeights(FileNotFoundError):
    """Weights are not on disk; the message names the file, the config key and how to fetch them."""


def default_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(WEIGHTS_URL)


def resolve_weights(configured: str | None, config_key: str = "evaluation.inception_weights") -> Path:
    """The weights file to use; raises MissingWeights before anything is computed."""
    path = Path(configured).expanduser() if configured else default_weights_path()
    if not path.is_file():
        how = f"set '{config_key}' to an existing file" if configured else (
            f"run `diffbench fetch-assets` (the workflow's fetch_assets rule) on a machine with internet, which "
            f"downloads {WEIGHTS_URL} into the torch hub cache (TORCH_HOME), or set '{config_key}' to a local copy"
        )
        raise MissingWeights(f"Inception-v3 FID weights not found at {path}; {how}.")
    return path


def fetch_weights(path: Path | None = None) -> Path:
    """Download the weights into the torch hub cache (or `path`); a no-op when present."""
    path = path or default_weights_path()
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(WEIGHTS_URL, str(path), progress=True)
    return path


def load_inception(weights: Path, device: torch.device) -> FeatureExtractorInceptionV3:
    model = FeatureExtractorInceptionV3("inception-v3-compat", [str(FEATURE_DIM)], feature_extractor_weights_path=str(weights))
    return model.to(device).eval()


@torch.no_grad()
def inception_features(
    images: np.ndarray, model: FeatureExtractorInceptionV3, device: torch.device, batch_size: int = 64
) -> np.ndarray:
    """uint8 (N, H, W, C) images -> float64 (N, 2048) pool3 features. Grayscale is repeated to RGB."""
    out = []
    for start in range(0, len(images), batch_size):
        batch = torch.from_numpy(np.ascontiguousarray(images[start : start + batch_size])).permute(0, 3, 1, 2)
        if batch.shape[1] == 1:
            batch = batch.repeat(1, 3, 1, 1)
        (features,) = model(batch.to(device))
        out.append(features.double().cpu().numpy())
    return np.concatenate(out) if out else np.zeros((0, FEATURE_DIM))
