"""A paper preset end to end on stand-ins: its assets fetched once from a loopback hub, then every
job offline. Its own module, so that pytest-xdist (--dist loadscope) runs it beside the tiny DAG of
test_workflow.py rather than after it."""

import json

import pandas as pd
import pytest

from helpers import REPO
from helpers import e2e_snakemake as snakemake

pytestmark = pytest.mark.e2e


def test_assets_fetched_once_then_every_job_runs_offline(tmp_path, torch_home):
    """The celebahq256_pixel_vs_latent preset at 8x8 and tiny N on stand-ins: its two hub ids
    (DDPM- and LDM-layout checkpoints) served by a loopback hub, its image folder swapped for
    MNIST files. The local fetch rules fetch them; then the whole DAG runs with the hub still
    answering and every other address dead: no job asks it. The paired comparison is made and the
    latent runs sit beside the LDM paper's number with their protocol differences listed."""
    from helpers import ddpm_style_checkpoint, fake_mnist, ldm_style_checkpoint, preset_copy
    from hub_fixture import FixtureHub

    ddpm_style_checkpoint(tmp_path / "ddpm")
    ldm_style_checkpoint(tmp_path / "ldm")
    fake_mnist(tmp_path / "mnist")  # a populated root: fetch_dataset finds it and downloads nothing
    digits = {"source": "mnist", "root": str(tmp_path / "mnist"), "split": "test", "resolution": 8, "channels": 3,
              "num_train": 0, "num_reference": 4}  # fmt: skip
    preset = preset_copy(
        REPO / "config" / "experiments" / "celebahq256_pixel_vs_latent.yaml",
        tmp_path,
        **{
            "device": "cpu",
            "results_dir": "results",
            "datasets.celebahq": digits,
            "sampling.steps": [3],
            "sampling.num_samples": 4,
            "sampling.batch_size": 4,
            "sampling.images_per_shard": None,
            "evaluation": {"reference": "full", "interval_groups": 2, "diversity_pairs": 4},
            "report": {"grid_seeds": 2, "static_formats": []},
        },
    )
    records = ["results/assets/assets.json", "results/assets/datasets/celebahq.json"] + [
        f"results/assets/models/{m}.json" for m in ("ddpm_celebahq", "ldm_celebahq")
    ]
    hub_env = {
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": None,
        "no_proxy": "127.0.0.1",
        "NO_PROXY": "127.0.0.1",
    }
    with FixtureHub() as hub:
        hub.add("google/ddpm-celebahq-256", tmp_path / "ddpm")
        commit = hub.add("CompVis/ldm-celebahq-256", tmp_path / "ldm")
        hub_env["HF_ENDPOINT"] = hub.endpoint
        fetched = snakemake(f"--configfile={preset}", *records, cwd=tmp_path, torch_home=torch_home, env=hub_env)
        assert fetched.returncode == 0, fetched.stderr[-3000:]
        assert any("/resolve/" in r for r in hub.requests)
        fetched_at = [(tmp_path / r).stat().st_mtime for r in records]
        hub.requests.clear()

        dead = "http://127.0.0.1:9"  # a closed port: any other download fails at once
        offline = {**hub_env, **{k: dead for k in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY")}}
        result = snakemake("--configfile", preset, cwd=tmp_path, torch_home=torch_home, env=offline)
        assert result.returncode == 0, result.stderr[-3000:]
        assert hub.requests == []  # the jobs read HF_HOME only (HF_HUB_OFFLINE=1 from the Snakefile)
    assert [(tmp_path / r).stat().st_mtime for r in records] == fetched_at  # fetched once
    record = json.loads((tmp_path / "results/models/ldm_celebahq/training.json").read_text())
    assert record["source"] == "pretrained" and record["pretrained_id"] == "CompVis/ldm-celebahq-256"
    assert record["pretrained_commit"] == commit == json.loads((tmp_path / records[3]).read_text())["commit"]
    assert json.loads((tmp_path / "results/data/celebahq/info.json").read_text())["source_size"] == 12
    sampling = json.loads((tmp_path / "results/samples/ldm_celebahq/ddim/3/sampling.json").read_text())
    assert sampling["scheduler_class"] == "DDIMSequenceScheduler" and sampling["num_images"] == 4
    assert sampling["scheduler_config"]["timestep_spacing"] == "trailing" and sampling["timesteps"] == [9, 6, 2]
    runs = pd.read_csv(tmp_path / "results/report/runs.csv")
    assert len(runs) == 2 and (runs.reference == "full").all() and (runs.n_reference == 12).all()
    assert (runs.fid > 0).all() and len(pd.read_csv(tmp_path / "results/report/comparisons.csv")) == 1
    published = pd.read_csv(tmp_path / "results/report/published.csv")
    assert published.model.tolist() == ["ldm_celebahq"] and published.published.tolist() == [5.11]
    assert published.protocol_differences[0].startswith("N: ours 4 vs paper 50,000; reference images: ours 12 vs ")
    assert "steps: ours 3 vs paper 500" in published.protocol_differences[0]
    assert "Published vs ours, ldm_celebahq (ddim, 3 steps)" in (tmp_path / "results/report/report.html").read_text()
