"""Do diffbench's FID intervals cover their target as often as they say? Gaussian features, known truth.

For each feature dimension and set size, two "models" and a "data" distribution are Gaussians
with different means and covariance spectra, so their Fréchet distances are known in closed form.
Each trial draws fresh sets and checks whether each interval contains its target:

- FID at n (`fid_interval`): target = the Monte-Carlo mean of FID over fresh generated sets of
  size n against the trial's fixed reference set (what the interval claims to cover);
- FID(a) - FID(b) (`fid_difference`): target = the Monte-Carlo mean difference over fresh draws
  of both generated sets and the reference;
- FID at infinity (`fid_infinity`): target = the analytic Fréchet distance of the two Gaussians.

Beside ours, the interval it replaced: the percentile bootstrap of the generated features,
shifted by the bootstrap bias, with the default config's 5 and the schema's 20 resamples.

    python benchmarks/interval_coverage.py --trials 200
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor

# One BLAS thread per worker process: the workers already use every core, and more threads
# than cores make the small matrix products spin.
for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(variable, "1")

import numpy as np  # noqa: E402

from diffbench.metrics.frechet import frechet_distance, frechet_of_features  # noqa: E402
from diffbench.metrics.intervals import fid_difference, fid_infinity, fid_interval  # noqa: E402

LEVEL = 0.95
GROUPS = 10
FRACTIONS = [0.5, 0.6, 0.7, 0.8, 0.9, 1.0]


def problem(dim: int, rng: np.random.Generator) -> dict:
    """Data and two models: a shared random basis, a decaying spectrum, perturbed spectra and shifted means."""
    spectrum = 1.0 / np.arange(1, dim + 1) ** 0.7
    basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))

    def gaussian(shift: float, spread: float) -> tuple[np.ndarray, np.ndarray]:
        scaled = spectrum * (1 + spread * rng.uniform(-1, 1, dim))
        return shift * rng.standard_normal(dim) * np.sqrt(spectrum), np.linalg.cholesky((basis * scaled) @ basis.T)

    return {"data": gaussian(0.0, 0.0), "a": gaussian(0.15, 0.3), "b": gaussian(0.2, 0.4)}


def draw(gaussian: tuple[np.ndarray, np.ndarray], n: int, rng: np.random.Generator) -> np.ndarray:
    mean, chol = gaussian
    return mean + rng.standard_normal((n, len(mean))) @ chol.T


def analytic_fd(p: tuple, q: tuple) -> float:
    return frechet_distance(p[0], p[1] @ p[1].T, q[0], q[1] @ q[1].T)["fd"]


def shifted_bootstrap(generated: np.ndarray, reference: np.ndarray, resamples: int, rng) -> tuple[float, float]:
    """The interval diffbench used before: percentile bootstrap minus the bootstrap bias."""
    estimate = frechet_of_features(generated, reference)
    n = len(generated)
    values = np.array([frechet_of_features(generated[rng.integers(0, n, n)], reference) for _ in range(resamples)])
    low, high = np.quantile(values, [(1 - LEVEL) / 2, (1 + LEVEL) / 2]) - (values.mean() - estimate)
    return low, high


def coverage(case: tuple[int, int, int, int, int]) -> dict:
    dim, n, trials, seed, groups = case
    rng = np.random.default_rng(seed)
    world = problem(dim, rng)
    truth = analytic_fd(world["a"], world["data"])
    mc_draws = 1000
    mean_difference = np.mean(
        [
            frechet_of_features(draw(world["a"], n, rng), reference)
            - frechet_of_features(draw(world["b"], n, rng), reference)
            for reference in (draw(world["data"], n, rng) for _ in range(mc_draws))
        ]
    )
    hits = {"fid_n": 0, "difference": 0, "fid_inf": 0, "bootstrap_5": 0, "bootstrap_20": 0}
    widths = {key: [] for key in hits}
    started = time.perf_counter()
    for trial in range(trials):
        reference = draw(world["data"], n, rng)
        a, b = draw(world["a"], n, rng), draw(world["b"], n, rng)
        mean_at_n = np.mean([frechet_of_features(draw(world["a"], n, rng), reference) for _ in range(200)])
        intervals = {
            "fid_n": (fid_interval(a, reference, LEVEL, groups, seed=trial), mean_at_n),
            "difference": (fid_difference(a, b, reference, LEVEL, groups, seed=trial).interval, mean_difference),
            "fid_inf": (fid_infinity(a, reference, FRACTIONS, LEVEL, groups, seed=trial).interval, truth),
        }
        for key, (interval, target) in intervals.items():
            hits[key] += interval.low <= target <= interval.high
            widths[key].append(interval.high - interval.low)
        for resamples in (5, 20):
            low, high = shifted_bootstrap(a, reference, resamples, rng)
            hits[f"bootstrap_{resamples}"] += low <= mean_at_n <= high
            widths[f"bootstrap_{resamples}"].append(high - low)
    return {
        "dim": dim,
        "n": n,
        "truth": truth,
        "coverage": {key: value / trials for key, value in hits.items()},
        "width": {key: float(np.mean(value)) for key, value in widths.items()},
        "seconds": time.perf_counter() - started,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--dims", type=int, nargs="+", default=[16, 64])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 1024])
    parser.add_argument("--groups", type=int, default=GROUPS, help="jackknife groups (evaluation.interval_groups)")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    cases = [(d, n, args.trials, 1000 * d + n, args.groups) for d in args.dims for n in args.sizes]
    print(
        f"{platform.machine()}, numpy {np.__version__}; {args.trials} trials per case, nominal level {LEVEL:.0%}, "
        f"{args.groups} jackknife groups, FID_inf from fractions {FRACTIONS} of both sets"
    )
    error = 100 * np.sqrt(LEVEL * (1 - LEVEL) / args.trials)
    print(
        f"Monte-Carlo error of a coverage near {LEVEL:.0%} over {args.trials} trials: +- {error:.1f} points (one s.e.)"
    )
    header = ["dim", "n", "FD_true", "FID_n", "FID_a-FID_b", "FID_inf", "old boot 5", "old boot 20"]
    print("".join(f"{h:>13}" for h in header) + "   mean widths (same order)")
    with ProcessPoolExecutor(args.workers) as pool:
        for result in pool.map(coverage, cases):
            cov, width = result["coverage"], result["width"]
            keys = ["fid_n", "difference", "fid_inf", "bootstrap_5", "bootstrap_20"]
            print(
                f"{result['dim']:>13}{result['n']:>13}{result['truth']:>13.4f}"
                + "".join(f"{cov[k]:>13.1%}" for k in keys)
                + "   "
                + " ".join(f"{width[k]:.3g}" for k in keys)
            )


if __name__ == "__main__":
    main()
