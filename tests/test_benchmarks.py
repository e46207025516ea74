"""The benchmarks/ scripts run and print what RESULTS.md records, at tiny sizes on the CPU.

Their speed figures are never asserted (a ratio measured here is noise); what is checked is that
each script still runs against the current code, prints its table, and that the claims it makes
beside the timings hold: identical images, FID equal to torch-fidelity's. A GPU lease is short, so
benchmarks/gpu_checks.py must not first break there: its orchestration, its summary and the
workflow configs it builds are checked here too.
"""

import copy
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml

from diffbench.config import validate_config
from diffbench.experiment import Experiment
from diffbench.report.outputs import ReportPaths
from diffbench.stages.report import report as build_report
from report_fixture import fixture_config, write_results

REPO = Path(__file__).resolve().parent.parent
BENCHMARKS = REPO / "benchmarks"


def run_script(name: str, *args, env: dict | None = None, returncode: int = 0) -> subprocess.CompletedProcess:
    """Run benchmarks/<name>; its error output is in the failure message when it exits otherwise."""
    done = subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *map(str, args)],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )
    assert done.returncode == returncode, f"{name} exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def output_lines(name: str, *args, env: dict | None = None) -> list[str]:
    return run_script(name, *args, env=env).stdout.splitlines()


def assert_printed_ratio(ratio: float, numerator: float, denominator: float, decimals: int = 1) -> None:
    """`ratio` (printed to 2 decimals) is numerator / denominator (each printed to `decimals`): the
    bound is what the rounding of all three allows, to first order, with 1 % to spare."""
    half = 0.5 * 10.0**-decimals
    bound = 1.01 * (numerator / denominator) * (half / numerator + half / denominator) + 0.005
    assert abs(ratio - numerator / denominator) <= bound, (ratio, numerator, denominator)


BENCHMARK_HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def write_benchmark(path: Path, rows: list[tuple[float, float, float]]) -> None:
    """A Snakemake benchmark file: one row (wall s, max RSS MB, CPU s) per repeat."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(BENCHMARK_HEADER + "".join(f"{s}\t0\t{rss}\t0\t0\t0\t0\t0\t0\t{cpu}\n" for s, rss, cpu in rows))


def rows_after(lines: list[str], header_start: str) -> list[list[str]]:
    """The whitespace-split rows that follow the line starting with `header_start`."""
    start = next(i for i, line in enumerate(lines) if line.lstrip().startswith(header_start))
    return [line.split() for line in lines[start + 1 :] if line.strip()]


def load_script(name: str):
    spec = importlib.util.spec_from_file_location(name.removesuffix(".py"), BENCHMARKS / name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def gpu_checks():
    return load_script("gpu_checks.py")  # in this process: torch is imported already


def test_sampling_benchmark_through_gpu_checks(gpu_checks, tmp_path, monkeypatch, capsys):
    """gpu_checks runs sampling.py as a step, logs it and summarises it; on a CPU in fp32 every
    case's images are the pipeline's, bit for bit (the same arithmetic)."""
    out = tmp_path / "checks"
    argv = ["--device", "cpu", "--images", "4", "--only", "sampling_fp32", "--out", str(out)]
    monkeypatch.setattr(sys, "argv", ["gpu_checks.py", *argv])
    gpu_checks.main()
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("sampling_fp32") and " ok " in line for line in lines), lines
    summary = (out / "summary.txt").read_text()
    assert summary.startswith("## sampling_fp32\n") and "\r" not in summary
    rows = rows_after(summary.splitlines(), "case")
    cases = [" ".join(row[:-4]) for row in rows]
    assert cases == ["pixel ddim 10", "pixel ddpm 50 noise:cpu", "pixel ddpm 50 noise:dev", "latent_kl_f2 ddim 10"]
    for row in rows:
        reference, ours, ratio = map(float, row[-4:-1])
        assert reference > 0 and ours > 0
        assert_printed_ratio(ratio, ours, reference)
        assert row[-1] == "identical", row
    assert (out / "sampling_fp32.log").read_text().count("identical") == 4


def test_gpu_checks_names_its_steps_when_one_is_unknown(gpu_checks, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["gpu_checks.py", "--only", "sampling_fp64", "--out", str(tmp_path)])
    with pytest.raises(SystemExit) as exit_:
        gpu_checks.main()
    assert exit_.value.code == 2
    message = capsys.readouterr().err
    assert "--only: unknown ['sampling_fp64']" in message and "default_bf16" in message
    assert not (tmp_path / "summary.txt").exists()


def test_gpu_checks_summary_leaves_out_progress_bars(gpu_checks, tmp_path):
    log = tmp_path / "training_loop.log"
    log.write_bytes(b"device cpu\nbenchmark:   0%|  | 0/5\rbenchmark: 100%|##| 5/5\nmodel  ours / bare\npixel  0.98\n")
    assert gpu_checks.without_progress_bars(log) == "device cpu\nmodel  ours / bare\npixel  0.98\n"


def test_gpu_checks_workflow_configs_are_valid_experiments(gpu_checks, tmp_path):
    """The default experiment at a cut budget and the compression-sweep slice: what a GPU run
    would hand to Snakemake passes the schema and the semantic checks."""
    default = gpu_checks.default_experiment("cuda", "bf16", 2000.0, tmp_path / "default")
    sweep = gpu_checks.sweep_slice("cuda", 20.0, tmp_path / "sweep")
    for config in (default, sweep):
        assert validate_config(copy.deepcopy(config))["device"] == "cuda"
    validated = validate_config(copy.deepcopy(default))
    assert all(spec["training"]["max_gflops"] == 2000.0 for spec in validated["models"].values())
    assert all(spec["training"]["max_seconds"] is None for spec in validated["models"].values())  # same steps anywhere
    assert all(spec["training"]["max_seconds"] == 20.0 for spec in validate_config(sweep)["models"].values())
    assert default["precision"] == "bf16" and default["results_dir"] == str(tmp_path / "default")
    # The first stages keep their share of the cut budget.
    shares = {spec["autoencoder"]["training"]["budget_share"] for spec in default["models"].values()
              if "autoencoder" in spec}  # fmt: skip
    assert shares and None not in shares
    assert gpu_checks.default_experiment("cuda", "fp32", None, tmp_path / "d") == {
        **yaml.safe_load((REPO / "config" / "config.yaml").read_text()),
        "device": "cuda", "precision": "fp32", "results_dir": str(tmp_path / "d"),
    }  # fmt: skip
    assert list(sweep["models"]) == list(gpu_checks.SWEEP_SLICE)
    assert {spec["dataset"] for spec in sweep["models"].values()} == set(sweep["datasets"]) == {"shapes32"}


def test_gpu_checks_summarises_a_workflow_run_from_its_report(gpu_checks, tmp_path, monkeypatch):
    """What gpu_checks reads back from a finished run (its report's tables and benchmark files)
    exists under the names it reads: a renamed column would otherwise turn into a silent NaN."""
    config = fixture_config(tmp_path)  # validated
    write_results(config)
    write_benchmark(Path(config["results_dir"]) / "benchmarks" / "train_diffusion" / "pixel.tsv", [(61.5, 900, 120)])

    def finished_run(name, command, out, timeout):  # stands in for Snakemake: the run's report
        assert command[1:3] == ["-m", "snakemake"] and (out / f"{name}.yaml").is_file()
        build_report(config=config, workflow_dir=tmp_path, published=[])
        return True, 75.4

    monkeypatch.setattr(gpu_checks, "run_logged", finished_run)
    summary = gpu_checks.workflow("default_fp32", config, tmp_path, timeout=60)
    paths = ReportPaths.of(Experiment.of(config))
    runs, models = pd.read_csv(paths.runs_csv), pd.read_csv(paths.models_csv)
    assert set(gpu_checks.MEMORY) <= set(runs.columns)
    assert set(gpu_checks.TRAINING_MEMORY) <= set(models.columns)
    assert summary["run"] == "default_fp32" and summary["ok"] and summary["wall_s"] == 75
    assert summary["best_images_per_s"] == runs.sampling_images_per_s.max() > 0
    assert set(summary) == {"run", "ok", "wall_s", "best_images_per_s", *gpu_checks.MEMORY, *gpu_checks.TRAINING_MEMORY}
    table = (tmp_path / "rule_times.txt").read_text()
    assert table.startswith("## default_fp32\n") and "train_diffusion" in table and "61.50" in table


def test_features_benchmark_matches_torch_fidelity(torch_home):
    lines = output_lines("features.py", "--device", "cpu", "--images", "8", "--batch-size", "4", "--repeats", "1",
                         env={"TORCH_HOME": str(torch_home)})  # fmt: skip
    (row,) = rows_after(lines, "reference img/s")
    reference, ours, ratio, fid_reference, fid_ours, relative = map(float, row)
    assert reference > 0 and ours > 0
    assert_printed_ratio(ratio, ours, reference)
    assert fid_reference > 0 and relative < 1e-4  # the bar; test_features pins it more tightly


def test_features_benchmark_without_weights_says_how_to_fetch(tmp_path):
    empty_home = {"TORCH_HOME": str(tmp_path)}
    done = run_script("features.py", "--device", "cpu", "--images", "2", env=empty_home, returncode=1)
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "fetch-assets" in line and "TORCH_HOME" in line


def test_training_loop_benchmark(tmp_path):
    # The default's models at a quarter of their width and batch: the same code paths, less arithmetic.
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    for spec in config["models"].values():
        spec["unet"]["base_channels"], spec["training"]["batch_size"] = 8, 8
    (tmp_path / "small.yaml").write_text(yaml.safe_dump(config))
    lines = output_lines("training_loop.py", "--device", "cpu", "--steps", "2", "--config", tmp_path / "small.yaml")
    rows = rows_after(lines, "model")
    assert [row[0] for row in rows] == ["pixel", "latent_kl_f2"]
    for row in rows:
        bare, replaced, ours, over_bare, over_replaced = map(float, row[1:])
        assert min(bare, replaced, ours) > 0
        assert_printed_ratio(over_bare, ours, bare)
        assert_printed_ratio(over_replaced, ours, replaced)


def test_interval_coverage_benchmark():
    lines = output_lines("interval_coverage.py", "--trials", "2", "--dims", "4", "--sizes", "32", "--workers", "1")
    (row,) = rows_after(lines, "dim")
    assert row[:2] == ["4", "32"]
    coverages = [float(cell.rstrip("%")) for cell in row[3:8]]
    assert all(value in (0.0, 50.0, 100.0) for value in coverages)  # 2 trials: each covers or not


def test_reproduction_truth_benchmark():
    lines = output_lines("reproduction_truth.py", "--trials", "2", "--sizes", "40", "--ks", "0", "2", "--workers", "1")
    rows = rows_after(lines, "d")
    assert [row[:3] for row in rows] == [["64", "40", "0"], ["64", "40", "2"]]
    for row in rows:
        rates = [float(cell.rstrip("%")) for cell in row[5:8]]
        assert sum(rates) == 100.0 and all(value in (0.0, 50.0, 100.0) for value in rates)  # 2 trials


@pytest.mark.parametrize(("fractions", "hidden"), [([], True), (["0.5", "1.0"], False)])
def test_verdict_truth_benchmark_brackets_fid_at_infinity_where_the_report_hides_it(fractions, hidden):
    """At 40 images in 8 dimensions the default fractions' smallest subset (4) is below 2 x 8: the
    report would hide FID_inf, and the table brackets it; fractions from 0.5 give subsets of 20."""
    options = ["--fractions", *fractions] if fractions else []
    lines = output_lines("verdict_truth.py", "--trials", "2", "--sizes", "8:40", "--cases", "equal", "--workers", "1",
                         *options)  # fmt: skip
    assert f"FID_inf from fractions [{', '.join(fractions) if fractions else '0.1, 0.2'}" in lines[0]
    row, variance = [line for line in lines if line.split()[:1] == ["equal"]]  # the main table, then KID's variance
    assert ("[" in row) == hidden and float(row.split()[-1]) > 0  # the FID_inf interval's mean width, last
    ratios = [float(cell) for cell in variance.split()[3:5]]  # jackknife and corrected variance / the trials'
    assert all(ratio > 0 for ratio in ratios) and variance.split()[-1].endswith("%")


def test_verdict_truth_benchmark_single_runs_covers_each_runs_kid():
    lines = output_lines("verdict_truth.py", "--single", "--trials", "2", "--sizes", "8:40", "--cases", "equal",
                         "shifted", "--workers", "1")  # fmt: skip
    rows = rows_after(lines, "case")
    assert [row[:3] for row in rows] == [["equal", "8", "40"], ["shifted", "8", "40"]]
    for row in rows:
        assert all(float(cell.rstrip("%")) in (0.0, 50.0, 100.0) for cell in row[3:7])  # 2 trials: covered or not


def test_rule_times_sums_each_rules_benchmark_files(tmp_path):
    """Snakemake's benchmark files (one row per repeat; the last counts), summed per rule."""
    benchmarks = tmp_path / "benchmarks"
    write_benchmark(benchmarks / "train_diffusion" / "pixel.tsv", [(99, 10, 99), (150.5, 900, 250)])
    write_benchmark(benchmarks / "train_diffusion" / "latent.tsv", [(149.5, 950, 240)])
    write_benchmark(benchmarks / "sample_shard" / "pixel" / "ddim" / "10" / "0.tsv", [(6, 800, 7)])
    rule_times = load_script("rule_times.py").rule_times
    table = rule_times(tmp_path)
    assert list(table.index) == ["train_diffusion", "sample_shard"]  # largest wall time first
    assert table.loc["train_diffusion"].to_dict() == pytest.approx(
        {"jobs": 2, "wall_s": 300.0, "cpu_s": 490.0, "max_rss_mb": 950.0, "share": 300 / 306}
    )
    assert table.loc["sample_shard", "jobs"] == 1
    lines = output_lines("rule_times.py", tmp_path)
    assert lines[-1] == "sum of benchmarked jobs: 306 s wall, 497 s CPU"


def test_savings_truth_benchmark_closed_form_mmd_matches_monte_carlo():
    """The simulation's truth: the squared MMD of two mean-shifted Gaussians under the cubic kernel,
    against an unbiased Monte Carlo estimate from independent pairs (h below has mean MMD^2), within
    4 of its standard errors (the seed is fixed, so this is one deterministic draw; an error of half
    the smallest term, 6 a'S^2 b / d^3, would be 6 of them)."""
    import numpy as np

    mmd2 = load_script("savings_truth.py").mmd2
    rng = np.random.default_rng(0)
    dim, pairs, delta = 4, 2_000_000, 1.5
    spectrum = 1.0 / np.arange(1, dim + 1) ** 0.7
    direction = rng.standard_normal(dim)
    direction /= np.linalg.norm(direction)

    def draw(shift):
        return rng.standard_normal((pairs, dim)) * np.sqrt(spectrum) + shift

    x, x2, y, y2 = draw(delta * direction), draw(delta * direction), draw(0.0), draw(0.0)

    def k(u, v):
        return (np.sum(u * v, axis=1) / dim + 1) ** 3

    h = k(x, x2) + k(y, y2) - k(x, y2) - k(x2, y)
    se = h.std(ddof=1) / np.sqrt(pairs)
    assert abs(mmd2(delta, spectrum, direction) - h.mean()) < 4 * se
    assert mmd2(0.0, spectrum, direction) == pytest.approx(0.0, abs=1e-12)


def test_savings_truth_benchmark():
    lines = output_lines("savings_truth.py", "--trials", "2", "--sizes", "40", "--workers", "1")
    rows = rows_after(lines, "scenario")
    assert [row[0] for row in rows] == ["saves", "identical", "crosses"]
    truths = {row[0]: (float(row[3]), row[4], row[7]) for row in rows}
    assert truths["saves"][1:] == ("reached", "below") and 2.0 < truths["saves"][0] < 3.0
    assert truths["identical"] == (1.0, "reached", "identical")
    assert truths["crosses"][1:] == ("beyond", "crosses")
    for row in rows:
        states = [float(cell.rstrip("%")) for cell in row[8:12]]
        assert sum(states) == 100.0 and all(value in (0.0, 50.0, 100.0) for value in states)  # 2 trials


def test_kid_scale_benchmark():
    lines = output_lines("kid_scale.py", "--sizes", "40", "60", "--dim", "8", "--groups", "4")
    assert "reference: torch-fidelity, 100 subsets of min(n, 1000)" in lines[0]
    rows = [line.split() for line in lines[2:4]]
    assert [int(r[0]) for r in rows] == [40, 60] and all(float(v) > 0 for r in rows for v in r[1:])
    assert lines[4].startswith("extrapolated to n = m = 50,000")
