"""Inception-v3 pool3 features with the TF-ported FID weights, through torch-fidelity.

This is the network and (in the default "tf-bilinear" mode) the resize, TF1-compatible bilinear
to 299x299 from uint8 images, that pytorch-fid, torch-fidelity and torchmetrics use, so FIDs are
comparable with the DDPM/LDM papers. The "clean" mode resizes as clean-fid does instead.
Weights come from a configured file or from the torch hub cache ($TORCH_HOME/hub/checkpoints);
they are never swapped for other weights.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
from torch.nn.utils.fusion import fuse_conv_bn_eval
from torch_fidelity.feature_extractor_inceptionv3 import URL_INCEPTION_V3, BasicConv2d, FeatureExtractorInceptionV3

from diffbench.errors import MissingWeights
from diffbench.features.transfer import gathered, on_device

FEATURE_DIM = 2048
WEIGHTS_URL = URL_INCEPTION_V3


def default_weights_path() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(WEIGHTS_URL)


def resolve_weights(configured: str | None, config_key: str = "evaluation.inception_weights") -> Path:
    """The weights file to use; raises MissingWeights before anything is computed."""
    path = Path(configured).expanduser() if configured else default_weights_path()
    if not path.is_file():
        how = (
            f"set '{config_key}' to an existing file"
            if configured
            else (
                f"run `diffbench fetch-assets` (the workflow's fetch_assets rule) on a machine with internet, which "
                f"downloads {WEIGHTS_URL} into the torch hub cache (TORCH_HOME), or set '{config_key}' to a local copy"
            )
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
    model = FeatureExtractorInceptionV3(
        "inception-v3-compat", [str(FEATURE_DIM)], feature_extractor_weights_path=str(weights)
    )
    return model.to(device).eval()


def fold_batch_norm(model: FeatureExtractorInceptionV3) -> FeatureExtractorInceptionV3:
    """Each conv + batch-norm pair (torch-fidelity's BasicConv2d: conv, bn, relu) as one convolution
    with the batch norm's fixed scale and shift in its weights and bias, by torch's own fusion for
    inference. On a CPU the batch norms were ~11 % of the network's time, a pass over every
    activation; the features move by float rounding (~2e-6 of a feature vector, measured)."""
    for block in model.modules():
        if isinstance(block, BasicConv2d):
            block.conv = fuse_conv_bn_eval(block.conv, block.bn)
            block.bn = torch.nn.Identity()
    return model


# torch-fidelity's forward pass after its resize and normalisation, up to pool3.
_POOL3_LAYERS = (
    "Conv2d_1a_3x3",
    "Conv2d_2a_3x3",
    "Conv2d_2b_3x3",
    "MaxPool_1",
    "Conv2d_3b_1x1",
    "Conv2d_4a_3x3",
    "MaxPool_2",
    "Mixed_5b",
    "Mixed_5c",
    "Mixed_5d",
    "Mixed_6a",
    "Mixed_6b",
    "Mixed_6c",
    "Mixed_6d",
    "Mixed_6e",
    "Mixed_7a",
    "Mixed_7b",
    "Mixed_7c",
    "AvgPool",
)


def pool3_of_resized(model: FeatureExtractorInceptionV3, x: torch.Tensor) -> torch.Tensor:
    """Pool3 features of float images already at 299x299 in [0, 255].

    torch-fidelity's forward only takes uint8 input (then resizes and normalises); the clean mode
    feeds unquantised floats, so it enters the same layers after that first step.
    """
    x = (x.to(model.feature_extractor_internal_dtype) - 128) / 128
    for name in _POOL3_LAYERS:
        x = getattr(model, name)(x)
    return torch.flatten(x, 1)


def clean_resize(batch: np.ndarray, side: int) -> torch.Tensor:
    """clean-fid's resize of uint8 NHWC RGB images: PIL bicubic per channel in float, no
    quantisation (Parmar et al. 2022). Returns float NHWC in [0, 255]."""
    from cleanfid.resize import make_resizer

    resize = make_resizer("PIL", False, "bicubic", (side, side))
    return torch.from_numpy(np.stack([resize(image) for image in batch]))


def rgb_batches(images: np.ndarray, batch_size: int) -> Iterator[np.ndarray]:
    """Contiguous uint8 NHWC batches with grayscale repeated to RGB, as both extractors expect."""
    for start in range(0, len(images), batch_size):
        batch = np.ascontiguousarray(images[start : start + batch_size])
        yield np.repeat(batch, 3, axis=-1) if batch.shape[-1] == 1 else batch


def network_inputs(
    images: np.ndarray, batch_size: int, resize: str, side: int, device: torch.device
) -> Iterator[torch.Tensor]:
    """NCHW batches on `device`: uint8 for the network's own resize, float [0, 255] at `side` for
    "clean". Copied NHWC (one memcpy per batch, staged on CUDA) and permuted there."""
    host = (
        (clean_resize(batch, side) if resize == "clean" else torch.from_numpy(batch))
        for batch in rgb_batches(images, batch_size)
    )
    for batch in on_device(host, device):
        yield batch.permute(0, 3, 1, 2)


INPUT_SIDE = 299
RESIZE_MODES = ("tf-bilinear", "clean")


@torch.no_grad()
def inception_features(
    images: np.ndarray,
    model: FeatureExtractorInceptionV3,
    device: torch.device,
    batch_size: int = 64,
    resize: str = "tf-bilinear",
) -> np.ndarray:
    """uint8 (N, H, W, C) images -> float64 (N, 2048) pool3 features. Grayscale is repeated to RGB.

    resize: "tf-bilinear" = torch-fidelity's TF1-compatible bilinear resize of the uint8 images
    (pytorch-fid / torch-fidelity / the DDPM and LDM papers); "clean" = clean-fid's resize.
    """
    if resize not in RESIZE_MODES:
        raise ValueError(f"unknown resize mode {resize!r} (known: {RESIZE_MODES})")
    out = []
    for x in network_inputs(images, batch_size, resize, INPUT_SIDE, device):
        out.append(pool3_of_resized(model, x) if resize == "clean" else model(x)[0])
    return gathered(out, FEATURE_DIM)
