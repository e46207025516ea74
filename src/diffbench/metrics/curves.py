"""Quality against training compute: the compute a model saves to reach a quality, and where two curves cross.

A curve is one model's quality statistic (lower is better: KID, FID) at each milestone of its
training, against the model's total training compute there (a latent model's first stage included).
Between milestones it is read linearly in log compute, after a non-increasing isotonic fit
(scipy's pool-adjacent-violators): training does not make a model worse in expectation, and
without the fit one noisy dip would decide where a curve "first reaches" a quality.

Intervals come from the delete-a-group jackknife (metrics/intervals.py) over the image groups that
every milestone's evaluation shares (the same sampling seeds and the same reference images, so the
groups line up across milestones and models): each functional below is recomputed with group g
left out of every point of both curves at once, so its interval carries the noise of both curves
and of the reference they share. With training-seed replicates, `seeds_and_groups` adds the
seeds' spread. benchmarks/savings_truth.py measures the coverage where the truth is known.

- `savings`: the compute-savings factor C_a(q) / C_b(q), the ratio of the compute at which a
  reaches quality q to the compute at which b does (q: a's final quality by default), with its
  interval on the log scale; where b does not reach q within its measured range the factor is
  only bounded, and said so.
- `crossover`: whether b's curve crosses a's within the compute range both were measured over.
  "crosses" needs the differences at both ends of the range to exclude 0 with opposite signs (so a
  crossing exists between them) and locates the first one with an interval; "below"/"above" needs
  every difference on the common range to exclude 0 with one sign (an intersection-union test,
  valid at the stated level without correction); anything else is "cannot tell". A crossing's
  interval is the compute range where the difference's interval holds 0 (test inversion).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import isotonic_regression

from diffbench.metrics.intervals import Interval, jackknife, seeds_and_groups


@dataclass(frozen=True)
class Curve:
    """A model's statistic at its milestones. `replicates[k, g]`: milestone k's statistic with image
    group g left out (the same groups at every milestone and for every curve it is compared with)."""

    compute: np.ndarray
    quality: np.ndarray
    replicates: np.ndarray

    @classmethod
    def of(cls, compute, quality, replicates) -> Curve:
        compute, quality = np.asarray(compute, np.float64), np.asarray(quality, np.float64)
        replicates = np.asarray(replicates, np.float64)
        if compute.ndim != 1 or len(compute) < 2 or quality.shape != compute.shape:
            raise ValueError(f"a curve needs >= 2 milestones with one value each, got {compute.shape}, {quality.shape}")
        if not (np.all(compute > 0) and np.all(np.diff(compute) > 0)):
            raise ValueError(f"a curve's compute must be positive and increasing, got {compute.tolist()}")
        if replicates.ndim != 2 or replicates.shape[0] != len(compute) or replicates.shape[1] < 2:
            raise ValueError(f"replicates must be (milestones, groups >= 2), got {replicates.shape}")
        return cls(compute, quality, replicates)

    @property
    def groups(self) -> int:
        return self.replicates.shape[1]

    def values(self, left_out: int | None) -> np.ndarray:
        return self.quality if left_out is None else self.replicates[:, left_out]


def monotone(quality: np.ndarray) -> np.ndarray:
    """The closest non-increasing sequence in least squares (isotonic regression)."""
    return isotonic_regression(quality, increasing=False).x


def compute_to_reach(compute: np.ndarray, quality: np.ndarray, target: float) -> tuple[float, str]:
    """(compute, "reached") where the monotone curve first reaches `target`, read linearly in log
    compute; (first compute, "before") if it is there at the first milestone, (nan, "beyond") if it
    never gets there within the measured range."""
    fitted = monotone(quality)
    if fitted[0] <= target:
        return float(compute[0]), "before"
    if fitted[-1] > target:
        return math.nan, "beyond"
    k = int(np.argmax(fitted <= target))  # first milestone at or below; fitted[k - 1] > target
    logs = np.log(compute[k - 1 : k + 1])
    share = (fitted[k - 1] - target) / (fitted[k - 1] - fitted[k])
    return float(np.exp(logs[0] + share * (logs[1] - logs[0]))), "reached"


@dataclass(frozen=True)
class Savings:
    """factor = C_a(target) / C_b(target): > 1 when b reaches a's quality with less compute. `state`:
    "reached" (factor and interval), "beyond" (b does not reach it within its range: factor is an
    upper bound, a's compute over b's last), "before" (b is there at its first milestone: factor is
    a lower bound). `interval` (of the factor) is None unless every jackknife replicate reached it.
    `gap`, for a bound: the interval of b's monotone quality at its last ("beyond") or first
    ("before") milestone minus the target; the bound holds at the stated level only when it
    excludes 0 (beyond: above it; before: below it), else the data cannot tell."""

    target: float
    compute_a: float
    compute_b: float
    factor: float
    state: str
    interval: Interval | None
    gap: Interval | None = None

    @property
    def bound_holds(self) -> bool:
        return self.gap is not None and (self.gap.low > 0 if self.state == "beyond" else self.gap.high < 0)


def _gap(a: Curve, b: Curve, state: str, target: float | None, left_out: int | None) -> float:
    goal = float(monotone(a.values(left_out))[-1]) if target is None else target
    fitted = monotone(b.values(left_out))
    return float((fitted[-1] if state == "beyond" else fitted[0]) - goal)


def _log_savings(
    a: Curve, b: Curve, target: float | None, left_out: int | None
) -> tuple[float, str, float, float, float]:
    """(log factor, b's state, target, a's compute, b's compute) with group `left_out` deleted."""
    qa, qb = a.values(left_out), b.values(left_out)
    goal = float(monotone(qa)[-1]) if target is None else target
    ca, state_a = compute_to_reach(a.compute, qa, goal)
    cb, state_b = compute_to_reach(b.compute, qb, goal)
    if state_a != "reached" and not (target is None and state_a == "before"):
        # a fixed target outside a's own range: no ratio to take
        return math.nan, f"a {state_a}", goal, ca, cb
    if state_b == "beyond":
        return math.log(ca / b.compute[-1]), "beyond", goal, ca, cb
    return math.log(ca / cb), state_b, goal, ca, cb


def savings(a: Curve, b: Curve, level: float, target: float | None = None) -> Savings:
    """How much less (factor > 1) or more compute b needs than a to reach `target` (None: a's final
    quality, from its monotone fit), with a jackknife interval on log(factor)."""
    _check_pair(a, b)
    log_factor, state, goal, ca, cb = _log_savings(a, b, target, None)
    if state.startswith("a "):
        raise ValueError(f"target {target:g} is outside the first curve's measured range ({state[2:]} it)")
    interval = gap = None
    if state == "reached":
        replicates = [_log_savings(a, b, target, g) for g in range(a.groups)]
        if all(r[1] == "reached" for r in replicates):
            interval = _exp(jackknife(log_factor, np.array([r[0] for r in replicates]), level))
    else:
        gaps = np.array([_gap(a, b, state, target, g) for g in range(a.groups)])
        gap = jackknife(_gap(a, b, state, target, None), gaps, level)
    return Savings(goal, ca, cb, math.exp(log_factor), state, interval, gap)


def savings_over_seeds(pairs: list[tuple[Curve, Curve]], level: float, target: float | None = None) -> Interval | None:
    """The geometric mean savings factor over training seeds (one (a, b) pair of curves per seed,
    the same image groups in all), its interval holding the seeds' spread and the shared image
    noise (`seeds_and_groups`); None unless every seed and replicate reached the target."""
    logs, rows = [], []
    for a, b in pairs:
        _check_pair(a, b)
        estimate = _log_savings(a, b, target, None)
        replicates = [_log_savings(a, b, target, g) for g in range(a.groups)]
        if estimate[1] != "reached" or any(r[1] != "reached" for r in replicates):
            return None
        logs.append(estimate[0])
        rows.append([r[0] for r in replicates])
    return _exp(seeds_and_groups(np.array(logs), np.array(rows), level))


@dataclass(frozen=True)
class Crossover:
    """Where b's curve crosses a's. `state`: "crosses" (b - a changes sign within [low, high] with
    both ends significant; `compute` is the first crossing and `interval` the compute range that
    the data cannot tell from it, clipped to [low, high]), "below"/"above" (b lies below/above a at
    every common point, significantly), or "cannot tell". `low`, `high`: the common compute range."""

    state: str
    low: float
    high: float
    compute: float | None
    interval: Interval | None


def _knots(a: Curve, b: Curve) -> np.ndarray:
    low, high = max(a.compute[0], b.compute[0]), min(a.compute[-1], b.compute[-1])
    if low >= high:
        raise ValueError(f"the curves share no compute range ({a.compute[[0, -1]]} and {b.compute[[0, -1]]})")
    inner = np.concatenate([a.compute, b.compute])
    return np.unique(np.concatenate([[low, high], inner[(inner > low) & (inner < high)]]))


def _difference(a: Curve, b: Curve, knots: np.ndarray, left_out: int | None) -> np.ndarray:
    """b - a at the knots (both curves monotone-fitted, read linearly in log compute)."""
    logs = np.log(knots)
    fa = np.interp(logs, np.log(a.compute), monotone(a.values(left_out)))
    fb = np.interp(logs, np.log(b.compute), monotone(b.values(left_out)))
    return fb - fa


def _first_root(knots: np.ndarray, difference: np.ndarray) -> float | None:
    """log compute of the first sign change of the piecewise-linear difference (None: none)."""
    logs = np.log(knots)
    for k in range(len(knots) - 1):
        d0, d1 = difference[k], difference[k + 1]
        if d0 == 0:
            return float(logs[k])
        if d0 * d1 < 0:
            return float(logs[k] + d0 / (d0 - d1) * (logs[k + 1] - logs[k]))
    return float(logs[-1]) if difference[-1] == 0 else None


def crossover(a: Curve, b: Curve, level: float, grid: int = 257) -> Crossover:
    """Whether and where b's curve crosses a's (see the module docstring for the tests behind each state).

    A crossing's interval inverts the pointwise test (Fieller's construction for the root of a
    difference): the compute values, on a grid of `grid` points in log compute, at which the
    jackknife interval of b - a holds 0, taken as the run of them around the estimated crossing.
    It holds the true crossing whenever the pointwise interval there holds 0, so it keeps its level
    where the crossing is barely detected; a jackknife of the root itself undercovers there (its
    leave-one-out roots stay near the estimate however flat the difference is)."""
    _check_pair(a, b)
    knots = _knots(a, b)
    low, high = float(knots[0]), float(knots[-1])
    ends = _pointwise(a, b, knots[[0, -1]], level)
    if not ((ends[0].high < 0 < ends[1].low) or (ends[1].high < 0 < ends[0].low)):
        pointwise = _pointwise(a, b, knots, level)
        if all(p.high < 0 for p in pointwise):
            return Crossover("below", low, high, None, None)
        if all(p.low > 0 for p in pointwise):
            return Crossover("above", low, high, None, None)
        return Crossover("cannot tell", low, high, None, None)
    root = _first_root(knots, _difference(a, b, knots, None))
    points = np.unique(np.concatenate([knots, np.exp(np.linspace(np.log(low), np.log(high), grid)), [math.exp(root)]]))
    bounds = _pointwise(a, b, points, level)
    lows, highs = np.array([p.low for p in bounds]), np.array([p.high for p in bounds])
    holds_zero = (lows <= 0) & (highs >= 0)
    at = int(np.searchsorted(points, math.exp(root)))
    start, stop = at, at
    while start > 0 and holds_zero[start - 1]:
        start -= 1
    while stop < len(points) - 1 and holds_zero[stop + 1]:
        stop += 1
    logs = np.log(points)

    def edge(inside: int, outside: int) -> float:
        """Where the interval's bound that excludes 0 at `outside` reaches 0, linearly in log compute."""
        if not 0 <= outside < len(points):
            return float(points[inside])
        bound = lows if lows[outside] > 0 else highs
        share = bound[inside] / (bound[inside] - bound[outside])
        return float(np.exp(logs[inside] + share * (logs[outside] - logs[inside])))

    interval = Interval(math.exp(root), edge(start, start - 1), edge(stop, stop + 1), level, math.nan, a.groups)
    return Crossover("crosses", low, high, math.exp(root), interval)


def _pointwise(a: Curve, b: Curve, points: np.ndarray, level: float) -> list[Interval]:
    """Jackknife intervals of b - a at each compute value in `points`."""
    estimate = _difference(a, b, points, None)
    replicates = np.array([_difference(a, b, points, g) for g in range(a.groups)])
    return [jackknife(estimate[k], replicates[:, k], level) for k in range(len(points))]


def _check_pair(a: Curve, b: Curve) -> None:
    if a.groups != b.groups:
        raise ValueError(f"curves compared must share their image groups, got {a.groups} and {b.groups}")


def _exp(interval: Interval) -> Interval:
    """An interval on the log scale, back on the ratio scale (se stays that of the log)."""
    return Interval(
        math.exp(interval.estimate), math.exp(interval.low), math.exp(interval.high),
        interval.level, interval.se, interval.groups, interval.df,
    )  # fmt: skip
