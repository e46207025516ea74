"""Sample grids: a row of real held-out images per dataset, then one row per model, one column per
seed. Every model samples seed k from the same initial noise, so a column compares models on the
same seed."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image

from diffbench.io import atomic_path

CELL = 64  # displayed side of one image in pixels; small images are enlarged (nearest) to this
GAP = 2


def grid_array(rows: list[np.ndarray | None], columns: int) -> np.ndarray:
    """rows: uint8 (N, H, W, C) per model (None = missing, drawn grey) -> one uint8 RGB image."""
    height = CELL * len(rows) + GAP * (len(rows) - 1)
    width = CELL * columns + GAP * (columns - 1)
    canvas = np.full((height, width, 3), 255, np.uint8)
    for r, images in enumerate(rows):
        for c in range(columns):
            y, x = r * (CELL + GAP), c * (CELL + GAP)
            if images is None or c >= len(images):
                canvas[y : y + CELL, x : x + CELL] = 200
                continue
            image = images[c]
            if image.shape[-1] == 1:
                image = np.repeat(image, 3, axis=-1)
            resample = Image.NEAREST if image.shape[0] <= CELL else Image.BICUBIC
            canvas[y : y + CELL, x : x + CELL] = np.asarray(Image.fromarray(image).resize((CELL, CELL), resample))
    return canvas


def sample_grid(sample_files: dict[str, str | Path], columns: int, out_png: str | Path) -> bytes:
    """Write the grid of the first `columns` seeds of each model's sample set (rows in the order of
    `sample_files`); returns the PNG bytes, for embedding."""
    rows = []
    for path in sample_files.values():
        if Path(path).is_file():
            with np.load(path) as data:
                rows.append(data["images"][:columns])
        else:
            rows.append(None)
    buffer = io.BytesIO()
    Image.fromarray(grid_array(rows, columns)).save(buffer, format="PNG")
    with atomic_path(out_png) as tmp:
        tmp.write_bytes(buffer.getvalue())
    return buffer.getvalue()
