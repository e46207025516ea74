"""Scores of a rating study: HYPE-infinity per run, Bradley-Terry strengths of the preferences,
agreement between raters; intervals by a bootstrap over raters and images together, and for
HYPE and win rates score intervals that keep their level at 0 and 1.

HYPE-infinity (Zhou et al. 2019) is the rate at which people misclassify images when half are
real and half generated: 50 % means they cannot tell the run's samples from real images. With
several runs in one study the real images are shared, so a run's score is the balanced error
0.5 (its samples judged real + real images judged generated), which is the paper's error rate when
the two halves are equal. Its interval resamples raters and images at once, as HYPE's does,
since both vary between studies; the Bradley-Terry interval does the same with the comparisons.

A percentile bootstrap of a proportion at 0 or 1 cannot widen (one rater who tells every image
apart gives HYPE 0.0 [0.0, 0.0] from a handful of trials). HYPE's interval is therefore Wilson's
score interval for each of its two error rates, on the judgements' effective number (their count
divided by the design effect that the bootstrap measures, at least 1), combined into the interval
of their mean by Newcombe's MOVER (Zou & Donner 2008); the win rate's is Wilson's on the
comparisons' effective number, with raters as clusters. benchmarks/human_intervals.py measures
their coverage with simulated raters.
"""

from __future__ import annotations

import itertools
from dataclasses import asdict, dataclass

import choix
import krippendorff
import numpy as np
from scipy import stats

from diffbench.humaneval.answers import RaterAnswers
from diffbench.humaneval.trials import GENERATED, REAL, REAL_OR_GENERATED, WHICH_IS_BETTER
from diffbench.specs import HumanEvalSpec


@dataclass(frozen=True)
class RunScore:
    """One run's human scores (NaN where its trials kind was not in the study or had no answers)."""

    run: str
    hype: float  # balanced error rate, 0.5 = indistinguishable from real
    hype_ci_low: float
    hype_ci_high: float
    fake_error: float  # share of its samples judged real
    n_fake_trials: int
    bt_strength: float  # Bradley-Terry log-strength, mean 0 over the runs
    bt_ci_low: float
    bt_ci_high: float
    win_rate: float  # share of its pairwise comparisons won
    win_rate_ci_low: float
    win_rate_ci_high: float
    n_comparisons: int


@dataclass(frozen=True)
class RaterRecord:
    rater: str
    file: str
    failed_checks: int
    attention_checks: int
    excluded: bool
    median_rt_ms: float


def attention_failures(answers: RaterAnswers, truth: dict[str, dict]) -> tuple[int, int]:
    """(failed, total) attention checks of one rater."""
    checks = [t for t, info in truth.items() if info["attention"]]
    return sum(answers.responses[t] != truth[t]["answer"] for t in checks), len(checks)


def rater_records(accepted: list[RaterAnswers], truth: dict[str, dict], max_failed: int) -> list[RaterRecord]:
    records = []
    for answers in accepted:
        failed, total = attention_failures(answers, truth)
        times = [v for v in answers.rt_ms.values() if np.isfinite(v)]
        records.append(RaterRecord(answers.rater, answers.file, failed, total, failed > max_failed,
                                   float(np.median(times)) if times else float("nan")))  # fmt: skip
    return records


def _interval(values: np.ndarray, level: float) -> tuple[float, float]:
    values = values[np.isfinite(values)]
    if len(values) == 0:
        return float("nan"), float("nan")
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(values, [tail, 100 - tail])
    return float(low), float(high)


def wilson(p: float, n: float, level: float) -> tuple[float, float]:
    """Wilson's score interval of a proportion p observed on n (effective) trials: unlike the Wald
    or a percentile bootstrap interval it has width at p = 0 and 1 (upper bound z^2 / (n + z^2) at 0).

    Written out rather than scipy's `binomtest(k, n).proportion_ci("wilson")`, which takes integer
    counts: the effective n here (count over design effect) is fractional."""
    if not n > 0 or not np.isfinite(p):
        return float("nan"), float("nan")
    z = float(stats.norm.ppf(0.5 + level / 2))
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return float(max(0.0, centre - half)), float(min(1.0, centre + half))


def effective_n(p: float, n: int, variance: float) -> float:
    """n divided by the design effect: the measured variance of p (clustered judgements) over the
    binomial one, at least 1. At p = 0 or 1 no clustering can be measured, and n is kept."""
    binomial = p * (1 - p) / n if n else 0.0
    if not binomial > 0 or not np.isfinite(variance):
        return float(n)
    return float(n / max(1.0, variance / binomial))


def _weights(rng: np.random.Generator, n: int) -> np.ndarray:
    """How often each of n units is drawn in one bootstrap resample."""
    return rng.multinomial(n, np.full(n, 1 / n)).astype(float)


def hype_scores(
    raters: list[RaterAnswers], truth: dict[str, dict], labels: list[str], resamples: int, level: float, seed: int
) -> tuple[dict[str, dict], np.ndarray]:
    """Per run: HYPE-infinity, its interval, the share of its samples judged real; and the bootstrap
    draws (resamples, runs), whose differences give the intervals of differences between runs."""
    scored = {t: i for t, i in truth.items() if i["kind"] == REAL_OR_GENERATED and not i["attention"]}
    reals = [t for t, i in scored.items() if i["answer"] == REAL]
    fakes = {
        label: [t for t, i in scored.items() if i["answer"] == GENERATED and i["runs"] == [label]] for label in labels
    }
    empty = {"hype": np.nan, "hype_ci_low": np.nan, "hype_ci_high": np.nan, "fake_error": np.nan, "n_fake_trials": 0}
    if not raters or not reals:
        return {label: {**empty, "n_fake_trials": len(fakes[label])} for label in labels}, np.empty((0, len(labels)))
    # wrong[r, t]: rater r misclassified trial t (reals first, then each run's samples)
    columns = reals + [t for label in labels for t in fakes[label]]
    wrong = np.array([[r.responses[t] != truth[t]["answer"] for t in columns] for r in raters], dtype=float)
    real_cols = np.arange(len(reals))
    run_cols, start = {}, len(reals)
    for label in labels:
        run_cols[label] = np.arange(start, start + len(fakes[label]))
        start += len(fakes[label])

    def scores(rater_w: np.ndarray, trial_w: np.ndarray) -> tuple[float, dict[str, float]]:
        """The reals' error rate and each run's fake error rate under these weights."""
        per_trial = rater_w @ wrong / rater_w.sum()  # each trial's error rate over the (resampled) raters
        real_error = np.average(per_trial[real_cols], weights=trial_w[real_cols])
        fake = {}
        for label, cols in run_cols.items():
            usable = len(cols) and trial_w[cols].sum() > 0
            fake[label] = np.average(per_trial[cols], weights=trial_w[cols]) if usable else np.nan
        return real_error, fake

    real_point, fake_point = scores(np.ones(len(raters)), np.ones(len(columns)))
    rng = np.random.default_rng(seed)
    real_draws, fake_draws = [], {label: [] for label in labels}
    for _ in range(resamples):
        rater_w = _weights(rng, len(raters))
        # images are resampled within their group (reals, each run's samples): the design is kept
        trial_w = np.zeros(len(columns))
        for cols in [real_cols, *run_cols.values()]:
            if len(cols):
                trial_w[cols] = _weights(rng, len(cols))
        real_error, fake = scores(rater_w, trial_w)
        real_draws.append(real_error)
        for label in labels:
            fake_draws[label].append(fake[label])
    real_draws = np.array(real_draws)
    n_real = len(raters) * len(reals)
    real_low, real_high = wilson(real_point, effective_n(real_point, n_real, real_draws.var()), level)
    result, draws = {}, []
    for label in labels:
        fake_error, values = fake_point[label], np.array(fake_draws[label])
        hype_draws = 0.5 * (values + real_draws)
        draws.append(hype_draws)
        hype = 0.5 * (fake_error + real_point)
        n_fake = len(raters) * len(fakes[label])
        fake_low, fake_high = (
            wilson(fake_error, effective_n(fake_error, n_fake, np.nanvar(values)), level)
            if n_fake
            else (np.nan, np.nan)
        )
        # MOVER: the interval of a mean of two independent proportions from each one's interval
        low = hype - 0.5 * np.hypot(fake_error - fake_low, real_point - real_low)
        high = hype + 0.5 * np.hypot(fake_high - fake_error, real_high - real_point)
        result[label] = {"hype": float(hype), "hype_ci_low": float(low), "hype_ci_high": float(high),
                         "fake_error": float(fake_error), "n_fake_trials": len(fakes[label])}  # fmt: skip
    return result, np.array(draws).T


def _comparisons(raters: list[RaterAnswers], truth: dict[str, dict], labels: list[str]) -> np.ndarray:
    """(rater index, trial index, winner, loser) per answered preference trial."""
    trials = [t for t, i in truth.items() if i["kind"] == WHICH_IS_BETTER and not i["attention"]]
    index = {label: k for k, label in enumerate(labels)}
    rows = []
    for r, answers in enumerate(raters):
        for k, t in enumerate(trials):
            runs = truth[t]["runs"]
            chosen = answers.responses[t]
            rows.append((r, k, index[runs[chosen]], index[runs[1 - chosen]]))
    return np.array(rows, dtype=int).reshape(-1, 4)


def _fit(labels: list[str], rows: np.ndarray, weights: np.ndarray, alpha: float) -> np.ndarray:
    """Bradley-Terry log-strengths (mean 0) of weighted comparisons: choix's maximum-likelihood fit
    (ILSR) on the matrix of wins, its rates started at `alpha` (a pseudo-count that keeps the
    strengths finite when one run wins every comparison)."""
    wins = np.zeros((len(labels), len(labels)))
    np.add.at(wins, (rows[:, 2], rows[:, 3]), weights)
    if not wins.any():
        return np.full(len(labels), np.nan)
    params = choix.ilsr_pairwise_dense(wins, alpha=alpha)
    return params - params.mean()


def _win_rate_interval(raters: np.ndarray, won: np.ndarray, level: float) -> tuple[float, float]:
    """Wilson interval of a win rate whose comparisons are clustered by rater: the variance of the
    ratio estimator over raters (clusters) gives the design effect."""
    if len(won) == 0:
        return float("nan"), float("nan")
    p, n = float(won.mean()), len(won)
    clusters = np.unique(raters)
    if len(clusters) < 2:
        return wilson(p, n, level)
    wins = np.array([won[raters == r].sum() for r in clusters])
    counts = np.array([(raters == r).sum() for r in clusters])
    variance = len(clusters) / (len(clusters) - 1) * ((wins - p * counts) ** 2).sum() / n**2
    return wilson(p, effective_n(p, n, variance), level)


def bradley_terry(
    raters: list[RaterAnswers], truth: dict[str, dict], labels: list[str], resamples: int, level: float,
    alpha: float, seed: int,
) -> tuple[dict[str, dict], np.ndarray]:  # fmt: skip
    """Per run: Bradley-Terry strength with its interval (raters and trials resampled), win rate;
    and the bootstrap draws (resamples, runs)."""
    rows = _comparisons(raters, truth, labels)
    empty = {"bt_strength": np.nan, "bt_ci_low": np.nan, "bt_ci_high": np.nan, "win_rate": np.nan,
             "win_rate_ci_low": np.nan, "win_rate_ci_high": np.nan, "n_comparisons": 0}  # fmt: skip
    if len(rows) == 0:
        return {label: dict(empty) for label in labels}, np.empty((0, len(labels)))
    point = _fit(labels, rows, np.ones(len(rows)), alpha)
    n_raters, n_trials = rows[:, 0].max() + 1, rows[:, 1].max() + 1
    rng = np.random.default_rng(seed)
    draws = np.array([
        _fit(labels, rows, _weights(rng, n_raters)[rows[:, 0]] * _weights(rng, n_trials)[rows[:, 1]], alpha)
        for _ in range(resamples)
    ])  # fmt: skip
    result = {}
    for k, label in enumerate(labels):
        involved = (rows[:, 2] == k) | (rows[:, 3] == k)
        low, high = _interval(draws[:, k], level)
        win_low, win_high = _win_rate_interval(rows[involved, 0], rows[involved, 2] == k, level)
        result[label] = {
            "bt_strength": float(point[k]), "bt_ci_low": low, "bt_ci_high": high,
            "win_rate": float((rows[involved, 2] == k).mean()) if involved.any() else np.nan,
            "win_rate_ci_low": win_low, "win_rate_ci_high": win_high,
            "n_comparisons": int(involved.sum()),
        }  # fmt: skip
    return result, draws


def agreement(raters: list[RaterAnswers], truth: dict[str, dict]) -> dict[str, float | None]:
    """Krippendorff's alpha (nominal) per trial kind over the scored trials: 1 = raters agree fully,
    0 = no more than chance. None with fewer than two raters or no variation to measure."""
    out: dict[str, float | None] = {}
    for kind in (REAL_OR_GENERATED, WHICH_IS_BETTER):
        trials = [t for t, i in truth.items() if i["kind"] == kind and not i["attention"]]
        codes = {REAL: 1, GENERATED: 0, 0: 0, 1: 1}
        data = np.array([[codes[r.responses[t]] for t in trials] for r in raters], dtype=float)
        if len(raters) < 2 or not trials or len(np.unique(data)) < 2:
            out[kind] = None
        else:
            out[kind] = float(krippendorff.alpha(reliability_data=data, level_of_measurement="nominal"))
    return out


@dataclass(frozen=True)
class Difference:
    """score(run_a) - score(run_b) with its own bootstrap interval; `better` names the run whose
    score is higher only when the interval excludes zero (None: the data cannot tell)."""

    score: str  # "hype" or "bt_strength"
    run_a: str
    run_b: str
    difference: float
    ci_low: float
    ci_high: float
    better: str | None


def differences(score: str, point: dict[str, dict], draws: np.ndarray, labels: list[str], level: float) -> list:
    """Every pair of runs' difference in `score`, its interval from the same bootstrap draws."""
    out = []
    for i, j in itertools.combinations(range(len(labels)), 2):
        a, b = labels[i], labels[j]
        diff = point[a][score] - point[b][score]
        if not np.isfinite(diff) or len(draws) == 0:
            continue
        low, high = _interval(draws[:, i] - draws[:, j], level)
        better = a if low > 0 else b if high < 0 else None
        out.append(Difference(score, a, b, float(diff), low, high, better))
    return out


def study_scores(
    accepted: list[RaterAnswers], truth: dict[str, dict], labels: list[str], spec: HumanEvalSpec
) -> tuple[list[RunScore], list[Difference], list[RaterRecord], dict]:
    """Run scores and their pairwise differences from the raters who passed the attention checks
    (at most `spec.max_failed_checks` failed), every rater's record, agreement."""
    records = rater_records(accepted, truth, spec.max_failed_checks)
    kept = [a for a, r in zip(accepted, records, strict=True) if not r.excluded]
    seed, resamples, level = spec.seed, spec.bootstrap, spec.ci_level
    hype, hype_draws = hype_scores(kept, truth, labels, resamples, level, seed)
    bt, bt_draws = bradley_terry(kept, truth, labels, resamples, level, spec.bt_regularization, seed + 1)
    runs = [RunScore(run=label, **hype[label], **bt[label]) for label in labels]
    pairs = differences("hype", hype, hype_draws, labels, level)
    pairs += differences("bt_strength", bt, bt_draws, labels, level)
    return runs, pairs, records, agreement(kept, truth)


def as_dicts(items) -> list[dict]:
    return [asdict(item) for item in items]
