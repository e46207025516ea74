"""Image conversion shared by every source: mode, resize of the shorter side, center crop."""

from __future__ import annotations

import numpy as np
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
