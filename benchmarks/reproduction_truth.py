"""How often is a published FID called reproduced, not reproduced or inconclusive, when the truth is known?

The report's reproduction verdict (diffbench.published.reproduction) is an equivalence test: our FID
interval at the run's level (the jackknife over generated groups, evaluation.interval_groups) must
lie within +-margin x the published value ("reproduced"), or wholly outside it ("not reproduced");
otherwise it is "inconclusive". The published value is itself one draw: the paper's own sample set
scored against the same reference. This simulation measures the verdict's error rates against
known truths, with the project's own functions, in Gaussian "Inception features".

A world: the data in d dimensions (a decaying spectrum in a random basis) and a fixed reference
set drawn from it once (a paper and a reproduction score against the same dataset's images). The
paper's model is the data shifted by half a standard deviation in every direction; ours has the
same covariance and a shift scaled so that its expected FID at n, E[FID_n], is (1 + k x margin)
times the paper's: k = 0 (a faithful reproduction), 1 and -1 (exactly at the upper and lower
edge of the band), 2 (outside it). Each trial draws the paper's sample set (its published value) and ours, n images
each (the protocols agree in N, as the report requires for a verdict), and counts the verdicts.
The realised ratio of the two models' E[FID_n] (means over the trials) is printed beside k.

What a reader should expect: at k = 0 "reproduced" is the power and "not reproduced" a false
alarm; at k = +-1 "reproduced" is the false-equivalence rate, which a two one-sided test with a
95 % interval holds at or below 2.5 % (reached where the noise is small next to the band) when the
published value is exact; the published value's own noise moves both.

    python benchmarks/reproduction_truth.py --trials 400
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

from diffbench.metrics.frechet import frechet_of_features  # noqa: E402
from diffbench.metrics.intervals import fid_interval  # noqa: E402
from diffbench.published import DEFAULT_MARGIN, reproduction  # noqa: E402

LEVEL = 0.95
GROUPS = 10
VERDICTS = ("reproduced", "inconclusive", "not reproduced")


class World:
    """The data, its fixed reference set, the paper's model and ours at k margins from it."""

    def __init__(self, dim: int, n: int, k: float, margin: float, rng: np.random.Generator):
        self.dim = dim
        spectrum = 1.0 / np.arange(1, dim + 1) ** 0.7
        basis, _ = np.linalg.qr(rng.standard_normal((dim, dim)))
        self.chol = basis * np.sqrt(spectrum)
        self.reference = self.draw(n, np.zeros(dim), rng)
        direction = self.chol @ rng.standard_normal(dim)
        self.paper_shift = 0.5 * direction
        # Both models share the data's covariance, so E[FID_n] is about |shift|^2 plus a bias common to
        # both (and a cross term with the fixed reference's mean): the pilot's mean FID of the paper's
        # model fixes the shift that adds k x margin of it; the printed E ratio checks where it landed.
        pilot = np.mean([frechet_of_features(self.draw(n, self.paper_shift, rng), self.reference) for _ in range(20)])
        extra = k * margin * pilot
        self.our_shift = direction * np.sqrt((np.sum(self.paper_shift**2) + extra) / np.sum(direction**2))

    def draw(self, n: int, shift: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return rng.standard_normal((n, self.dim)) @ self.chol.T + shift


def run_case(job: tuple[float, int, int, int, float, int]) -> dict:
    k, dim, n, trials, margin, seed = job
    rng = np.random.default_rng(seed)
    world = World(dim, n, k, margin, rng)
    started = time.perf_counter()
    counts = dict.fromkeys(VERDICTS, 0)
    published, ours = [], []
    for trial in range(trials):
        value = frechet_of_features(world.draw(n, world.paper_shift, rng), world.reference)
        interval = fid_interval(world.draw(n, world.our_shift, rng), world.reference, LEVEL, GROUPS, seed=trial)
        counts[reproduction(interval.estimate, interval.low, interval.high, value, margin)] += 1
        published.append(value)
        ours.append((interval.estimate, interval.low, interval.high))
    ours = np.array(ours)
    target = ours[:, 0].mean()  # E[FID_n] of our model, estimated by the trials' mean
    return {
        "k": k, "dim": dim, "n": n, "trials": trials, "margin": margin,
        "ratio": target / np.mean(published),
        "published_sd": float(np.std(published, ddof=1)) / np.mean(published),
        "rates": {v: counts[v] / trials for v in VERDICTS},
        "coverage": float(np.mean((ours[:, 1] <= target) & (target <= ours[:, 2]))),
        "seconds": time.perf_counter() - started,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=400)
    parser.add_argument("--dims", type=int, nargs="+", default=[64])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--ks", type=float, nargs="+", default=[-1.0, 0.0, 1.0, 2.0])
    parser.add_argument("--margin", type=float, default=DEFAULT_MARGIN)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(
        f"{platform.machine()}, {args.workers} worker processes, numpy {np.__version__}; level {LEVEL:g}, "
        f"{GROUPS} jackknife groups, margin ±{args.margin:.0%}, {args.trials} trials per row"
    )
    # One world (data, reference, shift direction) per (d, n), shared by its k rows.
    jobs = [(k, d, n, args.trials, args.margin, 1000 * i)
            for i, (d, n) in enumerate((d, n) for d in args.dims for n in args.sizes)
            for k in args.ks]  # fmt: skip
    print(f"{'d':>5} {'n':>6} {'k':>4} {'E ratio':>8} {'pub sd':>7} {'reproduced':>11} {'inconclusive':>13} "
          f"{'not repr.':>10} {'coverage':>9} {'s':>6}")  # fmt: skip
    with ProcessPoolExecutor(args.workers) as pool:
        for row in pool.map(run_case, jobs):
            rates = row["rates"]
            print(f"{row['dim']:>5} {row['n']:>6} {row['k']:>4g} {row['ratio']:>8.3f} {row['published_sd']:>6.1%} "
                  f"{rates['reproduced']:>11.1%} {rates['inconclusive']:>13.1%} {rates['not reproduced']:>10.1%} "
                  f"{row['coverage']:>9.1%} {row['seconds']:>6.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
