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
    # Folds the network's inference batch norms into the convolutions before them; None: it has none.
    fold_batch_norm: Callable[[torch.nn.Module], torch.nn.Module] | None = None

    def network(
        self, weights: Path, device: torch.device, *, channels_last: bool, fold_batch_norm: bool
    ) -> torch.nn.Module:
        """The loaded network, in its inference form (config evaluation.channels_last and
        evaluation.fold_batch_norm): channels_last stores its 4-D weights in NHWC, so its
        convolutions run NHWC kernels; fold_batch_norm merges each batch norm's fixed scale and shift
        into the convolution before it. Both are the same arithmetic in another order, so features
        move by float rounding (benchmarks/features.py measures speed and the FID difference)."""
        model = self.load(weights, device)
        if fold_batch_norm and self.fold_batch_norm is not None:
            model = self.fold_batch_norm(model)
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
        fold_batch_norm=inception.fold_batch_norm,
    ),
    # dgm-eval's recommendation (Stein et al. 2023): less biased towards ImageNet classes than Inception.
    # A ViT: its layer norms depend on each input, so it has no batch norm to fold.
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
