"""The Snakemake DAG end to end on the tiny config: every output exists and is well formed."""

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import yaml
from PIL import Image

from diffbench.config import validate_config
from diffbench.models.pipelines import load_model
from diffbench.paths import Layout
from conftest import REPO, TINY_CONFIG

pytestmark = pytest.mark.e2e


def snakemake(*args, cwd):
    # Heavy rules ask for every core; one thread each lets the tiny jobs run two at a time.
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--cores", "2",
               "--set-threads", "train_autoencoder=1", "train_diffusion=1", "sample_shard=1", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("e2e")
    result = snakemake("--configfile", str(TINY_CONFIG), cwd=workdir)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, validate_config(yaml.safe_load(TINY_CONFIG.read_text()))


def test_every_sample_set_is_complete(run):
    workdir, config = run
    layout = Layout(str(workdir / "results"))
    sampling = config["sampling"]
    seeds = list(range(sampling["seed"], sampling["seed"] + sampling["num_samples"]))
    for model in config["models"]:
        for sampler, spec in sampling["samplers"].items():
            for steps in sampling["steps"]:
                keys = (model, sampler, steps)
                with np.load(layout.samples(*keys)) as data:
                    assert data["images"].shape == (len(seeds), 8, 8, 3) and data["images"].dtype == np.uint8
                    assert data["seeds"].tolist() == seeds
                    images = data["images"]
                pngs = sorted((workdir / layout.sample_pngs(*keys)).glob("*.png"))
                assert [p.name for p in pngs] == [f"{s:06d}.png" for s in seeds]
                np.testing.assert_array_equal(np.asarray(Image.open(pngs[-1])), images[-1])
                record = json.loads((workdir / layout.sampling_record(*keys)).read_text())
                assert record["nfe_per_image"] == (2 * steps - 1 if spec["type"] == "heun" else steps)
                assert record["num_images"] == len(seeds) and record["num_shards"] == 2
                assert record["seconds_per_image"] > 0 and record["images_per_s"] > 0
                assert record["device"] == "cpu" and record["nonfinite_images"] == 0
                assert (record["decode_s"] > 0) == (config["models"][model]["family"] == "latent")
    assert not list((workdir / "results" / "samples").rglob("shards/*.npz"))  # temporary shards removed


def test_models_records_logs_and_benchmarks(run):
    workdir, config = run
    layout = Layout(str(workdir / "results"))
    for model, spec in config["models"].items():
        assert load_model(layout.pipeline_dir(model)).family == spec["family"]
        record = json.loads((workdir / layout.training_record(model)).read_text())
        assert record["steps"] == spec["training"]["max_steps"]
        assert len(pd.read_csv(layout.training_loss(model))) == record["steps"]
        assert (workdir / layout.log("train_diffusion", model)).stat().st_size > 0
        assert (workdir / layout.benchmark("train_diffusion", model)).is_file()
        if spec["family"] == "latent":
            assert json.loads((workdir / layout.autoencoder_record(model)).read_text())["scaling_factor"] > 0
    assert json.loads((workdir / layout.data_info("tiny")).read_text())["reference"]["count"] == 16


def test_a_finished_run_has_nothing_left_to_do(run):
    workdir, _ = run
    result = snakemake("--configfile", str(TINY_CONFIG), "-n", cwd=workdir)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr


def test_bad_config_fails_before_any_job(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["kl"]["autoencoder"]["downsampling_factor"] = 16
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--configfile", "bad.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "config key 'models.kl.autoencoder.downsampling_factor'" in result.stderr
    assert not (tmp_path / "results").exists()


def test_lint():
    result = subprocess.run([sys.executable, "-m", "snakemake", "--lint", "--configfile", str(TINY_CONFIG)],
                            cwd=REPO, capture_output=True, text=True)
    assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr


def test_pretrained_model_through_the_dag(tmp_path):
    from test_models import ldm_style_checkpoint

    ldm_style_checkpoint(tmp_path / "ckpt")
    config = {
        "device": "cpu",
        "datasets": {"tiny": {"resolution": 8, "num_train": 1, "num_reference": 2}},
        "models": {"ldm": {"dataset": "tiny", "family": "latent", "source": "pretrained",
                           "pretrained": {"id": str(tmp_path / "ckpt"), "latent_scaling_factor": 1.0}}},
        "sampling": {"samplers": {"ddim": {"type": "ddim"}}, "steps": [2], "num_samples": 2, "batch_size": 2},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--configfile", "c.yaml", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((tmp_path / "results/models/ldm/training.json").read_text())
    assert record["source"] == "pretrained" and record["scaling_factor"] == 1.0
    sampling = json.loads((tmp_path / "results/samples/ldm/ddim/2/sampling.json").read_text())
    assert sampling["scheduler_class"] == "DDIMScheduler" and sampling["num_images"] == 2
