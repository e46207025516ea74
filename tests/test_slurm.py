"""The tiny DAG through a real SLURM (single node on loopback, started by .ci/local-slurm):
the same results as a local run, and GPU requests that reach the scheduler and the jobs."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import yaml

from helpers import REPO, TINY_CONFIG

pytestmark = pytest.mark.e2e
SCRIPT = REPO / ".ci" / "local-slurm"


def _why_no_slurm() -> str | None:
    if os.geteuid() != 0:
        return "starting a local SLURM needs root (.ci/local-slurm; CI runs as root)"
    if not shutil.which("slurmctld") and not shutil.which("apt-get"):
        return "SLURM is not installed and there is no apt-get to install it"
    return None


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    reason = _why_no_slurm()
    if reason:
        pytest.skip(reason)
    state = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([str(SCRIPT), "start", str(state)], capture_output=True, text=True, timeout=600)
    if started.returncode == 3:  # the script's "cannot run here" (not root, no apt-get, another SLURM)
        pytest.skip(started.stderr.strip())
    if started.returncode != 0:
        logs = "\n".join(p.read_text()[-2000:] for p in state.rglob("*.log"))
        subprocess.run([str(SCRIPT), "stop", str(state)])
        pytest.fail(f"local SLURM did not start:\n{started.stdout[-3000:]}\n{started.stderr[-3000:]}\n{logs}")
    yield {"SLURM_CONF": str(state / "slurm.conf")}
    subprocess.run([str(SCRIPT), "stop", str(state)], check=True)


def small_config(tmp_path) -> str:
    """The tiny config cut to its latent model, one sampler, one shard: a job of every rule goes
    through the scheduler (a latent model needs them all), few enough to keep the test short."""
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"] = {"kl": config["models"]["kl"]}
    config["human_eval"] = None  # rates the pixel model too; tested without SLURM
    config["sampling"]["samplers"] = {"ddim": config["sampling"]["samplers"]["ddim"]}
    config["sampling"]["images_per_shard"] = None  # sharded = unsharded is tested without SLURM
    config["report"]["static_formats"] = []
    # As a cluster user runs it: the network rules ask for a GPU. The node's GPU is a stand-in that
    # torch cannot use, so `auto` computes on the CPU (as the records say) and the numbers match.
    config["device"] = "auto"
    path = tmp_path / "small.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


# One thread per job on both sides: the node has few CPUs, and equal thread counts keep CPU
# arithmetic, hence trained weights and samples, identical between the two runs.
# Every rule the profile sizes (set-threads): a rule left out would ask for the profile's 8 CPUs,
# which this node lacks, and its job would stay pending.
# The rules whose jobs run networks, hence ask for one GPU (resource `gpu`) unless `device: cpu`.
GPU_RULES = {"train_autoencoder", "train_diffusion", "sample_shard", "sampling_throughput", "reference_features",
             "sample_feature_shard", "lpips_metrics", "reconstruction_metrics"}  # fmt: skip
SUBMITTED_RULES = tuple(yaml.safe_load((REPO / "profiles" / "slurm" / "config.yaml").read_text())["set-threads"])
ONE_THREAD = ["--set-threads", *[f"{rule}=1" for rule in SUBMITTED_RULES]]


def run_snakemake(*args, cwd, env):
    command = [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env={**os.environ, **env}, timeout=1200)


def test_the_readme_slurm_command_matches_a_local_run(slurm, tmp_path, torch_home):
    config = small_config(tmp_path)
    env = {"TORCH_HOME": str(torch_home), **slurm}
    (tmp_path / "slurm").mkdir()
    (tmp_path / "local").mkdir()
    # The README's command with this cluster's partition and account (job status through sacct,
    # as by default), plus a quick first status check and memory the small node has.
    result = run_snakemake(
        "--workflow-profile",
        str(REPO / "profiles" / "slurm"),
        "--configfile",
        config,
        "--default-resources",
        "slurm_partition=debug",
        "slurm_account=diffbench",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--latency-wait",
        "5",
        "--retries",
        "0",
        *ONE_THREAD,
        "--set-resources",
        *[f"{rule}:mem_mb=1500" for rule in SUBMITTED_RULES],
        "--jobs",
        "4",
        cwd=tmp_path / "slurm",
        env=env,
    )
    assert result.returncode == 0, (result.stdout[-3000:], result.stderr[-5000:])
    submitted = result.stdout + result.stderr
    # prepare_data, train_autoencoder, train_diffusion, reference_features, sample_shard,
    # sampling_throughput, sample_feature_shard, reconstruction_metrics, distribution_metrics,
    # lpips_metrics
    assert submitted.count("has been submitted with SLURM jobid") == 10  # every job but the local rules

    local = run_snakemake(
        "--configfile", config, "--cores", "2", *ONE_THREAD, "--until", "merge_samples", cwd=tmp_path / "local", env=env
    )
    assert local.returncode == 0, local.stderr[-5000:]
    name = "results/samples/kl/ddim/3/images.npz"
    with np.load(tmp_path / "slurm" / name) as a, np.load(tmp_path / "local" / name) as b:
        np.testing.assert_array_equal(a["images"], b["images"])
        np.testing.assert_array_equal(a["seeds"], b["seeds"])
    assert (tmp_path / "slurm" / "results/report/report.html").is_file()
    check_gpu_requests(env, tmp_path / "slurm" / "results")


def check_gpu_requests(env: dict, results) -> None:
    """Every job of a GPU rule was granted the gres and ran; the others asked for none."""
    accounting = subprocess.run(
        ["sacct", "-a", "-X", "-n", "-P", "-o", "JobID,State,AllocTRES,Comment"],
        capture_output=True, text=True, env={**os.environ, **env}, check=True,
    ).stdout  # fmt: skip
    jobs = [line.split("|") for line in accounting.strip().splitlines()]
    ran = {}
    for job_id, state, tres, comment in jobs:
        rule = comment.removeprefix("rule_").split("_wildcards_")[0]
        assert state == "COMPLETED", (job_id, rule, state)
        ran.setdefault(rule, set()).add("gres/gpu=1" in tres.split(","))
    assert {rule for rule, gpu in ran.items() if gpu == {True}} == GPU_RULES & set(ran), ran
    assert {rule for rule, gpu in ran.items() if gpu == {False}} == set(ran) - GPU_RULES, ran
    assert GPU_RULES <= set(ran)
    # The grant reached the job: SLURM set CUDA_VISIBLE_DEVICES (one of the node's two), which the
    # job's log names when `auto` finds no usable GPU behind it.
    log = next((results / "logs" / "sample_shard").rglob("*.log")).read_text()
    assert re.search(r"device: auto found no CUDA GPU \(CUDA_VISIBLE_DEVICES=[01]\)", log), log[-2000:]
