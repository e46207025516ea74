"""Where the numbers come from: config and its hash, code version, packages, hardware, times."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from importlib import metadata
from pathlib import Path

import pandas as pd
import yaml

from diffbench.experiment import Experiment

PACKAGES = [
    "diffbench",
    "torch",
    "torchvision",
    "diffusers",
    "torch-fidelity",
    "clean-fid",
    "lpips",
    "torchmetrics",
    "numpy",
    "scipy",
    "pandas",
    "plotly",
    "kaleido",
    "snakemake",
]


def config_hash(experiment: Experiment) -> str:
    """sha256 of the validated config (defaults filled, keys sorted): equal hashes = equal experiments."""
    canonical = json.dumps(experiment.as_dict(), sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


def git_commit(directory: str | Path) -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(directory), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown (not a git checkout, or git is not installed)"
    return commit + (" (with uncommitted changes)" if dirty else "")


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def hardware(runs: pd.DataFrame, models: pd.DataFrame) -> dict[str, list[str]]:
    """Devices the jobs recorded (they may differ from the machine that builds the report)."""

    def distinct(frame: pd.DataFrame, device: str, name: str) -> list[str]:
        pairs = frame[[device, name]].dropna().astype(str).drop_duplicates()
        return [f"{d}: {n}" for d, n in pairs.itertuples(index=False) if d]

    return {
        "training": distinct(models, "train_device", "train_device_name"),
        "sampling": distinct(runs, "sampling_device", "sampling_device_name"),
        "report built on": [f"{platform.node()} ({platform.platform()}, {os.cpu_count()} CPUs)"],
    }


def provenance(
    experiment: Experiment,
    workflow_dir: str | Path,
    runs: pd.DataFrame,
    models: pd.DataFrame,
    missing: list[str],
    warnings: list[str],
    static: dict,
) -> dict:
    finished = [t for t in models.train_finished_at.tolist() if t]
    return {
        "config_sha256": config_hash(experiment),
        "config_yaml": yaml.safe_dump(experiment.as_dict(), sort_keys=False),
        "git_commit": git_commit(workflow_dir),
        "packages": package_versions(),
        "hardware": hardware(runs, models),
        "models_trained_between": f"{min(finished)} and {max(finished)}" if finished else "no training record",
        "report_built_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "missing": missing,
        "warnings": warnings,
        "static_figures": static,
    }
