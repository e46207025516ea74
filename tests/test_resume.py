"""Nothing lost: a training or sampling job killed with SIGKILL at a random moment resumes when
rerun and ends exactly where an uninterrupted run ends."""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from safetensors.torch import load_file

from diffbench.config import validate_config
from diffbench.paths import Layout
from diffbench.stages.data import prepare_data
from helpers import REPO

CONFIG = {
    "device": "cpu",
    "datasets": {"tiny": {"resolution": 8, "num_train": 32, "num_reference": 4}},
    "evaluation": {"interval_groups": 2},
    "models": {
        "pix": {
            "dataset": "tiny",
            "family": "pixel",
            "unet": {"base_channels": 8, "channel_mult": [1, 2]},
            "diffusion": {"num_train_timesteps": 50},
            "training": {"max_steps": 60, "batch_size": 8, "ema_decay": 0.9, "checkpoint_every": 5},
        }
    },
    "sampling": {
        "samplers": {"ddim": {"type": "ddim", "eta": 0.5}},
        "steps": [5],
        "num_samples": 60,
        "batch_size": 2,
        "seed": 7,
    },
}


def setup_run(root: Path, **training) -> tuple[str, Layout]:
    config = {**copy.deepcopy(CONFIG), "results_dir": str(root / "results")}
    config["models"]["pix"]["training"].update(training)
    path = root / "config.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(config))
    full, layout = validate_config(copy.deepcopy(config)), Layout(config["results_dir"])
    prepare_data(
        "tiny",
        full["datasets"]["tiny"],
        layout.train_images("tiny"),
        layout.heldout_images("tiny"),
        layout.data_info("tiny"),
    )
    return str(path), layout


def snakemake_command(config: str, rule: str, target: str) -> list[str]:
    """One stage as a user runs it by hand: its output as the target, only its rule allowed (the
    data and model these tests put in place are not remade)."""
    workdir = str(Path(config).parent)
    return [
        sys.executable,
        "-m",
        "snakemake",
        "-s",
        str(REPO / "Snakefile"),
        "-d",
        workdir,
        "--configfile",
        config,
        "--cores",
        "1",
        "--allowed-rules",
        rule,
        "--notemp",
        target,
    ]


ENV = {**os.environ, "OMP_NUM_THREADS": "1"}  # the same thread count for every run: identical CPU arithmetic


def run(*command: str) -> None:
    result = subprocess.run(command, capture_output=True, text=True, env=ENV)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def rerun_after_kill(command: list[str]) -> None:
    """What docs/running.md tells a user to do after a killed run: unlock, then run again."""
    run(*command[:-1], "--unlock")
    run(*command)


def kill_when(command: list[str], ready) -> None:
    """Start the command, SIGKILL it and its job as soon as `ready()` holds, and check it was killed mid-way."""
    process = subprocess.Popen(
        command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while not ready():
        if process.poll() is not None:
            pytest.fail(
                f"the job ended (rc {process.returncode}) before it could be killed: "
                f"{process.stderr.read().decode()[-2000:]}"
            )
        assert time.monotonic() < deadline, "the job made no progress"
        time.sleep(0.005)
    os.killpg(process.pid, signal.SIGKILL)  # snakemake and the job's script process, as a node failure would
    process.wait()
    assert process.returncode == -signal.SIGKILL


def test_killed_training_resumes_to_the_same_weights(tmp_path):
    config_a, a = setup_run(tmp_path / "a")
    config_b, b = setup_run(tmp_path / "b")
    run(*snakemake_command(config_a, "train_diffusion", a.pipeline_dir("pix")))

    checkpoint = Path(b.training_checkpoint("pix", "diffusion"))
    train_b = snakemake_command(config_b, "train_diffusion", b.pipeline_dir("pix"))
    kill_when(train_b, checkpoint.is_file)
    assert not Path(b.training_record("pix")).exists()
    killed_at = torch.load(checkpoint, weights_only=True)["step"]
    assert 5 <= killed_at < 60
    rerun_after_kill(train_b)

    weights = "unet/diffusion_pytorch_model.safetensors"
    expected, resumed = (
        load_file(Path(a.pipeline_dir("pix")) / weights),
        load_file(Path(b.pipeline_dir("pix")) / weights),
    )
    assert expected.keys() == resumed.keys()
    assert all(torch.equal(expected[k], resumed[k]) for k in expected)  # bit-identical, EMA weights included
    loss_a, loss_b = pd.read_csv(a.training_loss("pix")), pd.read_csv(b.training_loss("pix"))
    assert loss_a["step"].tolist() == loss_b["step"].tolist() == list(range(1, 61))
    assert loss_a["loss"].equals(loss_b["loss"])
    record = json.loads(Path(b.training_record("pix")).read_text())
    assert record["resumed_from_step"] >= killed_at and record["steps"] == 60
    assert json.loads(Path(a.training_record("pix")).read_text())["resumed_from_step"] == 0
    assert not checkpoint.exists()  # removed once the model is saved


def checkpoint_step(path: Path) -> int:
    try:
        return torch.load(path, weights_only=True)["step"] if path.is_file() else 0
    except (EOFError, RuntimeError):  # caught mid-replace: not ready yet
        return 0


def test_training_killed_between_kept_states_keeps_the_finished_ones(tmp_path):
    """80 steps keep their whole state at 80 / sqrt(2)^k (after steps 20, 29, 40 and 57). Killed after
    the state at step 20 and a checkpoint past it, the rerun resumes past that state (so cannot write
    it again), publishes the one the killed run left and ends with every state equal to an
    uninterrupted run's."""
    config_a, a = setup_run(tmp_path / "a", max_steps=80)
    config_b, b = setup_run(tmp_path / "b", max_steps=80)
    run(*snakemake_command(config_a, "train_diffusion", a.pipeline_dir("pix")))

    checkpoint = Path(b.training_checkpoint("pix", "diffusion"))
    staged = Path(b.states_staging("pix")) / "20.pt"
    train_b = snakemake_command(config_b, "train_diffusion", b.pipeline_dir("pix"))
    kill_when(train_b, lambda: staged.is_file() and checkpoint_step(checkpoint) >= 25)
    assert not Path(b.states_staging("pix"), "40.pt").exists()
    rerun_after_kill(train_b)

    record = json.loads(Path(b.training_record("pix")).read_text())
    assert record["resumed_from_step"] >= 25 and [s["step"] for s in record["kept_states"]] == [20, 29, 40, 57]
    names = sorted(p.name for p in Path(a.training_states("pix")).glob("*.pt"))
    assert len(names) == 4 and sorted(p.name for p in Path(b.training_states("pix")).glob("*.pt")) == names
    for name in names:
        expected, resumed = (torch.load(Path(x.training_states("pix")) / name, weights_only=True) for x in (a, b))
        assert expected["step"] == resumed["step"]
        for part in ("unet",):
            assert all(torch.equal(v, resumed["modules"][part][k]) for k, v in expected["modules"][part].items())
        assert all(torch.equal(v, w) for v, w in zip(expected["ema"]["shadow_params"], resumed["ema"]["shadow_params"],
                                                     strict=True))  # fmt: skip
    assert not Path(b.states_staging("pix")).exists()  # published and cleared


def test_killed_sampling_resumes_with_only_the_missing_batches(tmp_path, trained):
    import shutil

    config_a, a = setup_run(tmp_path / "a")
    config_b, b = setup_run(tmp_path / "b")
    for layout in (a, b):  # the same trained model for both
        shutil.copytree(trained["layout"].pipeline_dir("pix"), layout.pipeline_dir("pix"))
    run(*snakemake_command(config_a, "sample_shard", a.shard_images("pix", "ddim", 5, 0)))

    batches = Path(b.shard_batches("pix", "ddim", 5, 0))
    sample_b = snakemake_command(config_b, "sample_shard", b.shard_images("pix", "ddim", 5, 0))
    kill_when(sample_b, lambda: len(list(batches.glob("*.npz"))) >= 3)
    assert not Path(b.shard_images("pix", "ddim", 5, 0)).exists()
    finished = len(list(batches.glob("*.npz")))
    rerun_after_kill(sample_b)

    with np.load(a.shard_images("pix", "ddim", 5, 0)) as x, np.load(b.shard_images("pix", "ddim", 5, 0)) as y:
        np.testing.assert_array_equal(x["images"], y["images"])
        np.testing.assert_array_equal(x["seeds"], y["seeds"])
    record = json.loads(Path(b.shard_record("pix", "ddim", 5, 0)).read_text())
    assert record["resumed_images"] >= 2 * finished and record["num_images"] == 60
    assert json.loads(Path(a.shard_record("pix", "ddim", 5, 0)).read_text())["resumed_images"] == 0
    assert not batches.exists()


def test_batches_of_other_settings_are_not_reused(tmp_path):
    from diffbench.sampling.resume import BatchStore

    store = BatchStore(tmp_path / "p", "settings-1")
    store.save([1, 2], np.ones((2, 4, 4, 3), np.uint8), {"denoise_s": 1.0})
    assert BatchStore(tmp_path / "p", "settings-1").load([1, 2])[1] == {"denoise_s": 1.0}
    assert BatchStore(tmp_path / "p", "settings-1").load([1, 2, 3]) is None  # another batch size
    assert BatchStore(tmp_path / "p", "settings-2").load([1, 2]) is None
