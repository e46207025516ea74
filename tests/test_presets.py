"""The shipped experiments: each plans its whole DAG, says what it costs, and the presets that
reproduce a paper use that paper's protocol. (celebahq256_pixel_vs_latent runs end to end on
stand-in checkpoints in tests/test_workflow.py.)"""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest

from diffbench.config import load_config
from diffbench.published import closest, load_published, published_files
from helpers import REPO, preset_copy

EXPERIMENTS = sorted((REPO / "config" / "experiments").glob("*.yaml"))
PRESETS = [REPO / "config" / "config.yaml", *EXPERIMENTS]


def snakemake(*args, cwd, env=None):
    return subprocess.run(
        [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "-d", str(cwd), *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={k: v for k, v in {**os.environ, **(env or {})}.items() if v is not None},
    )


@pytest.mark.parametrize("preset", PRESETS, ids=lambda p: p.name)
def test_every_preset_plans_its_whole_dag(preset, tmp_path):
    config = load_config(preset)
    planned = snakemake("--configfile", preset_copy(preset, tmp_path), "-n", "--quiet", "rules", cwd=tmp_path)
    assert planned.returncode == 0, planned.stderr[-2000:]
    rules = set(planned.stdout.split())
    assert {"sample_shard", "distribution_metrics", "report"} <= rules
    assert ("prepare_full_data" in rules) == (config["evaluation"]["reference"] == "full")
    pretrained = any(m["source"] == "pretrained" for m in config["models"].values())
    assert ("fetch_pretrained" in rules) == pretrained


def header(preset) -> str:
    """A preset's leading comment as one line of text."""
    lines = []
    for line in preset.read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("# "))
    return " ".join(lines)


@pytest.mark.parametrize("preset", EXPERIMENTS, ids=lambda p: p.name)
def test_a_preset_says_what_it_costs(preset):
    """A GPU preset gives its expected GPU-hours; a CPU one says it runs on a laptop CPU."""
    text = header(preset)
    assert re.search(r"about [\d.]+ GPU-hours", text) or "on a laptop CPU" in text, preset.name


def preset_protocol(config: dict, model: str, sampler: str, steps: int, reference_images: int) -> dict:
    """The protocol a preset's run will have, from the settings it gives explicitly (a setting it
    leaves to the checkpoint counts as unknown, so a preset must state what the paper states)."""
    spec, settings = config["models"][model], config["sampling"]["samplers"][sampler]
    return {
        "model_id": spec["pretrained"]["id"],
        "num_samples": config["sampling"]["num_samples"],
        "reference": config["evaluation"]["reference"],
        "reference_images": reference_images,
        "sampler_type": settings["type"],
        "steps": steps,
        **{key: settings.get(key) for key in ("timestep_spacing", "steps_offset", "clip_sample", "variance_type")},
        "eta": settings["eta"] if settings["type"] == "ddim" else None,
        "precision": config["precision"],
        "resize": config["evaluation"]["resize"],
        "feature_extractor": config["evaluation"]["feature_extractor"],
    }


@pytest.mark.parametrize(
    "preset, targets",
    [
        ("ddpm_cifar10_pretrained.yaml", [3.17]),
        ("ddim_cifar10_pretrained.yaml", [13.36, 6.84, 4.67, 4.16]),
        ("ldm_celebahq_pretrained.yaml", [5.11]),
    ],
)
def test_a_reproduction_preset_uses_the_papers_protocol(preset, targets):
    """Every run of the preset matches a published entry with no protocol difference (the full
    reference's size is the source's: 50,000 CIFAR-10 training images, 30,000 CelebA-HQ), and its
    header names the numbers it targets."""
    path = REPO / "config" / "experiments" / preset
    config, published = load_config(path), load_published(published_files(None, REPO))
    source_size = {"cifar10": 50_000, "imagefolder": 30_000}
    found = []
    for model, spec in config["models"].items():
        size = source_size[config["datasets"][spec["dataset"]]["source"]]
        for sampler in config["sampling"]["samplers"]:
            for steps in config["sampling"]["steps"]:
                entry, differences = closest(published, preset_protocol(config, model, sampler, steps, size))
                assert differences == [], (preset, sampler, steps, differences)
                found.append(entry.entry["value"])
    assert found == targets
    assert all(f"{value}" in header(path) for value in targets)


@pytest.mark.parametrize("preset", [REPO / "config" / "config.yaml", REPO / "config" / "experiments" / "mnist.yaml"],
                         ids=lambda p: p.name)  # fmt: skip
def test_the_cpu_experiments_budget_every_stage_in_gflops(preset, tmp_path):
    """The default and the MNIST preset train the same steps on every machine: every model and every
    first stage is limited in GFLOPs over all stages, none in seconds (what the planned jobs get:
    the rules pass the validated model spec, and train_autoencoder resolves its budget_share)."""
    from diffbench.specs import ModelSpec

    planned = snakemake("--configfile", preset_copy(preset, tmp_path), "-n", "--quiet", "rules", cwd=tmp_path)
    assert planned.returncode == 0 and {"train_autoencoder", "train_diffusion"} <= set(planned.stdout.split())
    models = load_config(preset)["models"]
    assert {m["family"] for m in models.values()} == {"pixel", "latent"}
    totals = {m["training"]["max_gflops"] for m in models.values()}
    assert len(totals) == 1 and None not in totals  # one budget for every model
    for name, model in models.items():
        training = model["training"]
        assert model["budget_scope"] == "total", name
        assert training["max_seconds"] is None and training["max_steps"] is None, name
        if model["family"] == "latent":
            first = ModelSpec.of(model).first_stage_training()
            share = model["autoencoder"]["training"]["budget_share"]
            assert first.max_seconds is None and first.max_steps is None, name
            assert first.max_gflops == pytest.approx(share * training["max_gflops"]), name


@pytest.mark.parametrize(("name", "milestones"), [("config.yaml", 4), ("ldm_compression_sweep.yaml", 3)])
def test_the_default_and_the_compression_sweep_evaluate_every_model_along_training(name, milestones):
    """The answer is a curve: every trained model of the default has at least 4 milestones, and the
    compression sweep evaluates LDM-1, -2, -4 and -8 along training (the paper's Fig. 5)."""
    from diffbench.experiment import Experiment

    preset = next(p for p in PRESETS if p.name == name)
    experiment = Experiment.of(load_config(preset))
    assert all(len(experiment.milestones(m)) >= milestones for m in experiment.models)
    assert len(list(experiment.milestone_runs())) == milestones * len(experiment.models)
