"""Feature extractors for distribution metrics, selected by name from a small registry."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from diffbench.features import inception


@dataclass(frozen=True)
class FeatureExtractor:
    name: str
    dim: int
    resize_modes: tuple[str, ...]  # how images reach the network's input size
    resolve_weights: Callable[[str | None], Path]  # configured path or cache -> existing file, else MissingWeights
    fetch_weights: Callable[[Path | None], Path]  # download into the cache (or the given path) when absent
    load: Callable[[Path, torch.device], torch.nn.Module]
    extract: Callable[[np.ndarray, torch.nn.Module, torch.device, int], np.ndarray]  # uint8 NHWC -> float64 (N, dim)


EXTRACTORS: dict[str, FeatureExtractor] = {
    "inception-v3-compat": FeatureExtractor(
        name="inception-v3-compat",
        dim=inception.FEATURE_DIM,
        resize_modes=("tf-bilinear",),
        resolve_weights=inception.resolve_weights,
        fetch_weights=inception.fetch_weights,
        load=inception.load_inception,
        extract=inception.inception_features,
    ),
}


def features_key(evaluation: dict) -> str:
    """Names the feature files: one per (extractor, resize mode), so Snakemake's file graph caches them."""
    return f"{evaluation['feature_extractor']}-{evaluation['resize']}"
