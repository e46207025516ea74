import json
import re
import subprocess
import sys

import pytest
import yaml

import diffbench.cli as cli_module
from diffbench import errors
from helpers import REPO, TINY_CONFIG


def diffbench(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "diffbench.cli", *map(str, args)], cwd=cwd, capture_output=True, text=True
    )


def test_validate_prints_the_filled_config(tmp_path):
    result = diffbench("validate", TINY_CONFIG, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["models"]["kl"]["autoencoder"]["kl_weight"] == 1e-6


def test_bad_config_exits_2_naming_the_key(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["sampling"]["samplers"]["ddim"]["type"] = "plms"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = diffbench("runs", "-c", tmp_path / "bad.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert "config key 'sampling.samplers.ddim.type': 'plms' is not one of" in result.stderr


def snakemake(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(cwd), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
    )


def test_one_stage_is_run_as_a_snakemake_target(tmp_path):
    """The CLI has no per-stage commands: a stage is its rule's output (or --until RULE)."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    planned = snakemake("results/models/pix/pipeline", "--configfile", "c.yaml", "-n", "--quiet", "rules", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    assert {"prepare_data", "train_diffusion"} <= set(planned.stdout.split()) and "sample_shard" not in planned.stdout
    runs = diffbench("runs", "-c", "c.yaml", cwd=tmp_path).stdout.splitlines()
    sampling = config["sampling"]
    assert len(runs) == len(config["models"]) * len(sampling["samplers"]) * len(sampling["steps"])
    assert "pix\tddim\t3\t2 shard(s)" in runs


@pytest.mark.parametrize(
    "reference, images", [("heldout", "heldout.npz"), ("train", "train.npz"), ("full", "full.npz")]
)
def test_fid_is_computed_against_the_configured_reference_set(tmp_path, reference, images):
    """evaluation.reference picks the images the reference features come from; reconstruction
    metrics keep the held-out set whatever it is."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["evaluation"]["reference"] = reference
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    targets = ["results/metrics/kl/ddim/3/distribution.json", "results/metrics/kl/reconstruction.json"]
    planned = snakemake(*targets, "--configfile", "c.yaml", "-n", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr
    jobs: dict[str, list[str]] = {}  # rule -> the dry run's text of each of its jobs
    for rule, text in re.findall(r"^rule (\w+):\n(.*?)(?:\n\n|\Z)", planned.stdout, re.S | re.M):
        jobs.setdefault(rule, []).append(text)
    assert f"features/tiny/{reference}-" in jobs["distribution_metrics"][0]
    assert "features/tiny/heldout-" in jobs["reconstruction_metrics"][0]
    assert any(f"input: results/data/tiny/{images}" in job for job in jobs["reference_features"])
    assert ("prepare_full_data" in jobs) == (reference == "full")


def test_yaml_syntax_error_is_one_line_naming_file_line_and_column(tmp_path):
    (tmp_path / "c.yaml").write_text("sampling:\n  num_samples: 4\n\tseed: 3\n")
    result = diffbench("validate", "c.yaml", cwd=tmp_path)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert result.stderr.startswith("error: config file c.yaml, line 3, column 1:") and "tab" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_a_key_given_twice_is_an_error_naming_key_and_lines(tmp_path):
    text = TINY_CONFIG.read_text()
    assert "\nmodels:\n  pix:\n" in text  # a second pix entry is put before this one
    doubled = text.replace("\nmodels:\n", "\nmodels:\n  pix:\n    dataset: tiny\n", 1)
    (tmp_path / "c.yaml").write_text(doubled)
    first = doubled.splitlines().index("  pix:") + 1
    result = diffbench("validate", "c.yaml", cwd=tmp_path)
    assert result.returncode == 2
    assert f"key 'pix' is given twice in one mapping (line {first} and line {first + 2})" in result.stderr
    planned = snakemake("--configfile", "c.yaml", "-n", cwd=tmp_path)
    assert planned.returncode != 0 and "key 'pix' is given twice" in planned.stdout + planned.stderr


def test_missing_image_folder_stops_validate_and_the_dag_before_any_job(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["datasets"]["tiny"].update(source="imagefolder", root="no/such/folder")
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    expected = "datasets.tiny: image folder 'no/such/folder' does not exist (config key 'datasets.tiny.root')"
    result = diffbench("validate", "c.yaml", cwd=tmp_path)
    assert result.returncode == 2 and expected in result.stderr
    planned = snakemake("--configfile", "c.yaml", "-n", cwd=tmp_path)
    assert planned.returncode != 0 and expected in planned.stdout + planned.stderr


@pytest.mark.parametrize("error", [errors.MissingWeights, errors.NonFiniteLoss, errors.ResultError, errors.DataError])
def test_every_user_error_is_one_line_and_exit_2(error, monkeypatch, capsys):
    def fail(path):
        raise error("what is wrong and what to do")

    monkeypatch.setattr(cli_module, "load_config", fail)
    monkeypatch.setattr(sys, "argv", ["diffbench", "runs"])
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main()
    assert exit_info.value.code == 2
    assert capsys.readouterr().err == "error: what is wrong and what to do\n"
