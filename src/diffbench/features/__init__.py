"""Feature extractors for distribution metrics, selected by name from a small registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from diffbench.features import dinov2, inception


@dataclass(frozen=True)
class FeatureExtractor:
    name: str
    dim: int
    resize_modes: tuple[str, ...]  # how images reach the network's input size
    resolve_weights: Callable[[str | None], Path]  # configured path or cache -> existing file, else MissingWeights
    fetch_weights: Callable[[Path | None], Path]  # download into the cache (or the given path) when absent
    load: Callable[[Path, torch.device], torch.nn.Module]
    # (uint8 NHWC images, model, device, batch size, resize mode) -> float64 (N, dim)
    extract: Callable[[np.ndarray, torch.nn.Module, torch.device, int, str], np.ndarray]

    def network(self, weights: Path, device: torch.device, channels_last: bool) -> torch.nn.Module:
        """The loaded network. channels_last (config evaluation.channels_last) stores its 4-D weights
        in NHWC, so its convolutions run NHWC kernels: the same arithmetic in another summation
        order (benchmarks/features.py --channels-last measures speed and the FID difference)."""
        model = self.load(weights, device)
        return model.to(memory_format=torch.channels_last) if channels_last else model


EXTRACTORS: dict[str, FeatureExtractor] = {
    "inception-v3-compat": FeatureExtractor(
        name="inception-v3-compat",
        dim=inception.FEATURE_DIM,
        resize_modes=inception.RESIZE_MODES,
        resolve_weights=inception.resolve_weights,
        fetch_weights=inception.fetch_weights,
        load=inception.load_inception,
        extract=inception.inception_features,
    ),
    # dgm-eval's recommendation (Stein et al. 2023): less biased towards ImageNet classes than Inception.
    "dinov2-vit-l-14": FeatureExtractor(
        name="dinov2-vit-l-14",
        dim=dinov2.FEATURE_DIM,
        resize_modes=dinov2.RESIZE_MODES,
        resolve_weights=dinov2.resolve_weights,
        fetch_weights=dinov2.fetch_weights,
        load=dinov2.load_dinov2,
        extract=dinov2.dinov2_features,
    ),
}
