"""Image conversion shared by every source and stage: mode, resize and crop on reading. numpy and
PIL only, so the Snakefile, which imports the data sources, never imports torch; the uint8 <->
model-range tensors are in tensors.py."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

MODES = {1: "L", 3: "RGB"}


def resize_and_crop(image: Image.Image, resolution: int) -> Image.Image:
    # torchvision is imported here, where a resize is needed: importing it costs seconds.
    from torchvision import transforms

    # Bicubic with antialiasing, as torchvision/PIL do by default for downscaling photos.
    return transforms.Compose(
        [
            transforms.Resize(resolution, interpolation=transforms.InterpolationMode.BICUBIC, antialias=True),
            transforms.CenterCrop(resolution),
        ]
    )(image)


def to_array(image: Image.Image, resolution: int, channels: int) -> np.ndarray:
    """PIL image -> uint8 array (resolution, resolution, channels)."""
    if image.mode.startswith("I;16"):
        # PIL's convert clips 16-bit values at 255; scale the full range instead (65535 -> 255).
        image = Image.fromarray(((np.asarray(image, dtype=np.uint32) + 128) // 257).astype(np.uint8))
    elif image.mode in ("I", "F"):
        raise ValueError(f"image mode {image.mode} (32-bit) has no defined 8-bit range; save it as 8- or 16-bit")
    image = image.convert(MODES[channels])
    if image.size != (resolution, resolution):
        image = resize_and_crop(image, resolution)
    array = np.asarray(image, dtype=np.uint8)
    return array.reshape(resolution, resolution, channels)


def load_images(path: str | Path) -> np.ndarray:
    """uint8 (N, H, W, C) images from a prepared .npz."""
    with np.load(path) as data:
        return data["images"]
