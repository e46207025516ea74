"""The shipped experiments: each plans its whole DAG, says what it costs, and the presets that
reproduce a paper use that paper's protocol; one preset runs end to end on stand-in checkpoints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from diffbench.config import load_config
from diffbench.published import closest, load_published, published_files
from helpers import REPO, ddpm_style_checkpoint, ldm_style_checkpoint
from hub_fixture import FixtureHub

EXPERIMENTS = sorted((REPO / "config" / "experiments").glob("*.yaml"))
PRESETS = [REPO / "config" / "config.yaml", *EXPERIMENTS]


def local_copy(preset, folder, **overrides):
    """The preset with its image folders pointed at a few stand-in images under `folder`."""
    config = yaml.safe_load(preset.read_text())
    for spec in config["datasets"].values():
        if spec.get("source") == "imagefolder":
            images = folder / "images"
            images.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng(0)
            for i in range(12):
                side = spec["resolution"]
                Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(images / f"{i}.png")
            spec["root"] = str(images)
    for key, value in overrides.items():
        node = config
        *parents, last = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    path = folder / preset.name
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


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
    planned = snakemake("--configfile", local_copy(preset, tmp_path), "-n", "--quiet", "rules", cwd=tmp_path)
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


def test_the_pixel_vs_latent_preset_runs_end_to_end_on_stand_in_checkpoints(tmp_path, torch_home):
    """celebahq256_pixel_vs_latent with its two hub ids served by the loopback hub (stand-ins in the
    DDPM and LDM layouts) at 8x8 and tiny N: every stage runs, the paired comparison is made, and
    the latent runs sit beside the LDM paper's number with their protocol differences listed."""
    ddpm_style_checkpoint(tmp_path / "ddpm")
    ldm_style_checkpoint(tmp_path / "ldm")
    config = local_copy(
        REPO / "config" / "experiments" / "celebahq256_pixel_vs_latent.yaml",
        tmp_path,
        **{
            "datasets.celebahq.resolution": 8,
            "datasets.celebahq.num_reference": 4,
            "sampling.steps": [3],
            "sampling.num_samples": 4,
            "sampling.batch_size": 4,
            "sampling.images_per_shard": None,
            "evaluation.interval_groups": 2,
            "evaluation.kid_subset_size": 4,
            "evaluation.fid_infinity_fractions": [],
            "report.static_formats": [],
            "device": "cpu",
        },
    )
    with FixtureHub() as hub:
        hub.add("google/ddpm-celebahq-256", tmp_path / "ddpm")
        hub.add("CompVis/ldm-celebahq-256", tmp_path / "ldm")
        env = {"HF_HOME": str(tmp_path / "hf"), "TORCH_HOME": str(torch_home), "HF_HUB_OFFLINE": None,
               "HF_ENDPOINT": hub.endpoint}  # fmt: skip
        done = snakemake("--configfile", config, "--cores", "2", cwd=tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    results = tmp_path / "results" / "celebahq256_pixel_vs_latent"
    runs = pd.read_csv(results / "report" / "runs.csv")
    assert len(runs) == 2 and (runs.reference == "full").all() and (runs.n_reference == 12).all()
    assert len(pd.read_csv(results / "report" / "comparisons.csv")) == 1
    published = pd.read_csv(results / "report" / "published.csv")
    assert published.model.tolist() == ["ldm_celebahq"] and published.published.tolist() == [5.11]
    assert published.protocol_differences[0].startswith("N: ours 4 vs paper 50,000; reference images: ours 12 vs ")
    assert "steps: ours 3 vs paper 500" in published.protocol_differences[0]
    assert "Published vs ours, ldm_celebahq (ddim, 3 steps)" in (results / "report" / "report.html").read_text()
    sampling = json.loads((results / "samples" / "ldm_celebahq" / "ddim" / "3" / "sampling.json").read_text())
    assert sampling["scheduler_config"]["timestep_spacing"] == "trailing" and sampling["timesteps"] == [9, 6, 2]
