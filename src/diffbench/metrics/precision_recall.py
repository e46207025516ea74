"""Improved precision and recall (Kynkäänniemi et al. 2019): k-NN manifolds of each feature set,
computed by torch-fidelity."""

from __future__ import annotations

import numpy as np
import torch
from torch_fidelity.metric_prc import prc_features_to_metric


def precision_recall(generated: np.ndarray, reference: np.ndarray, k: int = 3) -> dict:
    """precision: share of generated samples inside the reference manifold; recall: the converse."""
    out = prc_features_to_metric(
        torch.as_tensor(np.asarray(generated, np.float32)),
        torch.as_tensor(np.asarray(reference, np.float32)),
        prc_neighborhood=k,
        prc_batch_size=10000,
        save_cpu_ram=False,
        verbose=False,
    )
    return {"precision": out["precision"], "recall": out["recall"], "f_score": out["f_score"], "pr_k": k}
