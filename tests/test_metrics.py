import numpy as np
import pytest
import scipy.linalg
from torch_fidelity.metric_fid import fid_statistics_to_metric

from diffbench.metrics.bootstrap import FrechetToReference, frechet_bootstrap
from diffbench.metrics.frechet import Moments, frechet_distance, gaussian_statistics, sample_size_warning
from diffbench.metrics.kid import kernel_distance
from diffbench.metrics.precision_recall import precision_recall


def features(n, dim=16, shift=0.0, scale=1.0, seed=0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dim, dim)) / np.sqrt(dim)
    return (rng.normal(size=(n, dim)) @ mixing) * scale + shift


def direct_fd(a, b):
    """The textbook formula with scipy's matrix square root (pytorch-fid's approach)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def fd(a, b):
    sa, sb = gaussian_statistics(a), gaussian_statistics(b)
    return frechet_distance(sa["mu"], sa["sigma"], sb["mu"], sb["sigma"])


def test_statistics_match_numpy_and_merge_exactly():
    x = features(300)
    stats = gaussian_statistics(x)
    np.testing.assert_allclose(stats["mu"], x.mean(0), rtol=1e-12)
    np.testing.assert_allclose(stats["sigma"], np.cov(x, rowvar=False), rtol=1e-9, atol=1e-12)
    merged = Moments.of(x[:100]).merge(Moments.of(x[100:250])).merge(Moments.of(x[250:]))
    whole = Moments.of(x)
    np.testing.assert_allclose(merged.total, whole.total, rtol=1e-12)
    np.testing.assert_allclose(merged.outer, whole.outer, rtol=1e-12)
    assert merged.count == 300
    assert Moments.from_npz(merged.to_npz()).count == 300


def test_fd_matches_scipy_and_torch_fidelity():
    a, b = features(500, seed=1), features(400, shift=0.3, scale=1.4, seed=2)
    ours = fd(a, b)
    assert ours["fd"] == pytest.approx(direct_fd(a, b), rel=1e-8)
    sa, sb = gaussian_statistics(a), gaussian_statistics(b)
    theirs = fid_statistics_to_metric(sa, sb, verbose=False)["frechet_inception_distance"]
    assert ours["fd"] == pytest.approx(theirs, rel=1e-10)
    assert not ours["sqrt_fixup"]


def test_fd_invariants():
    a, b = features(400, seed=3), features(400, shift=0.5, seed=4)
    assert fd(a, a)["fd"] == pytest.approx(0.0, abs=1e-9)
    assert fd(a, b)["fd"] == pytest.approx(fd(b, a)["fd"], rel=1e-9)
    assert fd(a, b)["fd"] > fd(a, features(400, shift=0.1, seed=4))["fd"] > 0


def test_fd_known_gaussians():
    # N(m1, s1^2 I) vs N(m2, s2^2 I) in d dims: |m1 - m2|^2 + d (s1 - s2)^2.
    d = 8
    result = frechet_distance(np.zeros(d), 4 * np.eye(d), np.full(d, 0.5), 9 * np.eye(d))
    assert result["fd"] == pytest.approx(d * 0.25 + d * 1.0)


def test_singular_covariance_does_not_fail_and_reports_the_fixup():
    a = features(10, dim=64, seed=5)  # rank 9 covariance in 64 dims
    b = features(10, dim=64, shift=0.2, seed=6)
    result = fd(a, b)
    assert np.isfinite(result["fd"]) and result["fd"] > 0
    assert "sqrt_fixup" in result and result["sqrt_discarded"] >= 0
    assert sample_size_warning(3000, 3000, 2048) is None
    assert "only 10 generated samples (sampling.num_samples) for 64-dimensional" in sample_size_warning(10, 100, 64)
    # A small reference set makes the covariance singular just as well.
    only_reference = sample_size_warning(100, 10, 64)
    assert "only 10 reference images (datasets.<name>.num_reference)" in only_reference
    assert "generated" not in only_reference


def test_bootstrap_interval_brackets_the_estimate():
    # 60 samples in 32 dimensions: resampling with replacement inflates FD far above the estimate,
    # so an uncorrected percentile interval would lie entirely above it.
    a, b = features(60, dim=32, seed=7), features(600, dim=32, shift=0.2, seed=8)
    reference = gaussian_statistics(b)
    value = frechet_distance(
        **{
            "mu1": gaussian_statistics(a)["mu"],
            "sigma1": gaussian_statistics(a)["sigma"],
            "mu2": reference["mu"],
            "sigma2": reference["sigma"],
        }
    )["fd"]
    ci = frechet_bootstrap(a, reference, resamples=40, seed=0)
    assert ci["bootstrap_bias"] > ci["bootstrap_std"] > 0  # the upward shift the correction removes
    assert ci["ci_low"] < value < ci["ci_high"]
    assert ci["ci_high"] - ci["ci_low"] == pytest.approx(3.92 * ci["bootstrap_std"], rel=0.5)
    assert ci == frechet_bootstrap(a, reference, resamples=40, seed=0)  # seeded
    # The fast symmetric form used for resamples equals the general formula.
    stats = gaussian_statistics(a)
    general = frechet_distance(stats["mu"], stats["sigma"], reference["mu"], reference["sigma"])["fd"]
    assert FrechetToReference(reference)(stats) == pytest.approx(general, rel=1e-8)


def test_kid_hand_checked_one_dimensional_case():
    # Features x = (0, 1), y = (1, 2) in 1-D; kernel k(a, b) = (a b + 1)^3 (gamma = 1/d = 1).
    x, y = np.array([[0.0], [1.0]]), np.array([[1.0], [2.0]])

    def k(a, b):
        return (a * b + 1) ** 3

    kxx = k(0, 1) + k(1, 0)  # off-diagonal terms only (unbiased)
    kyy = k(1, 2) + k(2, 1)
    kxy = k(0, 1) + k(0, 2) + k(1, 1) + k(1, 2)
    expected = (kxx + kyy) / (2 * 1) - 2 * kxy / 4
    result = kernel_distance(x, y, subsets=3, subset_size=2)
    assert result["kid_mean"] == pytest.approx(expected) and result["kid_std"] == pytest.approx(0.0)


def test_kid_separates_distributions_and_caps_the_subset():
    a, b = features(200, seed=9), features(200, seed=10)
    far = features(200, shift=2.0, seed=11)
    near = kernel_distance(a, b, subsets=20, subset_size=1000)
    assert near["kid_subset_size"] == 200
    assert abs(near["kid_mean"]) < kernel_distance(a, far, subsets=20)["kid_mean"]


def test_precision_recall_hand_checked():
    grid = np.array([[i, j] for i in range(5) for j in range(5)], dtype=float)
    assert precision_recall(grid, grid, k=3)["precision"] == 1.0
    far = grid + 100
    result = precision_recall(far, grid, k=3)
    assert result["precision"] == 0.0 and result["recall"] == 0.0
    # Half of the generated points on the real grid, half far away: precision 1/2, recall 1.
    half = np.concatenate([grid, far])
    result = precision_recall(half, grid, k=3)
    assert result["precision"] == pytest.approx(0.5) and result["recall"] == 1.0
