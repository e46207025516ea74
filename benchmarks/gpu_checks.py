"""Every GPU figure of benchmarks/RESULTS.md in one command, sized to take about 15 minutes on one
H100-class GPU (an estimate until it has run on one; the compile and cuda_graphs steps compile
each model), so that a GPU held briefly yields them all, in parts with --only.

0. the tests marked cuda (`pytest -m cuda`: CUDA generators, staged feature batches), which
   CPU-only machines skip; 1. sampling.py in tf32, fp32 (strict), bf16 and fp16, then bf16 with
   each of sampling.speedups;
2. features.py (Inception features and FID against torch-fidelity), in torch's default layout and
   with evaluation.channels_last, and with it and evaluation.fold_batch_norm (the workflow's
   defaults); 3. training_loop.py;
4. the default experiment end to end at each precision, at its own GFLOP budget (the same steps as
   on a CPU: its figures are the CPU run's at GPU speed) or at --default-gflops per model (its
   autoencoders' budget_share keeps their part of it);
5. a two-model slice of the LDM compression sweep (ldm1_pixel and ldm4_kl: their architectures,
   batch sizes and samplers) on the synthetic shapes at 32x32, so no dataset download is needed,
   at --budget seconds per model (a seconds budget, as the GPU presets: recorded with the device).

Each step's output goes to <out>/<step>.log and the runs' tables stay under <out>/runs/; the
summary printed at the end (and written to <out>/summary.txt) is what RESULTS.md records: each
run's wall time, per-rule times, images/s and peak GPU memory, allocated and reserved. TORCH_HOME
must hold the evaluation weights (`diffbench fetch-assets` on a machine with internet).

    python benchmarks/gpu_checks.py [--out results/gpu-checks] [--device cuda] [--budget 30] [--default-gflops G]
        [--only benchmarks | workflows | STEP,...]   (in parts, when one command may not take 15 minutes)
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import yaml

sys.path.insert(0, str(Path(__file__).parent))
from rule_times import rule_times  # noqa: E402

from diffbench.sampling.speedups import SPEEDUPS  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
PRECISIONS = ("fp32", "bf16", "fp16")
SWEEP_SLICE = ("ldm1_pixel", "ldm4_kl")
MEMORY = ["sampling_peak_gpu_memory_mb", "sampling_peak_gpu_reserved_mb"]  # runs.csv
TRAINING_MEMORY = [
    "train_peak_gpu_memory_mb",
    "train_peak_gpu_reserved_mb",
    "autoencoder_peak_gpu_memory_mb",
    "autoencoder_peak_gpu_reserved_mb",
]  # models.csv


def run_logged(name: str, command: list[str], out: Path, timeout: float) -> tuple[bool, float]:
    """Run `command`, its output into <out>/<name>.log; a failure is reported, not fatal, so one
    broken step still leaves the others' figures."""
    start = time.perf_counter()
    with (out / f"{name}.log").open("w") as log:
        try:
            done = subprocess.run(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
            ok = done.returncode == 0
        except subprocess.TimeoutExpired:
            ok = False
            print(f"timed out after {timeout:.0f} s", file=log)
    seconds = time.perf_counter() - start
    print(f"{name:<28} {'ok' if ok else 'FAILED'} in {seconds:6.1f} s  ({out / name}.log)", flush=True)
    return ok, seconds


def without_progress_bars(log: Path) -> str:
    """A step's log without its progress bars: a bar is one line of carriage-return redraws (read as
    bytes, since reading as text turns every carriage return into a line break)."""
    return "\n".join(line for line in log.read_bytes().decode().split("\n") if "\r" not in line)


def default_experiment(device: str, precision: str, gflops: float | None, results: Path) -> dict:
    """The default experiment on `device`; `gflops`: every model's total budget instead of the
    config's (the first stages keep their budget_share of it, the milestones their fraction)."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config.update(device=device, precision=precision, results_dir=str(results))
    if gflops is not None:
        for spec in config["models"].values():
            scale_budget(spec["training"], "max_gflops", gflops)
    return config


def scale_budget(training: dict, limit: str, budget: float) -> None:
    """Set a model's budget, its milestones kept at the same fractions of it."""
    fraction = budget / training[limit]
    training[limit] = budget
    if training.get("milestones"):
        training["milestones"] = [m * fraction for m in training["milestones"]]


def sweep_slice(device: str, budget: float, results: Path) -> dict:
    """The compression sweep's first pixel and f = 4 models on synthetic 32x32 shapes."""
    config = yaml.safe_load((REPO / "config" / "experiments" / "ldm_compression_sweep.yaml").read_text())
    config["datasets"] = {"shapes32": {"source": "synthetic", "resolution": 32, "channels": 3, "num_train": 8192,
                                       "num_reference": 1024, "seed": 0}}  # fmt: skip
    config["models"] = {name: config["models"][name] for name in SWEEP_SLICE}
    for spec in config["models"].values():
        spec["dataset"] = "shapes32"
        scale_budget(spec["training"], "max_seconds", budget)
        if "autoencoder" in spec:
            spec["autoencoder"]["training"]["max_steps"] = 500
    config["sampling"].update(num_samples=1024, steps=[20])
    config.update(device=device, results_dir=str(results))
    return config


def workflow(name: str, config: dict, out: Path, timeout: float) -> dict:
    config_file = out / f"{name}.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    command = [sys.executable, "-m", "snakemake", "--cores", "all", "--configfile", str(config_file.resolve())]
    ok, seconds = run_logged(name, command, out, timeout)
    summary = {"run": name, "ok": ok, "wall_s": round(seconds)}
    results = Path(config["results_dir"])
    runs_csv = results / "report" / "runs.csv"
    if ok and runs_csv.is_file():
        runs = pd.read_csv(runs_csv)
        summary["best_images_per_s"] = runs.sampling_images_per_s.max()
        models = pd.read_csv(results / "report" / "models.csv")
        for table, columns in ((runs, MEMORY), (models, TRAINING_MEMORY)):
            for column in columns:
                summary[column] = table[column].max() if column in table else float("nan")
        with (out / "rule_times.txt").open("a") as table:
            print(f"## {name}\n{rule_times(results).to_string(float_format=lambda v: f'{v:.2f}')}\n", file=table)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "results" / "gpu-checks")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--budget", type=float, default=30.0, help="training seconds per model in the sweep slice")
    parser.add_argument("--default-gflops", type=float, default=None,
                        help="training GFLOPs per model in the default runs (default: the config's)")  # fmt: skip
    parser.add_argument("--images", type=int, default=1024, help="images per case in the benchmark scripts")
    parser.add_argument(
        "--only",
        default="",
        help="comma-separated groups (benchmarks, workflows) or step names (e.g. features,default_bf16), so a "
        "short GPU lease can take them in parts; all when not given",
    )
    args = parser.parse_args()
    out = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    python, dev, images = sys.executable, ["--device", args.device], ["--images", str(args.images)]
    sampling = [python, "benchmarks/sampling.py", *dev, *images]
    steps = {}  # benchmark step -> its command, in the order they run
    # The tests that only run where CUDA is (skipped on CPU-only machines and in CI).
    steps["cuda_tests"] = [python, "-m", "pytest", "-m", "cuda", "-n", "0", "--continue-on-collection-errors", "tests"]
    steps.update({f"sampling_{p}": [*sampling, "--precision", p] for p in ("tf32", *PRECISIONS)})
    steps.update({f"sampling_bf16_{s}": [*sampling, "--precision", "bf16", "--speedups", s] for s in SPEEDUPS})
    steps["features"] = [python, "benchmarks/features.py", *dev, *images, "--batch-size", "256"]
    steps["features_channels_last"] = [*steps["features"], "--channels-last"]
    steps["features_workflow"] = [*steps["features_channels_last"], "--fold-batch-norm"]  # the workflow's defaults
    steps["training_loop"] = [python, "benchmarks/training_loop.py", *dev]
    gflops = args.default_gflops
    runs = {f"default_{p}": (lambda p=p: default_experiment(args.device, p, gflops, out / "runs" / f"default_{p}"))
            for p in PRECISIONS}  # fmt: skip
    runs["sweep_slice"] = lambda: sweep_slice(args.device, args.budget, out / "runs" / "sweep")
    chosen = {name for name in args.only.split(",") if name}
    unknown = chosen - {"benchmarks", "workflows", *steps, *runs}
    if unknown:
        parser.error(f"--only: unknown {sorted(unknown)}; known: benchmarks, workflows, {', '.join([*steps, *runs])}")
    steps = {n: c for n, c in steps.items() if not chosen or n in chosen or "benchmarks" in chosen}
    runs = {n: make for n, make in runs.items() if not chosen or n in chosen or "workflows" in chosen}
    for name, command in steps.items():
        run_logged(name, command, out, 600)
    rows = [workflow(name, make(), out, 1200) for name, make in runs.items()]
    lines = [f"## {name}\n" + without_progress_bars(out / f"{name}.log") for name in steps]
    if rows:
        lines.append(pd.DataFrame(rows).to_string(index=False))
    (out / "summary.txt").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
