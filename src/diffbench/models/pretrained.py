"""Load a pretrained model (hub id or local folder), check it fits its config entry, save it
in this project's layout so every later stage reads one format."""

from __future__ import annotations

import time
from pathlib import Path

from diffbench.errors import ModelError
from diffbench.io import read_json, write_json
from diffbench.models.pipelines import load_model, save_model
from diffbench.training.records import count_parameters


def import_pretrained(
    *,
    name: str,
    model_spec: dict,
    dataset_spec: dict,
    out_dir: str | Path,
    out_record: str | Path,
    fetched: str | Path | None = None,
) -> dict:
    """`fetched`: the fetch_pretrained record, whose hub commit is recorded (a branch name moves)."""
    source = model_spec["pretrained"]
    key = f"models.{name}.pretrained.id"
    try:
        model = load_model(source["id"], revision=source["revision"])
    except (OSError, ValueError) as err:
        raise ModelError(
            f"models.{name}: cannot load pretrained model {source['id']!r} (config key '{key}'): {err}\n"
            "Use an existing hub id or a local diffusers folder; on an offline machine, fetch it first "
            "into HF_HOME and set HF_HUB_OFFLINE=1 (README 'Running offline')."
        ) from err
    if model.family != model_spec["family"]:
        raise ModelError(
            f"models.{name}: {source['id']!r} is a {model.family} model (autoencoder: "
            f"{type(model.autoencoder).__name__ if model.autoencoder else 'none'}) but the config says "
            f"family: {model_spec['family']}; fix 'models.{name}.family'."
        )
    expected_channels = dataset_spec["channels"]
    out_channels = (model.autoencoder or model.unet).config.out_channels
    if out_channels != expected_channels:
        raise ModelError(
            f"models.{name}: {source['id']!r} makes {out_channels}-channel images but dataset "
            f"{model_spec['dataset']!r} has channels: {expected_channels}; "
            f"fix 'datasets.{model_spec['dataset']}.channels'."
        )
    side = model.unet.config.sample_size
    if model.autoencoder is not None:
        side *= 2 ** (len(model.autoencoder.config.block_out_channels) - 1)
    if side != dataset_spec["resolution"]:
        raise ModelError(
            f"models.{name}: {source['id']!r} makes {side}x{side} images but dataset {model_spec['dataset']!r} "
            f"has resolution: {dataset_spec['resolution']}; fix 'datasets.{model_spec['dataset']}.resolution'."
        )
    if source["latent_scaling_factor"] is not None:
        model.autoencoder.register_to_config(scaling_factor=source["latent_scaling_factor"])
    save_model(model, out_dir)
    record = {
        "model": name,
        "stage": "diffusion",
        "family": model.family,
        "dataset": model_spec["dataset"],
        "source": "pretrained",
        "pretrained_id": source["id"],
        "revision": source["revision"],
        "pretrained_commit": read_json(fetched).get("commit") if fetched else None,
        "downsampling_factor": side // model.unet.config.sample_size,
        "parameters": count_parameters(model.unet),
        "autoencoder_parameters": count_parameters(model.autoencoder) if model.autoencoder else 0,
        "scaling_factor": model.scaling_factor if model.autoencoder else None,
        "scheduler": type(model.scheduler).__name__,
        "unet_input": [model.unet.config.in_channels, model.unet.config.sample_size, model.unet.config.sample_size],
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(out_record, record)
    return record
