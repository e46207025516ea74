"""Does a verdict name the truly better model? FID at n, FID at infinity and KID against known truths.

Gaussian "Inception features" in d dimensions, where the data distribution and two models are
known, so which model is closer to the data is known too. Model a is always the data's own
distribution; model b is, by case:

- equal:     the data's distribution too (no model is better: a verdict is a false alarm);
- collapsed: the data's covariance shrunk to 0.4x (variance collapse), same mean;
- shifted:   the data's mean moved by half a standard deviation in every direction;
- dropped:   the data is a mixture of two modes; b samples one of them (mode dropping).

Each trial draws fresh sets (a, b and the reference, n of each, paired by position as seeds
pair them), and asks each statistic for a verdict at the stated level: FID_n and KID through
their paired intervals (`fid_difference`, `kid_difference`: a when the interval lies below 0,
b when above), FID at infinity through the two runs' own intervals (a verdict when they do not
overlap). It counts how often the verdict names a (right), b (wrong: the truly worse model) and
neither; and how often each interval covers its own target:

- FID_a - FID_b: E[FID_n(a) - FID_n(b)], estimated by the mean over the trials;
- KID_a - KID_b: the true MMD^2(a, data) - MMD^2(b, data); KID is unbiased, so the trial mean
  estimates it without bias (0 exactly in the equal case);
- FID_inf: the analytic Fréchet distance of each model's Gaussian fit to the data's (both runs).

With `--seeds S`, training-seed replicates instead: S replicates of each model, each moved from
its model by its own seed effect (a random mean shift of `--seed-effect` standard deviations), all
sampled from the same initial noise (as replicates share sampling seeds) and scored against one
reference set. It prints how often the pooled interval covers the mean difference over the
seeds' distribution: ours over seeds and image groups (`seeds_and_groups`) beside the t-interval
over the S differences that the report used before. With `--one-sided` as well, only model a has
replicates: b is one model (a pretrained checkpoint, say) whose one sample set every replicate of
a is paired with, and the target is the mean over a's seeds of KID_a - KID_b.

    python benchmarks/verdict_truth.py --trials 200
    python benchmarks/verdict_truth.py --trials 400 --seeds 3
    python benchmarks/verdict_truth.py --trials 400 --seeds 3 --one-sided
    python benchmarks/verdict_truth.py --trials 400 --single

With `--single`, each run's own KID interval (`kid`: the runs table's and the rKID's) instead:
model a (the data's distribution, KID's target 0) and model b against one reference set, the
coverage of each one's true MMD^2 by the report's interval (the plain jackknife) and by the same
less its second-order overcount, as the paired difference's is.
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")  # one BLAS thread per worker process

import numpy as np  # noqa: E402

from diffbench.config import filled  # noqa: E402
from diffbench.metrics.frechet import frechet_distance  # noqa: E402
from diffbench.metrics.intervals import (  # noqa: E402
    fid_difference,
    fid_infinity,
    jackknife,
    seeds_and_groups,
    t_interval,
)
from diffbench.metrics.kid import kid, kid_difference  # noqa: E402

LEVEL = 0.95
GROUPS = 10
# FID at infinity as the report computes it: the configured default fractions, and only where the
# fit's smallest subset holds MIN_RATIO x d images (elsewhere the report hides it; printed in brackets)
_EVALUATION = filled("$defs/evaluation", {})
FRACTIONS = _EVALUATION["fid_infinity_fractions"]
MIN_RATIO = _EVALUATION["fid_infinity_min_ratio"]
CASES = ("equal", "collapsed", "shifted", "dropped")


class World:
    """The data and model b of one case, in d dimensions with a decaying spectrum in a random basis."""

    def __init__(self, case: str, dim: int, rng: np.random.Generator):
        self.case, self.dim = case, dim
        spectrum = 1.0 / np.arange(1, dim + 1) ** 0.7
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.chol = basis * np.sqrt(spectrum)  # data covariance = chol chol^T
        self.shift = 0.5 * self.chol @ rng.standard_normal(dim)  # half a standard deviation per direction
        self.mode = 2.0 * basis[:, 0] * np.sqrt(spectrum[0])  # the two modes sit at +-mode

    def data(self, n: int, rng) -> np.ndarray:
        x = rng.standard_normal((n, self.dim)) @ self.chol.T
        if self.case == "dropped":
            x += np.where(rng.random(n) < 0.5, 1.0, -1.0)[:, None] * self.mode
        return x

    def model_b(self, n: int, rng) -> np.ndarray:
        x = rng.standard_normal((n, self.dim)) @ self.chol.T
        if self.case == "collapsed":
            return np.sqrt(0.4) * x
        if self.case == "shifted":
            return x + self.shift
        if self.case == "dropped":
            return x + self.mode
        return self.data(n, rng)

    def moments(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        """Mean and covariance of the data ("a") or model b: what FID's Gaussian fit converges to."""
        cov, mean = self.chol @ self.chol.T, np.zeros(self.dim)
        mixture = self.case == "dropped" and which == "a"
        if self.case == "equal" or which == "a":
            return mean, cov + (np.outer(self.mode, self.mode) if mixture else 0)
        return {
            "collapsed": (mean, 0.4 * cov),
            "shifted": (self.shift, cov),
            "dropped": (self.mode, cov),
        }[self.case]


def run_case(job: tuple[str, int, int, int, int, list[float]]) -> dict:
    case, dim, n, trials, seed, fractions = job
    rng = np.random.default_rng(seed)
    world = World(case, dim, rng)
    truth = {w: max(0.0, frechet_distance(*world.moments(w), *world.moments("a"))["fd"]) for w in ("a", "b")}
    started = time.perf_counter()
    verdicts = {s: {"a": 0, "b": 0, None: 0} for s in ("fid", "fid_inf", "kid")}
    fid_rows, kid_rows, plain_rows, inf_hits, inf_widths, kid_variances = [], [], [], 0, [], []
    for trial in range(trials):
        reference, a, b = world.data(n, rng), world.data(n, rng), world.model_b(n, rng)
        fid = fid_difference(a, b, reference, LEVEL, GROUPS, seed=trial).interval
        paired = kid_difference(a, b, reference, LEVEL, GROUPS, seed=trial)
        kid = paired.interval
        plain = jackknife(kid.estimate, np.array(paired.replicates), LEVEL)  # before the second-order correction
        fits = {
            w: fid_infinity(x, reference, fractions, LEVEL, GROUPS, seed=trial).interval
            for w, x in (("a", a), ("b", b))
        }
        verdicts["fid"][fid.better("a", "b")] += 1
        verdicts["kid"][kid.better("a", "b")] += 1
        apart = "a" if fits["a"].high < fits["b"].low else "b" if fits["b"].high < fits["a"].low else None
        verdicts["fid_inf"][apart] += 1
        inf_hits += sum(fits[w].low <= truth[w] <= fits[w].high for w in fits)
        inf_widths += [fits[w].high - fits[w].low for w in fits]
        fid_rows.append((fid.estimate, fid.low, fid.high))
        kid_rows.append((kid.estimate, kid.low, kid.high))
        plain_rows.append((plain.estimate, plain.low, plain.high))
        kid_variances.append((plain.se**2, kid.se**2))

    def coverage(rows, target):
        rows = np.array(rows)
        return float(np.mean((rows[:, 1] <= target) & (target <= rows[:, 2])))

    fid_target = float(np.mean([r[0] for r in fid_rows]))
    kid_target = 0.0 if case == "equal" else float(np.mean([r[0] for r in kid_rows]))
    estimates, variances, plain = np.array([r[0] for r in kid_rows]), np.array(kid_variances), np.array(plain_rows)
    plain_verdicts = {"a": float(np.mean(plain[:, 2] < 0)), "b": float(np.mean(plain[:, 1] > 0)),
                      "cover": coverage(plain_rows, kid_target)}  # fmt: skip
    return {
        "case": case, "dim": dim, "n": n, "trials": trials, "fd_b": truth["b"],
        "verdicts": verdicts,
        "coverage": {"fid": coverage(fid_rows, fid_target), "kid": coverage(kid_rows, kid_target),
                     "fid_inf": inf_hits / (2 * trials)},
        "fid_inf_width": float(np.mean(inf_widths)),
        "kid_variance": {"empirical": float(estimates.var()), "jackknife": float(variances[:, 0].mean()),
                         "corrected": float(variances[:, 1].mean())},
        "kid_plain": plain_verdicts,
        "seconds": time.perf_counter() - started,
    }  # fmt: skip


def run_seeds_case(job: tuple[str, int, int, int, int, float, int, bool]) -> dict:
    """Coverage of the pooled interval of S replicate pairs (see the module docstring)."""
    case, dim, n, seeds, trials, effect, seed, one_sided = job
    rng = np.random.default_rng(seed)
    world = World(case, dim, rng)
    estimates, ours, old = [], [], []
    for _ in range(trials):
        reference = world.data(n, rng)
        noise_a, noise_b = (np.random.default_rng(rng.integers(1 << 62)) for _ in range(2))
        base_a, base_b = world.data(n, noise_a), world.model_b(n, noise_b)  # the shared initial noise
        differences, replicates = [], []
        for _ in range(seeds):
            shift_a, shift_b = (effect * world.chol @ rng.standard_normal(dim) for _ in range(2))
            shift_b = 0.0 * shift_b if one_sided else shift_b  # one model b: no seed effect (same draws)
            result = kid_difference(base_a + shift_a, base_b + shift_b, reference, LEVEL, GROUPS)
            differences.append(result.interval.estimate)
            replicates.append(result.replicates)
        pooled = seeds_and_groups(np.array(differences), np.array(replicates), LEVEL)
        estimates.append(pooled.estimate)
        ours.append((pooled.low, pooled.high))
        spread = t_interval(np.array(differences), LEVEL)
        old.append((spread.low, spread.high))
    target = float(np.mean(estimates))  # KID is unbiased: the trials' mean estimates the target

    def coverage(rows):
        rows = np.array(rows)
        return float(np.mean((rows[:, 0] <= target) & (target <= rows[:, 1]))), float(np.mean(rows[:, 1] - rows[:, 0]))

    return {"case": case, "dim": dim, "n": n, "seeds": seeds, "effect": effect, "ours": coverage(ours),
            "old": coverage(old)}  # fmt: skip


def run_single_case(job: tuple[str, int, int, int, int]) -> dict:
    """Coverage of each run's own KID interval (`kid`, as the report gives every run and the rKID):
    model a at the data (KID's target 0: a degenerate U-statistic) and model b (target its true
    MMD^2, the trials' mean), the report's (plain jackknife) beside the paired difference's
    second-order correction applied to it."""
    case, dim, n, trials, seed = job
    rng = np.random.default_rng(seed)
    world = World(case, dim, rng)
    rows = {w: [] for w in ("a", "b")}
    for trial in range(trials):
        reference = world.data(n, rng)
        for w, x in (("a", world.data(n, rng)), ("b", world.model_b(n, rng))):
            result = kid(x, reference, LEVEL, GROUPS, seed=trial)
            corrected = jackknife(result.estimate, np.array(result.replicates), LEVEL, result.second_order)
            rows[w].append((result.estimate, result.interval.low, result.interval.high, corrected.low, corrected.high))
    covered = {}
    for w, values in rows.items():
        values = np.array(values)
        target = 0.0 if w == "a" or case == "equal" else float(values[:, 0].mean())  # KID is unbiased
        covered[w] = [float(np.mean((values[:, lo] <= target) & (target <= values[:, lo + 1]))) for lo in (1, 3)]
    return {"case": case, "dim": dim, "n": n, "covered": covered}


def main_single(args, sizes) -> None:
    jobs = [(case, d, n, args.trials, 7919 * d + n + i) for d, n in sizes for i, case in enumerate(args.cases)]
    print(f"{platform.machine()}, numpy {np.__version__}; {args.trials} trials per cell, nominal {LEVEL:.0%}, "
          f"{GROUPS} jackknife groups. Each run's own KID interval against its reference: coverage of its true "
          "MMD^2 (a: 0).")  # fmt: skip
    print(f"{'case':>10}{'d':>6}{'n':>6}   {'a: report / corrected':>22}   {'b: report / corrected':>22}")
    with ProcessPoolExecutor(args.workers) as pool:
        for r in pool.map(run_single_case, jobs):
            a, b = r["covered"]["a"], r["covered"]["b"]
            print(f"{r['case']:>10}{r['dim']:>6}{r['n']:>6}   {a[0]:>13.1%} {a[1]:>8.1%}   {b[0]:>13.1%} {b[1]:>8.1%}")


def main_seeds(args) -> None:
    sizes = [tuple(int(v) for v in s.split(":")) for s in args.sizes]
    jobs = [(case, d, n, args.seeds, args.trials, effect, 7919 * d + n + i + int(1000 * effect), args.one_sided)
            for d, n in sizes for i, case in enumerate(args.cases) for effect in args.seed_effects]  # fmt: skip
    error = 100 * np.sqrt(LEVEL * (1 - LEVEL) / args.trials)
    replicated = "of model a only (b: one model)" if args.one_sided else "per model"
    print(f"{platform.machine()}, numpy {np.__version__}; {args.trials} trials per cell, {args.seeds} training "
          f"seeds {replicated}, nominal {LEVEL:.0%}, {GROUPS} jackknife groups; "
          f"Monte-Carlo error +- {error:.1f} points")  # fmt: skip
    print(f"{'case':>10}{'d':>6}{'n':>6}{'effect':>8}   {'seeds x groups':>22}   {'t over seeds (old)':>22}")
    print(" " * 33 + "cover / width" + " " * 12 + "cover / width")
    with ProcessPoolExecutor(args.workers) as pool:
        for r in pool.map(run_seeds_case, jobs):
            ours, old = r["ours"], r["old"]
            print(f"{r['case']:>10}{r['dim']:>6}{r['n']:>6}{r['effect']:>8}   {ours[0]:>12.1%} {ours[1]:>9.3g}"
                  f"   {old[0]:>12.1%} {old[1]:>9.3g}")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument(
        "--sizes", nargs="+", default=["2048:128", "64:320", "64:1536"],
        help="dim:n pairs (default: the default run's 128 images in Inception's 2048 dimensions, and the "
        "ratios n/d of 10k and 50k images in 2048 dimensions, at d = 64 for time)",
    )  # fmt: skip
    parser.add_argument("--cases", nargs="+", default=list(CASES), choices=CASES)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--fractions", type=float, nargs="+", help="FID_inf subset fractions (default: the config's)")
    parser.add_argument("--seeds", type=int, default=0, help="training-seed replicates per model (0: none)")
    parser.add_argument("--seed-effects", type=float, nargs="+", default=[0.0, 0.1, 0.3])
    parser.add_argument("--one-sided", action="store_true", help="with --seeds: replicates of model a only")
    parser.add_argument("--single", action="store_true", help="each run's own KID interval instead")
    args = parser.parse_args()
    if args.seeds:
        return main_seeds(args)
    sizes = [tuple(int(v) for v in s.split(":")) for s in args.sizes]
    if args.single:
        return main_single(args, sizes)
    fractions = args.fractions or FRACTIONS
    jobs = [(case, d, n, args.trials, 7919 * d + n + i, fractions)
            for d, n in sizes for i, case in enumerate(args.cases)]  # fmt: skip
    error = 100 * np.sqrt(LEVEL * (1 - LEVEL) / args.trials)
    print(
        f"{platform.machine()}, numpy {np.__version__}; {args.trials} trials per cell, nominal level {LEVEL:.0%}, "
        f"{GROUPS} jackknife groups, FID_inf from fractions {fractions} (in brackets where the report hides it: "
        f"smallest subset < {MIN_RATIO:g} x d); coverage Monte-Carlo error "
        f"+- {error:.1f} points (one s.e.). Model a is the data's distribution: right = names a, wrong = names b."
    )
    print(f"{'case':>10}{'d':>6}{'n':>6}{'FD(b)':>9}   " + "".join(f"{s:>27}" for s in ("FID_n", "FID_inf", "KID"))
          + f"{'FID_inf':>10}")  # fmt: skip
    print(" " * 34 + "   right / wrong / cover" * 3 + f"{'width':>10}")
    done = []
    with ProcessPoolExecutor(args.workers) as pool:
        for r in pool.map(run_case, jobs):
            done.append(r)
            cells = []
            for stat in ("fid", "fid_inf", "kid"):
                v, t = r["verdicts"][stat], r["trials"]
                cell = f"{v['a'] / t:>9.1%}{v['b'] / t:>8.1%}{r['coverage'][stat]:>8.1%}"
                hidden = stat == "fid_inf" and min(fractions) * r["n"] < MIN_RATIO * r["dim"]
                cells.append(f"[{cell.strip()}]" if hidden else cell)
            print(f"{r['case']:>10}{r['dim']:>6}{r['n']:>6}{r['fd_b']:>9.3g}   " + "".join(f"{c:>27}" for c in cells)
                  + f"{r['fid_inf_width']:>10.3g}")  # fmt: skip

    print("\nKID's variance: the mean variance of the plain jackknife and of the report's (less the jackknife's "
          "overcount of the second-order variance)\nagainst the estimates' variance over the trials; "
          "the plain jackknife interval's verdicts and coverage.")  # fmt: skip
    print(f"{'case':>10}{'d':>6}{'n':>6}{'jackknife/true':>16}{'report/true':>16}   jackknife right / wrong / cover")
    for r in done:
        v, c = r["kid_variance"], r["kid_plain"]
        print(f"{r['case']:>10}{r['dim']:>6}{r['n']:>6}{v['jackknife'] / v['empirical']:>16.2f}"
              f"{v['corrected'] / v['empirical']:>16.2f}{c['a']:>17.1%}{c['b']:>8.1%}{c['cover']:>8.1%}")  # fmt: skip


if __name__ == "__main__":
    main()
