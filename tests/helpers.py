"""Helpers shared by the tests: paths, tiny networks, fixture files and tolerances.

Test modules import from here, never from each other."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from diffusers import DDIMScheduler, DDPMPipeline, DDPMScheduler, UNet2DModel, VQModel
from PIL import Image

from diffbench.config import validate_config

REPO = Path(__file__).resolve().parents[1]
TINY_CONFIG = REPO / "tests" / "configs" / "tiny.yaml"
SHARED_MNIST = REPO.parent / "shared" / "data" / "MNIST" / "raw"


def assert_rows_close(actual: np.ndarray, expected: np.ndarray, rel: float = 1e-3) -> None:
    """Each row (an image's features) equals the expected row up to `rel` of that row's norm.

    Two numerically equivalent float32 paths through a deep network (another batch size, another
    resize that is the identity, another conv algorithm) differ by rounding that is relative to
    each layer's scale, not to each element: a pooled post-ReLU feature near zero can be off by
    100 % of itself while the row is off by ~1e-5 of its norm (measured: <= 3e-5 on the
    calibrated Inception). Element-wise rtol therefore fails by chance. The bound: float32 eps
    (6e-8) grown over ~20 conv layers whose sums have 1e3-1e4 terms gives ~1e-4; `rel` = 1e-3
    keeps a 10x margin over that and 30x over what is seen, while a real change of the path
    (another resize, another network) moves rows by more than 1e-2.
    """
    actual, expected = np.asarray(actual, dtype=np.float64), np.asarray(expected, dtype=np.float64)
    assert actual.shape == expected.shape, (actual.shape, expected.shape)
    error = np.linalg.norm(actual - expected, axis=1) / np.maximum(np.linalg.norm(expected, axis=1), 1e-30)
    assert error.max() <= rel, f"rows differ by up to {error.max():.2e} of their norm (allowed {rel:.0e})"


def rows_relative_difference(a: np.ndarray, b: np.ndarray) -> float:
    """The largest row-norm relative difference of two feature matrices."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return float((np.linalg.norm(a - b, axis=1) / np.linalg.norm(b, axis=1)).max())


def write_assets_record(path, inception_weights, lpips_net="alex") -> None:
    """The evaluation-weights record fetch_assets writes, for weights the tests made."""
    from diffbench.records import EVALUATION_ASSETS

    EVALUATION_ASSETS.write(
        path,
        {
            "feature_extractor": "inception-v3-compat",
            "feature_weights": str(inception_weights),
            "feature_weights_bytes": Path(inception_weights).stat().st_size,
            "lpips_net": lpips_net,
            "lpips_backbone": "made by the tests",
            "fetched_at": "2026-01-01T00:00:00+0000",
        },
    )


# --- tiny networks and checkpoints in the libraries' own layouts ----------------------------


def typed_spec(cls, **values):
    """A typed spec (diffbench.specs) from a few keys, the rest the schema's defaults."""
    from diffbench.config import filled
    from diffbench.specs import SCHEMA_SECTIONS

    return cls.of(filled(SCHEMA_SECTIONS[cls], values))


def tiny_unet(channels=3, side=8):
    return UNet2DModel(
        sample_size=side,
        in_channels=channels,
        out_channels=channels,
        block_out_channels=(8, 8),
        down_block_types=("DownBlock2D", "DownBlock2D"),
        up_block_types=("UpBlock2D", "UpBlock2D"),
        layers_per_block=1,
        norm_num_groups=4,
        add_attention=False,
    )


def tiny_vq():
    return VQModel(
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 8),
        latent_channels=2,
        num_vq_embeddings=16,
        vq_embed_dim=2,
        norm_num_groups=4,
        sample_size=8,
    )


def ldm_style_checkpoint(folder):
    """The layout of CompVis/ldm-celebahq-256: LDMPipeline with vqvae + unet + DDIMScheduler."""
    unet = tiny_unet(2, 4)
    unet.save_pretrained(folder / "unet")
    tiny_vq().save_pretrained(folder / "vqvae")
    # No scaling_factor in the VQModel config, as in configs saved before diffusers had the key (this layout's 0.0.4).
    vq_config = json.loads((folder / "vqvae" / "config.json").read_text())
    del vq_config["scaling_factor"]
    (folder / "vqvae" / "config.json").write_text(json.dumps(vq_config))
    DDIMScheduler(num_train_timesteps=10).save_pretrained(folder / "scheduler")
    (folder / "model_index.json").write_text(
        json.dumps(
            {
                "_class_name": "LDMPipeline",
                "_diffusers_version": "0.0.4",
                "scheduler": ["diffusers", "DDIMScheduler"],
                "unet": ["diffusers", "UNet2DModel"],
                "vqvae": ["diffusers", "VQModel"],
            }
        )
    )


def ddpm_style_checkpoint(folder):
    """The layout of google/ddpm-celebahq-256 and google/ddpm-cifar10-32: DDPMPipeline, unet + scheduler."""
    DDPMPipeline(unet=tiny_unet(), scheduler=DDPMScheduler(num_train_timesteps=10)).save_pretrained(folder)


def import_spec(pretrained_id, family, resolution=8, channels=3, scale=None):
    config = validate_config(
        {
            "datasets": {"d": {"resolution": resolution, "channels": channels}},
            "models": {
                "m": {
                    "dataset": "d",
                    "family": family,
                    "source": "pretrained",
                    "pretrained": {"id": str(pretrained_id), "latent_scaling_factor": scale},
                }
            },
        }
    )
    return dict(name="m", model_spec=config["models"]["m"], dataset_spec=config["datasets"]["d"])


def calibrated_inception_state(images):
    """torch-fidelity's FID Inception, randomly initialised, with BatchNorm statistics calibrated on
    `images` (uint8 NHWC): a plainly random Inception gives pool3 features of ~1e-8 and FID ~ 0 for
    any inputs, so metric tests could not fail."""
    from unittest import mock

    import torch
    from torch_fidelity import feature_extractor_inceptionv3 as tf_inception

    with (
        mock.patch.object(tf_inception, "load_state_dict_from_url", lambda *a, **k: None),
        mock.patch.object(tf_inception.FeatureExtractorInceptionV3, "load_state_dict", lambda self, state: None),
    ):
        torch.manual_seed(0)
        model = tf_inception.FeatureExtractorInceptionV3("calibration", ["2048"])
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average over the calibration batch
            module.train()
    with torch.no_grad():
        model(torch.from_numpy(images).permute(0, 3, 1, 2))
    return model.eval().state_dict()


# --- MNIST in torchvision's raw layout -------------------------------------------------------


def write_idx(path, array):
    """The MNIST idx format (big-endian header), as torchvision reads it."""
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


def fake_mnist(root, n_train=12, n_test=12):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, size=(n, 28, 28)))
        write_idx(raw / f"{prefix}-labels-idx1-ubyte", rng.integers(0, 10, size=(n,)))
    return raw


# --- presets ------------------------------------------------------------------------------


def preset_copy(preset, folder, **overrides):
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


CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
CHROMEDRIVER = shutil.which("chromedriver")
needs_chromium = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Chromium and its driver (Debian: apt-get install chromium chromium-driver); .ci/run installs them",
)


def needs_cuda(test):
    """Marks a test that runs only where CUDA is (skipped elsewhere); benchmarks/gpu_checks.py runs
    them all on a GPU (`pytest -m cuda`)."""
    return pytest.mark.cuda(pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")(test))


def headless_chromium(window: str, downloads: Path | None = None, performance_log: bool = False):
    """A headless Chromium (selenium) whose network goes to a dead proxy, so any request a page
    makes fails loudly; `downloads`: where files a page saves go."""
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                f"--window-size={window}", "--proxy-server=127.0.0.1:9"):  # fmt: skip
        options.add_argument(arg)
    logs = {"browser": "ALL", **({"performance": "ALL"} if performance_log else {})}
    options.set_capability("goog:loggingPrefs", logs)
    if downloads is not None:
        options.add_experimental_option(
            "prefs", {"download.default_directory": str(downloads), "download.prompt_for_download": False}
        )
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    if downloads is not None:
        driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    return driver


def e2e_snakemake(*args, cwd, torch_home=None, env=None):
    """The workflow on 2 cores in a subprocess, TORCH_HOME set (an empty one by default).

    Heavy rules ask for every core; one thread each lets the tiny jobs run two at a time."""
    command = [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "--cores",
        "2",
        "--set-threads",
        "train_autoencoder=1",
        "train_diffusion=1",
        "milestone_snapshot=1",
        "sample_shard=1",
        "reference_features=1",
        "sample_feature_shard=1",
        "reconstruction_metrics=1",
        *args,
    ]
    env = {**os.environ, "TORCH_HOME": str(torch_home or cwd / "empty_torch_home"), **(env or {})}
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env={k: v for k, v in env.items() if v is not None}
    )
