"""A deterministic generator of RGB images: 1 to `max_shapes` coloured shapes on a two-colour gradient.

No library generates seeded structured images at arbitrary resolution, so this is hand-written.
It gives the models something non-trivial to learn (shapes, edges, colours) with no download.
"""

from __future__ import annotations

import numpy as np

_SUPERSAMPLE = 4  # render at 4x and box-filter down, so edges are antialiased at any resolution


def render_shapes(
    seed: int, index: int, resolution: int, max_shapes: int = 3, radii: tuple[float, float] = (0.1, 0.3)
) -> np.ndarray:
    """Image `index` of the stream `seed`, uint8 (resolution, resolution, 3); shape radii are drawn
    from `radii` (fractions of the image's side)."""
    rng = np.random.default_rng([seed, index])
    size = resolution * _SUPERSAMPLE
    coords = (np.arange(size) + 0.5) / size
    y, x = np.meshgrid(coords, coords, indexing="ij")

    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (x - 0.5) + np.sin(angle) * (y - 0.5)) / np.sqrt(2) + 0.5
    top, bottom = rng.uniform(0, 1, size=(2, 3))
    canvas = top * (1 - ramp[..., None]) + bottom * ramp[..., None]

    for kind, cx, cy, radius, colour in draw_shapes(rng, max_shapes, radii):
        if kind == 0:  # disc
            mask = (x - cx) ** 2 + (y - cy) ** 2 <= radius**2
        elif kind == 1:  # square
            mask = (np.abs(x - cx) <= radius * 0.8) & (np.abs(y - cy) <= radius * 0.8)
        else:  # upward triangle
            rel_y = (y - (cy - radius)) / (2 * radius)
            mask = (rel_y >= 0) & (rel_y <= 1) & (np.abs(x - cx) <= rel_y * radius)
        canvas[mask] = colour

    small = canvas.reshape(resolution, _SUPERSAMPLE, resolution, _SUPERSAMPLE, 3).mean(axis=(1, 3))
    return np.clip(np.rint(small * 255), 0, 255).astype(np.uint8)


def draw_shapes(
    rng: np.random.Generator, max_shapes: int, radii: tuple[float, float] = (0.1, 0.3)
) -> list[tuple[int, float, float, float, np.ndarray]]:
    """1 to `max_shapes` shapes, each (kind, centre x, centre y, radius, RGB colour in [0, 1]),
    the radius uniform in `radii` (min, max)."""
    shapes = []
    for _ in range(rng.integers(1, max_shapes + 1)):
        kind = int(rng.integers(3))
        cx, cy = rng.uniform(0.2, 0.8, size=2)
        size = rng.uniform(*radii)
        shapes.append((kind, cx, cy, size, rng.uniform(0, 1, size=3)))
    return shapes
