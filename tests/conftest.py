"""Shared fixtures: tiny configs, prepared data and trained models made by the tests themselves."""

from __future__ import annotations

import os

# Tests never reach the network: hub look-ups fail fast instead of hanging. Set before anything
# imports huggingface_hub (helpers imports diffusers), which reads the variable once, at import.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

# pytest-xdist workers share the machine's cores: each gets its share of torch's threads, set before
# torch is imported (helpers imports it). Oversubscribed OpenMP threads spin-wait for each other, so
# two workers with all cores each ran the suite slower than two with half each. Jobs of the end-to-end
# runs set their own threads from Snakemake's (diffbench.jobs), as in a real run.
if os.environ.get("PYTEST_XDIST_WORKER"):
    _share = (os.cpu_count() or 1) // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    os.environ.setdefault("OMP_NUM_THREADS", str(max(1, _share)))

import copy  # noqa: E402

import pytest  # noqa: E402
import yaml  # noqa: E402

from diffbench.config import validate_config  # noqa: E402
from helpers import TINY_CONFIG, calibrated_inception_state  # noqa: E402

# The longest modules, longest first (module fixture or end-to-end runs of minutes each). With
# --dist loadscope and --no-loadscope-reorder (pyproject.toml) xdist hands out modules in collection
# order, so these start at once on both workers and the short modules fill in around them; xdist's
# default order (most tests first) left the end-to-end runs for last, one worker idle meanwhile.
LONGEST_FIRST = ("test_workflow.py", "test_offline.py", "test_slurm.py", "test_resume.py")


def pytest_collection_modifyitems(items):
    def rank(item):
        name = item.path.name
        return LONGEST_FIRST.index(name) if name in LONGEST_FIRST else len(LONGEST_FIRST)

    items.sort(key=rank)  # stable: the order within each module, and among the rest, is kept


@pytest.fixture
def tiny_raw() -> dict:
    """The tiny experiment as written (no defaults filled)."""
    return yaml.safe_load(TINY_CONFIG.read_text())


@pytest.fixture
def tiny_config(tiny_raw) -> dict:
    return validate_config(copy.deepcopy(tiny_raw))


@pytest.fixture(scope="session")
def trained(tmp_path_factory, torch_home) -> dict:
    """Prepared tiny data and one trained model per family (pixel, KL latent, VQ latent)."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TORCH_HOME", str(torch_home))  # the VQ first stage's perceptual loss reads its backbone
        return _train_tiny(tmp_path_factory)


def _train_tiny(tmp_path_factory) -> dict:
    from diffbench.paths import Layout
    from diffbench.stages.data import prepare_data
    from diffbench.stages.train import train_autoencoder, train_diffusion

    root = tmp_path_factory.mktemp("trained")
    config = validate_config(yaml.safe_load(TINY_CONFIG.read_text()))
    layout = Layout(str(root))
    spec = config["datasets"]["tiny"]
    prepare_data("tiny", spec, layout.train_images("tiny"), layout.heldout_images("tiny"), layout.data_info("tiny"))
    records = {}
    for name, model in config["models"].items():
        if model["family"] == "latent":
            train_autoencoder(
                name=name,
                model_spec=model,
                dataset_spec=spec,
                train_images=layout.train_images("tiny"),
                device="cpu",
                precision="fp32",
                out_dir=layout.autoencoder_dir(name),
                out_record=layout.autoencoder_record(name),
                out_loss=layout.autoencoder_loss(name),
            )
        records[name] = train_diffusion(
            name=name,
            model_spec=model,
            dataset_spec=spec,
            train_images=layout.train_images("tiny"),
            autoencoder_dir=layout.autoencoder_dir(name) if model["family"] == "latent" else None,
            autoencoder_record=layout.autoencoder_record(name) if model["family"] == "latent" else None,
            device="cpu",
            precision="fp32",
            out_dir=layout.pipeline_dir(name),
            out_record=layout.training_record(name),
            out_loss=layout.training_loss(name),
        )
    return {"config": config, "layout": layout, "records": records}


@pytest.fixture(scope="session")
def torch_home(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds every evaluation weight file, made here, in the exact
    layout torch-fidelity, lpips and torchvision load: calibrated FID Inception, random AlexNet and
    SqueezeNet backbones (lpips' linear heads ship inside the lpips package)."""
    import numpy as np
    import torch
    from torchvision import models

    from diffbench.data.synthetic import render_shapes

    home = tmp_path_factory.mktemp("torch_home")
    checkpoints = home / "hub" / "checkpoints"
    checkpoints.mkdir(parents=True)
    images = np.stack([render_shapes(1, i, 32) for i in range(1000, 1012)])
    torch.save(calibrated_inception_state(images), checkpoints / "weights-inception-2015-12-05-6726825d.pth")
    torch.manual_seed(0)
    torch.save(models.alexnet().state_dict(), checkpoints / "alexnet-owt-7be5be79.pth")
    torch.save(models.squeezenet1_1().state_dict(), checkpoints / "squeezenet1_1-b8a52dc0.pth")
    return home
