"""Fetching hub checkpoints and torchvision datasets on the machine with the network; compute jobs
read them offline."""

from __future__ import annotations

import functools
import gzip
import hashlib
import json
import os
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import yaml

from diffbench.data.sources import TorchvisionSource
from diffbench.errors import DataError, ModelError
from diffbench.jobs import USER_HUB_OFFLINE, hub_offline_for_jobs, hub_setting_for_fetch
from diffbench.specs import DatasetSpec
from diffbench.stages.assets import fetch_dataset, fetch_pretrained
from helpers import fake_mnist, ldm_style_checkpoint, typed_spec
from hub_fixture import FixtureHub


def mnist_spec(root):
    return typed_spec(DatasetSpec, source="mnist", split="test", download=True, resolution=28, channels=1, root=root)


@pytest.mark.parametrize("user", [None, "1", "0"])
def test_jobs_are_offline_and_fetches_keep_the_users_setting(user):
    environ = {} if user is None else {"HF_HUB_OFFLINE": user}
    hub_offline_for_jobs(environ)
    assert environ["HF_HUB_OFFLINE"] == "1"
    nested = dict(environ)  # a SLURM job's snakemake parses the Snakefile again
    hub_offline_for_jobs(nested)
    assert nested == environ
    hub_setting_for_fetch(nested)
    assert nested.get("HF_HUB_OFFLINE") == user and nested[USER_HUB_OFFLINE] == (user or "")


def test_a_missing_local_folder_names_the_key(tmp_path):
    with pytest.raises(ModelError, match=r"models.m: .* \(config key 'models.m.pretrained.id'\) is not a diffusers"):
        fetch_pretrained(
            name="m",
            pretrained={"id": str(tmp_path / "nothing"), "revision": None, "latent_scaling_factor": None},
            out_record=tmp_path / "m.json",
        )
    assert not (tmp_path / "m.json").exists()


def test_a_local_folder_is_recorded_not_copied(tmp_path):
    ldm_style_checkpoint(tmp_path / "ckpt")
    record = fetch_pretrained(
        name="m",
        pretrained={"id": str(tmp_path / "ckpt"), "revision": None, "latent_scaling_factor": None},
        out_record=tmp_path / "m.json",
    )
    assert record["kind"] == "local folder" and record["path"] == str(tmp_path / "ckpt")
    assert json.loads((tmp_path / "m.json").read_text())["id"] == str(tmp_path / "ckpt")


def run_cli(*args, env, cwd):
    return subprocess.run(
        [sys.executable, "-m", "diffbench.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={k: v for k, v in {**os.environ, **env}.items() if v is not None},
    )


def test_hub_model_fetched_into_hf_home(tmp_path, torch_home):
    ldm_style_checkpoint(tmp_path / "repo")
    (tmp_path / "repo" / "README.md").write_text("not needed by diffbench, so not fetched")
    config = {
        "results_dir": str(tmp_path / "results"),
        "datasets": {"d": {"resolution": 8, "num_train": 1, "num_reference": 2}},
        "evaluation": {"interval_groups": 0},  # 2 reference images are too few for jackknife groups
        "models": {
            "ldm": {
                "dataset": "d",
                "family": "latent",
                "source": "pretrained",
                "pretrained": {"id": "fixture/tiny-ldm", "latent_scaling_factor": 1.0},
            },
            "absent": {
                "dataset": "d",
                "family": "latent",
                "source": "pretrained",
                "pretrained": {"id": "fixture/absent"},
            },
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    hf_home = tmp_path / "hf"
    with FixtureHub() as hub:
        commit = hub.add("fixture/tiny-ldm", tmp_path / "repo")
        fetched = run_cli(
            "fetch-assets",
            "-c",
            str(tmp_path / "c.yaml"),
            env={
                "HF_HOME": str(hf_home),
                "TORCH_HOME": str(torch_home),
                "HF_HUB_OFFLINE": None,
                "HF_ENDPOINT": hub.endpoint,
            },
            cwd=tmp_path,
        )
    # Models are fetched in config order: ldm arrives, then the absent one fails, naming its entry.
    assert fetched.returncode != 0
    assert "models.absent: cannot fetch 'fixture/absent'" in fetched.stderr
    assert "config key 'models.absent.pretrained.id'" in fetched.stderr
    record = json.loads((tmp_path / "results/assets/models/ldm.json").read_text())
    snapshot = hf_home / "hub" / "models--fixture--tiny-ldm" / "snapshots" / commit
    assert record["kind"] == "hub" and record["commit"] == commit and record["path"] == str(snapshot)
    assert (snapshot / "unet" / "config.json").is_file() and not (snapshot / "README.md").exists()
    assert any(r.startswith("/fixture/tiny-ldm/resolve/") for r in hub.requests)
    assert not (tmp_path / "results/assets/models/absent.json").exists()


def test_fetch_assets_fetches_the_perceptual_backbone_of_a_first_stage(tmp_path, torch_home):
    """`diffbench fetch-assets -c` runs the fetch_perceptual_backbone rule for a trained latent model
    whose autoencoder has a perceptual term (here present in TORCH_HOME, so nothing is downloaded)."""
    config = {
        "results_dir": str(tmp_path / "results"),
        "datasets": {"d": {"resolution": 8, "num_train": 8, "num_reference": 4}},
        "evaluation": {"interval_groups": 0},
        "models": {"m": {"dataset": "d", "family": "latent", "unet": {"channel_mult": [1]},
                         "autoencoder": {"downsampling_factor": 2, "perceptual_net": "squeeze"}}},
    }  # fmt: skip
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    fetched = run_cli("fetch-assets", "-c", str(tmp_path / "c.yaml"), env={"TORCH_HOME": str(torch_home)}, cwd=tmp_path)
    assert fetched.returncode == 0, fetched.stderr[-3000:]
    record = json.loads((tmp_path / "results/assets/perceptual/squeeze.json").read_text())
    assert record["lpips_net"] == "squeeze" and record["lpips_backbone"].startswith(str(torch_home))


def test_offline_without_the_model_in_the_cache_says_what_to_do(tmp_path):
    # Tests run with HF_HUB_OFFLINE=1 (conftest), as compute jobs do.
    from diffbench.stages.train import import_pretrained
    from helpers import import_spec

    with pytest.raises(
        ModelError, match=r"(?s)models.m: cannot load pretrained model 'fixture/not-fetched'.*HF_HUB_OFFLINE"
    ):
        import_pretrained(
            **import_spec("fixture/not-fetched", "latent"), out_dir=tmp_path / "out", out_record=tmp_path / "out.json"
        )
    with pytest.raises(
        ModelError, match=r"(?s)models.m: cannot fetch 'fixture/not-fetched'.*only the cache was searched"
    ):
        fetch_pretrained(
            name="m",
            pretrained={"id": "fixture/not-fetched", "revision": None, "latent_scaling_factor": None},
            out_record=tmp_path / "m.json",
        )


@pytest.fixture
def mnist_mirror(tmp_path, monkeypatch):
    """torchvision's MNIST download pointed at a loopback server holding small stand-in files."""
    from torchvision.datasets import MNIST

    fake_mnist(tmp_path / "served", n_train=3, n_test=7)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    resources = []
    for path in sorted((tmp_path / "served" / "MNIST" / "raw").iterdir()):
        data = gzip.compress(path.read_bytes())
        (mirror / f"{path.name}.gz").write_bytes(data)
        resources.append((f"{path.name}.gz", hashlib.md5(data).hexdigest()))
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(SimpleHTTPRequestHandler, directory=str(mirror)))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setattr(MNIST, "mirrors", [f"http://127.0.0.1:{server.server_address[1]}/"])
    monkeypatch.setattr(MNIST, "resources", resources)
    yield
    server.shutdown()
    server.server_close()


def test_fetch_dataset_downloads_into_the_root(tmp_path, mnist_mirror):
    spec = mnist_spec(str(tmp_path / "root"))
    record = fetch_dataset(name="m", spec=spec, out_record=tmp_path / "m.json")
    assert record["images"] == 7 and record["root"] == str(tmp_path / "root")
    assert (tmp_path / "root" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").is_file()
    # What prepare_data does on a compute node: read the root, never download.
    assert TorchvisionSource("m", spec).load(np.arange(7)).shape == (7, 28, 28, 1)


def test_a_compute_job_never_downloads_and_says_why(tmp_path, mnist_mirror):
    spec = mnist_spec(str(tmp_path / "unshared"))
    with pytest.raises(DataError, match=r"datasets.m: .*config key 'datasets.m.root'.*fetch_dataset rule.*shared"):
        TorchvisionSource("m", spec)
    assert not (tmp_path / "unshared" / "MNIST" / "raw" / "t10k-images-idx3-ubyte").exists()


def test_fetch_dataset_failure_names_the_root(tmp_path, monkeypatch):
    from torchvision.datasets import MNIST

    monkeypatch.setattr(MNIST, "mirrors", ["http://127.0.0.1:9/"])  # a closed port
    with pytest.raises(DataError, match=r"(?s)datasets.m: cannot load mnist .*the download failed"):
        fetch_dataset(name="m", spec=mnist_spec(str(tmp_path / "root")), out_record=tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()
