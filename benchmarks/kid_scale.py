"""What KID over all pairs costs as the sets grow: diffbench's `kid` and `kid_difference` against
torch-fidelity's subset KID, in one process.

diffbench's KID is the U-statistic over every pair of images (its expectation is the squared MMD
at any sample size, and its jackknife needs the kernel sums by group): its cost grows with the
square of the set sizes. torch-fidelity's `kid_features_to_metric` averages `kid_subsets` (100)
estimates on random subsets of `kid_subset_size` (1000) images: a fixed cost, whatever n. Features:
Gaussian, float32, d = 2048 (the cost does not depend on the values). Prints both times, their
ratio, and the all-pairs time extrapolated to 50k images per set from the largest size measured
(cost proportional to n^2).

    .venv/bin/python benchmarks/kid_scale.py [--sizes 1000 2000 5000 10000] [--dim 2048]
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from diffbench.metrics.kid import kid, kid_difference

SUBSETS, SUBSET_SIZE = 100, 1000  # torch-fidelity's defaults


def timed(function, *args, **kwargs) -> float:
    start = time.perf_counter()
    function(*args, **kwargs)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 2000, 5000, 10000])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--groups", type=int, default=10)
    args = parser.parse_args()
    print(f"{platform.machine()}, {os.cpu_count()} CPUs, numpy {np.__version__}, torch {torch.__version__}; "
          f"d = {args.dim}, {args.groups} jackknife groups; reference: torch-fidelity, {SUBSETS} subsets of "
          f"min(n, {SUBSET_SIZE})")  # fmt: skip
    print(f"{'n = m':>8} {'kid s':>9} {'kid_difference s':>17} {'torch-fidelity s':>17} {'kid / ref':>10}")
    rng = np.random.default_rng(0)
    for n in args.sizes:
        a, b, r = (rng.standard_normal((n, args.dim), np.float32) for _ in range(3))
        ours = timed(kid, a, r, 0.95, args.groups)
        paired = timed(kid_difference, a, b, r, 0.95, args.groups)
        size = min(n, SUBSET_SIZE)
        options = {"kid_subsets": SUBSETS, "kid_subset_size": size, "verbose": False, "rng_seed": 0}
        reference = timed(kid_features_to_metric, torch.from_numpy(a), torch.from_numpy(r), **options)
        print(f"{n:>8} {ours:>9.3g} {paired:>17.3g} {reference:>17.3g} {ours / reference:>10.3g}")
    scale = (50_000 / args.sizes[-1]) ** 2
    print(f"extrapolated to n = m = 50,000 (x {scale:.0f} the last row): kid {ours * scale:.0f} s, "
          f"kid_difference {paired * scale:.0f} s")  # fmt: skip


if __name__ == "__main__":
    main()
