"""Do the compute-savings factor and the crossover recover a known truth, at the levels their intervals state?

diffbench.metrics.curves reads two models' quality-vs-compute curves (KID at each training
milestone) and gives (a) the factor by which model b needs less compute than a to reach a's final
quality and (b) whether and where b's curve crosses a's, each with a delete-a-group jackknife
interval over the image groups that every milestone's evaluation shares. This simulation checks
both with the project's own functions (metrics/kid.py, metrics/curves.py) where the truth is known.

A world: Gaussian "features" in d dimensions with a decaying spectrum; the data is N(0, S) and a
model at training compute C is N(delta(C) u, S): a mean shift that shrinks as it trains. KID's
target, the squared MMD with the cubic kernel, is then known in closed form (`mmd2`), so every
curve's true value at every milestone is too. Each trial draws a fresh reference set and, per
model and milestone, n samples from the same per-seed noise (80 % shared across milestones and
models, as the same sampling seeds give related images at every milestone), scores them with
`kid`, and applies `savings` and `crossover`. The truth is the same functional of the true
curves (read the same way between milestones), so the interval's target is what it claims.

Scenarios (a = pixel, b = latent; milestones C = 2^-4 .. 1 of the budget):
- saves: b at C is a at 2.83 C (b reaches a's final quality with ~2.8x less compute, never above a);
- identical: b is a (factor 1; "crosses" is a false claim, "below"/"above" too);
- crosses: b is better early and worse late, crossing at C = 0.35 (`root cov`: how often the
  crossing's interval holds the true one, among the trials that claim a crossing).

What a reader should expect: coverage within ~3 points of nominal (the Monte Carlo error of 400
trials is ~1.1 points); false "crosses"/"below"/"above" claims at or below 1 - level for identical
curves; power ("below" for saves, "crosses" for crosses) grows with n.

    python benchmarks/savings_truth.py --trials 400
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

from diffbench.metrics.curves import Curve, _difference, _first_root, _knots, crossover, savings  # noqa: E402
from diffbench.metrics.kid import kid  # noqa: E402

LEVEL = 0.95
GROUPS = 10
SHARED = 0.8  # correlation of one seed's noise between milestones and models
MILESTONES = 2.0 ** np.arange(-4, 1)  # compute, as a fraction of the budget
SCENARIOS = ("saves", "identical", "crosses")


def shift(scenario: str, model: str, compute: np.ndarray) -> np.ndarray:
    """delta(C): model a's shift falls as C^-0.5; b's per scenario."""
    base = 0.9 * compute**-0.5 / 4  # 0.9 at the first milestone, 0.225 at the budget
    if model == "a" or scenario == "identical":
        return base
    if scenario == "saves":
        return 0.9 * (2.83 * compute) ** -0.5 / 4
    return base * (compute / 0.35) ** 0.35  # crosses: below a before C = 0.35, above after


def mmd2(delta: float, spectrum: np.ndarray, direction: np.ndarray) -> float:
    """Squared MMD, cubic kernel (x.y/d + 1)^3, between N(delta u, S) and N(0, S), S = diag(spectrum).

    E k(X, Y) for independent X ~ N(a, S), Y ~ N(b, S): given X, X.Y is normal, so the kernel's
    mean is a polynomial in Gaussian moments: (1 + a.b/d)^3 + 3 (1 + a.b/d)(a'Sa + b'Sb + tr S^2)/d^2
    + 6 a'S^2 b/d^3 (checked against Monte Carlo in tests/test_benchmarks.py)."""
    d = len(spectrum)

    def mean_kernel(a: np.ndarray, b: np.ndarray) -> float:
        mu = a @ b / d
        quad = a @ (spectrum * a) + b @ (spectrum * b) + np.sum(spectrum**2)
        return (1 + mu) ** 3 + 3 * (1 + mu) * quad / d**2 + 6 * a @ (spectrum**2 * b) / d**3

    a, zero = delta * direction, np.zeros(d)
    return float(mean_kernel(a, a) + mean_kernel(zero, zero) - 2 * mean_kernel(a, zero))


def true_answers(scenario: str, spectrum: np.ndarray, direction: np.ndarray) -> tuple[float, str, str, float | None]:
    """(savings factor, its state, crossover state, crossing compute) of the true curves, read as
    the estimates are."""
    curves = {m: [mmd2(s, spectrum, direction) for s in shift(scenario, m, MILESTONES)] for m in "ab"}
    flat = np.zeros((len(MILESTONES), 2))  # no noise: every replicate is the value itself
    a, b = (Curve.of(MILESTONES, curves[m], flat + np.array(curves[m])[:, None]) for m in "ab")
    found = savings(a, b, LEVEL)
    knots = _knots(a, b)
    difference = _difference(a, b, knots, None)
    root = _first_root(knots, difference)
    state = "crosses" if difference[0] * difference[-1] < 0 else "below" if np.all(difference < 0) else "above"
    if np.all(difference == 0):
        state = "identical"
    return found.factor, found.state, state, None if root is None or state != "crosses" else float(np.exp(root))


def run_case(job: tuple[str, int, int, int, int]) -> dict:
    scenario, dim, n, trials, seed = job
    rng = np.random.default_rng(seed)
    spectrum = 1.0 / np.arange(1, dim + 1) ** 0.7
    direction = rng.standard_normal(dim) * np.sqrt(spectrum)
    direction /= np.linalg.norm(direction)
    true_factor, factor_state, true_state, true_root = true_answers(scenario, spectrum, direction)
    started = time.perf_counter()
    counts = {"interval": 0, "covered": 0, "root interval": 0, "root covered": 0}
    states: dict[str, int] = {}
    for _ in range(trials):
        reference = rng.standard_normal((n, dim)) * np.sqrt(spectrum)
        common = rng.standard_normal((n, dim))
        curves = {}
        for model in "ab":
            quality, replicates = [], []
            for delta in shift(scenario, model, MILESTONES):
                own = rng.standard_normal((n, dim))
                noise = SHARED * common + np.sqrt(1 - SHARED**2) * own
                result = kid(noise * np.sqrt(spectrum) + delta * direction, reference, LEVEL, GROUPS)
                quality.append(result.estimate)
                replicates.append(result.replicates)
            curves[model] = Curve.of(MILESTONES, quality, replicates)
        found = savings(curves["a"], curves["b"], LEVEL)
        if found.interval is not None and factor_state == "reached":  # a bound has no coverage
            counts["interval"] += 1
            counts["covered"] += found.interval.low <= true_factor <= found.interval.high
        crossing = crossover(curves["a"], curves["b"], LEVEL)
        states[crossing.state] = states.get(crossing.state, 0) + 1
        if true_root is not None and crossing.interval is not None:
            counts["root interval"] += 1
            counts["root covered"] += crossing.interval.low <= true_root <= crossing.interval.high
    return {
        "scenario": scenario, "dim": dim, "n": n, "trials": trials,
        "true_factor": true_factor, "factor_state": factor_state, "true_state": true_state, "true_root": true_root,
        "interval_rate": counts["interval"] / trials,
        "coverage": counts["covered"] / counts["interval"] if counts["interval"] else float("nan"),
        "root_coverage": counts["root covered"] / counts["root interval"] if counts["root interval"] else float("nan"),
        "states": {s: states.get(s, 0) / trials for s in ("crosses", "below", "above", "cannot tell")},
        "seconds": time.perf_counter() - started,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--dims", type=int, nargs="+", default=[16])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 512])
    parser.add_argument("--scenarios", nargs="+", default=list(SCENARIOS), choices=SCENARIOS)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(
        f"{platform.machine()}, {args.workers} worker processes, numpy {np.__version__}; level {LEVEL:g}, "
        f"{GROUPS} jackknife groups, {len(MILESTONES)} milestones, {args.trials} trials per row"
    )
    jobs = [(s, d, n, args.trials, 1000 * i)
            for i, (d, n) in enumerate((d, n) for d in args.dims for n in args.sizes)
            for s in args.scenarios]  # fmt: skip
    print(f"{'scenario':<10} {'d':>4} {'n':>5} {'factor':>7} {'reached':>8} {'given':>6} {'coverage':>9} "
          f"{'truth':>9} {'crosses':>8} {'below':>6} {'above':>6} {'cannot':>7} {'root cov':>9} {'s':>6}")  # fmt: skip
    with ProcessPoolExecutor(args.workers) as pool:
        for row in pool.map(run_case, jobs):
            st = row["states"]
            print(f"{row['scenario']:<10} {row['dim']:>4} {row['n']:>5} {row['true_factor']:>7.3f} "
                  f"{row['factor_state']:>8} {row['interval_rate']:>6.1%} {row['coverage']:>9.1%} "
                  f"{row['true_state']:>9} "
                  f"{st['crosses']:>8.1%} {st['below']:>6.1%} {st['above']:>6.1%} {st['cannot tell']:>7.1%} "
                  f"{row['root_coverage']:>9.1%} {row['seconds']:>6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
