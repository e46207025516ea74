"""Fetching what compute jobs read but must not download: hub checkpoints and torchvision datasets.

The fetch rules are local rules: they run where snakemake runs (a workstation, a cluster's login
node), which has the network. Every other job runs with HF_HUB_OFFLINE=1 (jobs.py) and reads the hub only
from the cache under HF_HOME, and reads datasets only from their root, so on a compute node without
internet a missing asset fails at once, naming it, instead of hanging on a download.
The evaluation weights (Inception or DINOv2, the LPIPS backbone) are fetched by fetch_assets."""

from __future__ import annotations

import time
from pathlib import Path

from diffbench.data.sources import TORCHVISION_SOURCES, TorchvisionSource
from diffbench.errors import DataError, MissingWeights, ModelError
from diffbench.features import EXTRACTORS
from diffbench.metrics.lpips import fetch_backbone
from diffbench.records import DATASET_ASSETS, EVALUATION_ASSETS, MODEL_ASSETS, PERCEPTUAL_ASSETS
from diffbench.specs import DatasetSpec, EvaluationSpec, PretrainedSpec

# What load_model reads; a hub repo's other files (README images, flax or onnx weights) are skipped.
PIPELINE_FILES = ["model_index.json", "unet/*", "scheduler/*", "vae/*", "vqvae/*"]
OTHER_FRAMEWORKS = ["*.msgpack", "*.h5", "*.onnx", "*.pb"]


def is_local_path(source: str) -> bool:
    """A folder (existing or meant to be), as opposed to a hub id `name` or `owner/name`."""
    return Path(source).expanduser().exists() or source.startswith(("/", ".", "~")) or source.count("/") > 1


def fetch_pretrained(*, name: str, pretrained: dict, out_record: str | Path) -> dict:
    """Download a hub checkpoint into the HF_HOME cache (or check a local folder) and record where.
    `pretrained`: the model's config section of that name."""
    spec = PretrainedSpec.of(pretrained)
    source, revision = spec.id, spec.revision
    key = f"models.{name}.pretrained.id"
    record = {"model": name, "id": source, "revision": revision}
    if is_local_path(source):
        folder = Path(source).expanduser().resolve()
        if not (folder / "model_index.json").is_file():
            raise ModelError(
                f"models.{name}: '{source}' (config key '{key}') is not a diffusers model folder: "
                f"{folder / 'model_index.json'} does not exist. Point it at a save_pretrained folder, or use a hub id."
            )
        record.update(kind="local folder", path=str(folder))
    else:
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

        try:
            path = Path(
                snapshot_download(
                    source, revision=revision, allow_patterns=PIPELINE_FILES, ignore_patterns=OTHER_FRAMEWORKS
                )
            )
        except (HfHubHTTPError, LocalEntryNotFoundError, OSError, ValueError) as err:
            offline = " HF_HUB_OFFLINE is set, so only the cache was searched." if constants.HF_HUB_OFFLINE else ""
            raise ModelError(
                f"models.{name}: cannot fetch {source!r} (revision {revision or 'default'}, config key '{key}') "
                f"into the hub cache {constants.HF_HUB_CACHE}: {type(err).__name__}: {err}.{offline}\n"
                "Check the id and revision and the network. Without internet here, run the fetch on a machine "
                "that has it and copy its HF_HOME (docs/running.md, 'Running offline')."
            ) from err
        files = [p for p in path.rglob("*") if p.is_file()]
        record.update(
            kind="hub",
            commit=path.name,
            path=str(path),
            hf_hub_cache=constants.HF_HUB_CACHE,
            files=len(files),
            bytes=sum(p.stat().st_size for p in files),
        )
    record["fetched_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    MODEL_ASSETS.write(out_record, record)
    return record


def fetch_dataset(*, name: str, spec: DatasetSpec | dict, out_record: str | Path) -> dict:
    """Download a torchvision dataset into its root when allowed and missing; record what is there."""
    spec = DatasetSpec.of(spec)
    if spec.source not in TORCHVISION_SOURCES:
        raise DataError(f"datasets.{name}: source {spec.source} has nothing to fetch (only {TORCHVISION_SOURCES}).")
    source = TorchvisionSource(name, spec, allow_download=spec.download)
    record = {
        "dataset": name,
        "source": spec.source,
        "split": spec.split,
        "root": str(Path(spec.root).expanduser().resolve()),
        "images": len(source),
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    DATASET_ASSETS.write(out_record, record)
    return record


def fetch_assets(evaluation: EvaluationSpec | dict, out_record: str | Path) -> dict:
    """Make every weight file the evaluation needs present (download when absent) and record where."""
    evaluation = EvaluationSpec.of(evaluation)
    extractor = EXTRACTORS[evaluation.feature_extractor]
    configured = evaluation.inception_weights
    try:
        weights = extractor.resolve_weights(configured) if configured else extractor.fetch_weights(None)
        backbone = fetch_backbone(evaluation.lpips_net)
    except MissingWeights:
        raise
    except OSError as err:  # URLError and friends: no network, proxy, disk
        raise MissingWeights(
            f"could not download evaluation weights ({err}). On a machine with internet run `diffbench fetch-assets` "
            "and copy $TORCH_HOME/hub/checkpoints here, or set 'evaluation.inception_weights' to a local file."
        ) from err
    record = {
        "feature_extractor": extractor.name,
        "feature_weights": str(weights),
        "feature_weights_bytes": weights.stat().st_size,
        "lpips_net": evaluation.lpips_net,
        "lpips_backbone": str(backbone),
        "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    EVALUATION_ASSETS.write(out_record, record)
    return record


def fetch_perceptual_backbone(net: str, out_record: str | Path) -> dict:
    """Make the LPIPS backbone of a first stage's perceptual loss present (download when absent)."""
    try:
        backbone = fetch_backbone(net)
    except OSError as err:
        raise MissingWeights(
            f"could not download the LPIPS {net} backbone of the autoencoders' perceptual loss ({err}). On a machine "
            "with internet run `diffbench fetch-assets` and copy $TORCH_HOME/hub/checkpoints here, or set "
            "'models.<model>.autoencoder.perceptual_weight: 0'."
        ) from err
    record = {"lpips_net": net, "lpips_backbone": str(backbone), "fetched_at": time.strftime("%Y-%m-%dT%H:%M:%S%z")}
    PERCEPTUAL_ASSETS.write(out_record, record)
    return record
