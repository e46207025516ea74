"""Confidence intervals for FID, for the difference of two runs' FIDs and for FID at infinity.

All three use the delete-a-group jackknife: the sets are split into G groups, the statistic is
recomputed with each group left out, and the spread of those G values gives a standard error;
the interval is estimate +- t_{G-1} x se. Written here rather than taken from scipy.stats.bootstrap
because FID is not a mean: resampling with replacement repeats images, and repeats inflate FID's
second-order (bias-like) term, so bootstrap intervals miss their level; benchmarks/interval_coverage.py
measures both (the jackknife within 3 points of nominal at 2 feature dimensions x 2 sizes, the
bootstrap's standard error too wide where that term dominates). A jackknife needs no random
resamples either: the same features always give the same interval.

What each interval covers is part of its definition (and of the report's wording):
- `fid_interval`: the generated set's sampling noise at this n against this reference set: the
  target is the mean FID a fresh set of n samples would get against the same reference.
- `fid_difference`: two runs scored against one reference; the groups delete images from both
  generated sets (paired by position, i.e. by seed) and the reference together, so the interval
  covers the noise of all three sets and the part they share cancels.
- `fid_infinity`: FID extrapolated to infinitely many images of both sets (Chong & Forsyth 2020),
  whose target is the Fréchet distance of the two feature distributions themselves.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from diffbench.metrics.frechet import FeatureSet, frechet_of_features, frechet_of_sets

METHOD = "delete-a-group jackknife"


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float
    level: float
    se: float
    groups: int
    df: float | None = None  # degrees of freedom of its t reference; None: groups - 1

    def p_value(self) -> float:
        """Two-sided p-value of "the target is 0" from the same t reference as the interval (t_{G-1},
        or `df`; 1 when the estimate is exactly 0); at p < 1 - level the interval excludes 0."""
        if self.estimate == 0:
            return 1.0
        if not self.se > 0:
            return 0.0
        return float(2 * stats.t.sf(abs(self.estimate) / self.se, self.df or self.groups - 1))

    def better(self, a: str, b: str) -> str | None:
        """For an interval of score(a) - score(b), lower being better: the better of a and b, or None
        when the interval includes 0 (the data cannot tell)."""
        return a if self.high < 0 else b if self.low > 0 else None


def group_labels(n: int, groups: int, seed: int) -> np.ndarray:
    """Each index's group: a seeded permutation dealt round-robin, so groups differ in size by at most 1
    and no ordering of the set (by class, say) lines up with them."""
    labels = np.empty(n, dtype=np.int64)
    labels[np.random.default_rng(seed).permutation(n)] = np.arange(n) % groups
    return labels


def second_order_overcount(groups: int) -> float:
    """How many times the delete-a-group jackknife counts a U-statistic's second-order (degenerate)
    variance: G(2G-3)/(G-1)^2, 2.10 at G = 10. Deleting a group removes its within-group pairs as well
    as its pairs with the other groups; counting both gives this factor, for one-sample and two-sample
    parts alike (derived twice independently and checked on toy kernels; benchmarks/RESULTS.md)."""
    return groups * (2 * groups - 3) / (groups - 1) ** 2


def jackknife(estimate: float, replicates: np.ndarray, level: float, second_order: float = 0.0) -> Interval:
    """Interval from the G leave-one-group-out values of a statistic (Efron & Tibshirani 1993, 11.5).

    `second_order`: for a U-statistic, an estimate of the variance of its second-order (degenerate)
    part, which the jackknife counts `second_order_overcount(G)` times instead of once. Where the
    compared distributions are alike that part is all the variance, and the plain jackknife's
    intervals over-cover (98-99.8 % at nominal 95 %, benchmarks/verdict_truth.py). The excess is
    subtracted, floored at the jackknife's variance / the overcount (the all-degenerate case)."""
    values = np.asarray(replicates, np.float64)
    groups = len(values)
    if groups < 2:
        raise ValueError(f"a jackknife needs at least 2 groups, got {groups}")
    variance = (groups - 1) / groups * float(((values - values.mean()) ** 2).sum())
    if second_order > 0:  # not where none is given, nor NaN (non-finite features): the plain jackknife
        overcount = second_order_overcount(groups)
        variance = max(variance - (overcount - 1) * second_order, variance / overcount)
    se = float(np.sqrt(variance))
    half = float(stats.t.ppf(0.5 + level / 2, groups - 1)) * se
    return Interval(float(estimate), float(estimate) - half, float(estimate) + half, level, se, groups)


def t_interval(values: np.ndarray, level: float) -> Interval:
    """Mean of independent replicates (e.g. one value per training seed) +- t_{k-1} x its standard error."""
    values = np.asarray(values, np.float64)
    if len(values) < 2:
        raise ValueError(f"a t-interval needs at least 2 values, got {len(values)}")
    se = float(values.std(ddof=1) / np.sqrt(len(values)))
    half = float(stats.t.ppf(0.5 + level / 2, len(values) - 1)) * se
    mean = float(values.mean())
    return Interval(mean, mean - half, mean + half, level, se, len(values))


def seeds_and_groups(differences: np.ndarray, replicates: np.ndarray, level: float) -> Interval:
    """The mean over S training seeds of a paired difference, with an interval that holds both the
    seeds' noise and the noise of the image sets the replicates share (the reference set and the
    sampling seeds, the same for every replicate).

    `replicates[s, g]` is seed s's difference with image group g left out (the same groups for
    every seed). The seed part is the spread of the S differences (var / S); the image part is the
    delete-a-group jackknife of the mean over seeds, in which the shared noise does not average
    out. Their sum counts the seeds' own sampling noise twice, so it errs wide; the t reference
    has Welch-Satterthwaite degrees of freedom. A t-interval over the S differences alone leaves
    the shared part out (benchmarks/verdict_truth.py --seeds measures both)."""
    differences = np.asarray(differences, np.float64)
    replicates = np.asarray(replicates, np.float64)
    seeds, groups = replicates.shape
    if seeds < 2 or groups < 2 or len(differences) != seeds:
        raise ValueError(f"need >= 2 seeds and >= 2 groups with one difference per seed, got {replicates.shape}")
    mean = float(differences.mean())
    pooled = replicates.mean(axis=0)
    var_groups = (groups - 1) / groups * float(((pooled - pooled.mean()) ** 2).sum())
    var_seeds = float(differences.var(ddof=1)) / seeds
    total = var_groups + var_seeds
    if total > 0:
        df = total**2 / (var_groups**2 / (groups - 1) + var_seeds**2 / (seeds - 1))
    else:
        df = float(groups - 1)
    se = float(np.sqrt(total))
    half = float(stats.t.ppf(0.5 + level / 2, df)) * se
    return Interval(mean, mean - half, mean + half, level, se, groups, df)


def check_groups(groups: int, *sizes: int) -> None:
    if groups < 2 or min(sizes) < 2 * groups:
        raise ValueError(f"{groups} jackknife groups need at least {2 * groups} images per set, got {min(sizes)}")


def fid_interval(generated: np.ndarray, reference: np.ndarray, level: float, groups: int, seed: int = 0) -> Interval:
    """FID of `generated` against the fixed `reference`, with the generated set's groups left out in turn."""
    check_groups(groups, len(generated))
    labels = group_labels(len(generated), groups, seed)
    fixed = FeatureSet(reference)
    replicates = [frechet_of_sets(FeatureSet(generated[labels != g]), fixed) for g in range(groups)]
    return jackknife(frechet_of_sets(FeatureSet(generated), fixed), np.array(replicates), level)


@dataclass(frozen=True)
class PairedDifference:
    """FID(a) - FID(b) against one reference set, its interval, and the two FIDs."""

    fid_a: float
    fid_b: float
    interval: Interval


def fid_difference(
    generated_a: np.ndarray, generated_b: np.ndarray, reference: np.ndarray, level: float, groups: int, seed: int = 0
) -> PairedDifference:
    """FID(a) - FID(b) against one reference; negative means a is closer to the data."""
    if len(generated_a) != len(generated_b):
        raise ValueError(f"paired sets must have equal sizes, got {len(generated_a)} and {len(generated_b)}")
    check_groups(groups, len(generated_a), len(reference))
    paired = group_labels(len(generated_a), groups, seed)
    ref = group_labels(len(reference), groups, seed + 1)

    def fids(keep: np.ndarray, keep_ref: np.ndarray) -> tuple[float, float]:
        shared = FeatureSet(reference[keep_ref])  # prepared once for both runs
        return tuple(frechet_of_sets(FeatureSet(x[keep]), shared) for x in (generated_a, generated_b))

    fid_a, fid_b = fids(np.ones(len(generated_a), bool), np.ones(len(reference), bool))
    replicates = [np.subtract(*fids(paired != g, ref != g)) for g in range(groups)]
    return PairedDifference(fid_a, fid_b, jackknife(fid_a - fid_b, np.array(replicates), level))


@dataclass(frozen=True)
class InfinityFit:
    """FID at infinity, the fit it comes from, and its interval (None without jackknife groups)."""

    estimate: float
    slope: float  # FID(N) ~ estimate + slope / N, N the generated subset size
    sizes: list[int]
    values: list[float]
    interval: Interval | None


def _fid_at_infinity(
    generated: np.ndarray, reference: np.ndarray, fractions: list[float], order_gen: np.ndarray, order_ref: np.ndarray
) -> tuple[float, float, list[int], list[float]]:
    """Fit FID(f) = a + b / N_f over nested subsets (fixed orders) holding the fraction f of each set.

    Both sets shrink together, so both their finite-size biases (each ~ 1/size) are linear in 1/f
    and the intercept estimates the distance between the two distributions, not FID against this
    reference set.
    """
    sizes, values = [], []
    for fraction in fractions:
        n, m = max(2, round(fraction * len(order_gen))), max(2, round(fraction * len(order_ref)))
        sizes.append(n)
        values.append(frechet_of_features(generated[order_gen[:n]], reference[order_ref[:m]]))
    slope, intercept = np.polyfit(1.0 / np.array(sizes, np.float64), values, 1)
    return float(intercept), float(slope), sizes, values


def fid_infinity(
    generated: np.ndarray,
    reference: np.ndarray,
    fractions: list[float],
    level: float,
    groups: int,
    seed: int = 0,
) -> InfinityFit:
    """Chong & Forsyth's FID_inf, both sets extrapolated, with a jackknife interval over both sets'
    groups (groups = 0: the estimate alone)."""
    if len(set(fractions)) < 2:
        raise ValueError(f"FID at infinity needs at least 2 distinct subset fractions, got {fractions}")
    rng = np.random.default_rng(seed)
    order_gen, order_ref = rng.permutation(len(generated)), rng.permutation(len(reference))
    intercept, slope, sizes, values = _fid_at_infinity(generated, reference, fractions, order_gen, order_ref)
    if not groups:
        return InfinityFit(intercept, slope, sizes, values, None)
    check_groups(groups, len(generated), len(reference))
    labels_gen = group_labels(len(generated), groups, seed + 2)
    labels_ref = group_labels(len(reference), groups, seed + 3)
    replicates = []
    for g in range(groups):
        # The same nested orders with group g's images taken out.
        kept_gen = order_gen[labels_gen[order_gen] != g]
        kept_ref = order_ref[labels_ref[order_ref] != g]
        replicates.append(_fid_at_infinity(generated, reference, fractions, kept_gen, kept_ref)[0])
    return InfinityFit(intercept, slope, sizes, values, jackknife(intercept, np.array(replicates), level))
