"""Kernel Inception Distance: torch-fidelity's unbiased polynomial-kernel MMD over random subsets."""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_kid import kid_features_to_metric


def kernel_distance(
    generated: np.ndarray,
    reference: np.ndarray,
    subsets: int = 100,
    subset_size: int = 1000,
    degree: int = 3,
    coef0: float = 1.0,
    seed: int = 2020,
) -> dict:
    """KID mean and std over `subsets` draws; the subset size is capped at the smaller set (and recorded)."""
    size = min(subset_size, len(generated), len(reference))
    out = kid_features_to_metric(
        torch.as_tensor(np.asarray(generated, np.float64)),
        torch.as_tensor(np.asarray(reference, np.float64)),
        kid_subsets=subsets,
        kid_subset_size=size,
        kid_kernel="poly",
        kid_kernel_poly_degree=degree,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=coef0,
        rng_seed=seed,
        verbose=False,
    )
    return {
        "kid_mean": out["kernel_inception_distance_mean"],
        "kid_std": out["kernel_inception_distance_std"],
        "kid_subsets": subsets,
        "kid_subset_size": size,
    }
