"""Gaussian feature statistics and the Fréchet distance (FID when the features are Inception's).

Statistics are kept as float64 sums (sum of x, sum of x x^T, count) so that shards of a sample
set merge exactly, as NVlabs/edm and torchmetrics accumulate them. The distance uses
tr sqrt(S1 S2) = sum sqrt(eig(S1 S2)), as torch-fidelity does: it never fails on an "imaginary
component"; instead it reports how much of the spectrum had to be discarded (the fix-up).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np


@dataclass
class Moments:
    """Running float64 moments of feature vectors; `merge` is exact, in any order."""

    total: np.ndarray
    outer: np.ndarray
    count: int

    @classmethod
    def empty(cls, dim: int) -> Moments:
        return cls(np.zeros(dim), np.zeros((dim, dim)), 0)

    @classmethod
    def of(cls, features: np.ndarray) -> Moments:
        x = np.asarray(features, dtype=np.float64)
        return cls(x.sum(axis=0), x.T @ x, len(x))

    def merge(self, other: Moments) -> Moments:
        return Moments(self.total + other.total, self.outer + other.outer, self.count + other.count)

    def statistics(self) -> dict:
        """{"mu", "sigma", "n"}: mean and unbiased covariance (as numpy.cov)."""
        if self.count < 2:
            raise ValueError(f"need at least 2 feature vectors for a covariance, got {self.count}")
        mu = self.total / self.count
        sigma = (self.outer - self.count * np.outer(mu, mu)) / (self.count - 1)
        return {"mu": mu, "sigma": sigma, "n": self.count}

    def to_npz(self) -> dict:
        return {"total": self.total, "outer": self.outer, "count": np.int64(self.count)}

    @classmethod
    def from_npz(cls, data) -> Moments:
        return cls(np.asarray(data["total"]), np.asarray(data["outer"]), int(data["count"]))


def gaussian_statistics(features: np.ndarray) -> dict:
    return Moments.of(features).statistics()


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> dict:
    """||mu1 - mu2||^2 + tr(S1 + S2 - 2 sqrt(S1 S2)) in float64, with the square root's fix-up.

    The eigenvalues of S1 S2 are real and >= 0 in exact arithmetic; round-off makes some
    slightly negative or complex. Their square roots' imaginary parts are dropped; `sqrt_discarded`
    is the size of what was dropped relative to the trace term, and `sqrt_fixup` says whether it
    was more than round-off (1e-6).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape:
        raise ValueError(f"statistics of different dimensions: {mu1.shape} vs {mu2.shape}")
    roots = np.sqrt(np.linalg.eigvals(sigma1 @ sigma2).astype(np.complex128))
    trace_sqrt = float(roots.real.sum())
    discarded = float(np.abs(roots.imag).sum()) / max(abs(trace_sqrt), 1e-12)
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_sqrt)
    return {"fd": value, "sqrt_discarded": discarded, "sqrt_fixup": discarded > 1e-6}


class FeatureSet:
    """A set of feature vectors prepared once for many Fréchet distances: resampling methods
    score many subsets against one reference, whose centring, trace and covariance root are then
    computed once rather than per distance."""

    def __init__(self, features: np.ndarray):
        x = np.asarray(features, np.float64)
        self.n, self.dim = x.shape
        self.mean = x.mean(0)
        self.centred = x - self.mean
        self.trace = float((self.centred * self.centred).sum()) / (self.n - 1)

    @cached_property
    def covariance(self) -> np.ndarray:
        return self.centred.T @ self.centred / (self.n - 1)

    @cached_property
    def root(self) -> np.ndarray:
        values, vectors = np.linalg.eigh(self.covariance)
        return (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T


def frechet_of_sets(x: FeatureSet, y: FeatureSet) -> float:
    """FD between the Gaussian fits of two feature sets (see frechet_of_sets_detailed)."""
    return frechet_of_sets_detailed(x, y)["fd"]


def frechet_of_sets_detailed(x: FeatureSet, y: FeatureSet) -> dict:
    """FD between the Gaussian fits of two feature sets, the cheaper of two exact ways, with the
    square root's fix-up as `frechet_distance` reports it.

    With centred features X (n x d) and Y (m x d), tr sqrt(S_x S_y) is the sum of the singular
    values of X Y^T divided by sqrt((n - 1)(m - 1)): an n x m problem instead of a d x d one, which
    for the few hundred samples of a CPU run in 2048 Inception dimensions is a thousand times
    cheaper, and singular values are never negative, so nothing is discarded. Large sets use the
    covariances, with a symmetric eigensolver (sqrt(S_y) S_x sqrt(S_y) has the eigenvalues of
    S_x S_y); its negative eigenvalues are round-off, and their roots' size is what is discarded.
    """
    n, m, d = x.n, y.n, x.dim
    diff = x.mean - y.mean
    if n * m * (d + min(n, m)) < (n + m) * d * d + 2 * d**3:
        trace_sqrt = np.linalg.svd(x.centred @ y.centred.T, compute_uv=False).sum() / np.sqrt((n - 1) * (m - 1))
        negative = 0.0
    else:
        inner = np.linalg.eigvalsh(y.root @ x.covariance @ y.root)
        trace_sqrt = np.sqrt(np.clip(inner, 0, None)).sum()
        negative = float(np.sqrt(np.clip(-inner, 0, None)).sum())
    discarded = negative / max(abs(float(trace_sqrt)), 1e-12)
    value = float(diff @ diff + x.trace + y.trace - 2 * trace_sqrt)
    return {"fd": value, "sqrt_discarded": discarded, "sqrt_fixup": discarded > 1e-6}


def frechet_of_features(x: np.ndarray, y: np.ndarray) -> float:
    """FD between the Gaussian fits of two feature arrays (see frechet_of_sets)."""
    return frechet_of_sets(FeatureSet(x), FeatureSet(y))


def sample_size_warning(n_generated: int, n_reference: int, dim: int) -> str | None:
    """A covariance has rank < dim when its set has n <= dim vectors: the distance is then biased
    and unstable, whichever of the two sets is the small one."""
    small = [
        f"{n} {what} ({key})"
        for n, what, key in (
            (n_generated, "generated samples", "sampling.num_samples"),
            (n_reference, "reference images", "datasets.<name>.num_reference"),
        )
        if n <= dim
    ]
    if not small:
        return None
    return (
        f"only {' and '.join(small)} for {dim}-dimensional features: the covariance is singular and the "
        f"Fréchet distance is strongly biased; use more than {dim} of each to compare with published numbers."
    )
