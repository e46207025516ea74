"""Image conversion shared by every source and stage: mode, resize and crop on reading; uint8 <-> model range."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

MODES = {1: "L", 3: "RGB"}


def resize_and_crop(resolution: int) -> transforms.Compose:
    # Bicubic with antialiasing, as torchvision/PIL do by default for downscaling photos.
    return transforms.Compose(
        [
            transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BICUBIC, antialias=True),
            transforms.CenterCrop(resolution),
        ]
    )


def to_array(image: Image.Image, resolution: int, channels: int) -> np.ndarray:
    """PIL image -> uint8 array (resolution, resolution, channels)."""
    if image.mode.startswith("I;16"):
        # PIL's convert clips 16-bit values at 255; scale the full range instead (65535 -> 255).
        image = Image.fromarray(((np.asarray(image, dtype=np.uint32) + 128) // 257).astype(np.uint8))
    elif image.mode in ("I", "F"):
        raise ValueError(f"image mode {image.mode} (32-bit) has no defined 8-bit range; save it as 8- or 16-bit")
    image = image.convert(MODES[channels])
    if image.size != (resolution, resolution):
        image = resize_and_crop(resolution)(image)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(resolution, resolution, channels)


def load_images(path: str | Path) -> np.ndarray:
    """uint8 (N, H, W, C) images from a prepared .npz."""
    with np.load(path) as data:
        return data["images"]


def to_model_range(images: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 NHWC (array or tensor, on any device) -> float32 NCHW in [-1, 1]."""
    return torch.as_tensor(images).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def to_uint8(samples: torch.Tensor) -> np.ndarray:
    """float NCHW in [-1, 1] -> uint8 NHWC (clipped, rounded as DDPMPipeline does)."""
    images = (samples.float().clamp(-1, 1) + 1) * 127.5
    return images.round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()
