"""Holm's step-down correction for many comparisons (Holm 1979).

Hand-written: five lines, and scipy has only false-discovery-rate control (Benjamini-Hochberg),
which bounds a different error than "any false claim"; statsmodels' multipletests would be a whole
dependency for it.
"""

from __future__ import annotations

import numpy as np


def holm_reject(p_values, alpha: float) -> np.ndarray:
    """Which hypotheses to reject so that the chance of rejecting any true one is at most `alpha`:
    the i-th smallest p-value (i = 0, 1, ...) is tested at alpha / (k - i), stopping at the first
    that fails."""
    p = np.asarray(p_values, np.float64)
    reject = np.zeros(len(p), bool)
    for rank, index in enumerate(np.argsort(p, kind="stable")):
        if p[index] > alpha / (len(p) - rank):
            break
        reject[index] = True
    return reject
