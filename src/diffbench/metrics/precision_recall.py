"""Improved precision and recall (Kynkäänniemi et al. 2019): k-NN manifolds of each feature set,
computed by torch-fidelity."""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_prc import prc_features_to_metric


def equal_sizes(generated: np.ndarray, reference: np.ndarray, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Both sets cut to the smaller one's size by a seeded draw (order kept): k-NN radii shrink as a
    set grows, so sets of unequal size would tilt precision against recall."""
    n = min(len(generated), len(reference))
    rng = np.random.default_rng(seed)
    return tuple(x[np.sort(rng.choice(len(x), n, replace=False))] if len(x) > n else x for x in (generated, reference))


def precision_recall(generated: np.ndarray, reference: np.ndarray, k: int = 3) -> dict:
    """precision: share of generated samples inside the reference manifold; recall: the converse.
    Compare sets of equal size (equal_sizes); `pr_n` records the generated set's."""
    out = prc_features_to_metric(
        torch.as_tensor(np.asarray(generated, np.float32)),
        torch.as_tensor(np.asarray(reference, np.float32)),
        prc_neighborhood=k,
        prc_batch_size=10000,
        save_cpu_ram=False,
        verbose=False,
    )
    return {
        "precision": out["precision"],
        "recall": out["recall"],
        "f_score": out["f_score"],
        "pr_k": k,
        "pr_n": len(generated),
    }
