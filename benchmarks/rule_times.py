"""Where a run's time goes: per rule, the jobs, their summed wall and CPU seconds and the largest
resident memory, from the `benchmark:` files Snakemake wrote under <results_dir>/benchmarks/.

    python benchmarks/rule_times.py results            # after `make run`

Rules without a `benchmark:` directive (the small local ones) are not listed; the end-to-end wall
time is Snakemake's own "Elapsed time" line, which includes them and its scheduling.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd


def rule_times(results_dir: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((results_dir / "benchmarks").rglob("*.tsv")):
        rule = path.relative_to(results_dir / "benchmarks").parts[0]
        record = pd.read_csv(path, sep="\t").iloc[-1]  # one row per repeat; the last one
        rows.append({"rule": rule, "s": record["s"], "cpu_s": record["cpu_time"], "max_rss_mb": record["max_rss"]})
    if not rows:
        raise SystemExit(f"no benchmark files under {results_dir / 'benchmarks'}; run the workflow first")
    frame = pd.DataFrame(rows)
    table = frame.groupby("rule").agg(jobs=("s", "size"), wall_s=("s", "sum"), cpu_s=("cpu_s", "sum"),
                                      max_rss_mb=("max_rss_mb", "max"))  # fmt: skip
    table["share"] = table.wall_s / table.wall_s.sum()
    return table.sort_values("wall_s", ascending=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results_dir", type=Path)
    table = rule_times(parser.parse_args().results_dir)
    print(table.to_string(float_format=lambda v: f"{v:.2f}"))
    print(f"sum of benchmarked jobs: {table.wall_s.sum():.0f} s wall, {table.cpu_s.sum():.0f} s CPU")


if __name__ == "__main__":
    main()
