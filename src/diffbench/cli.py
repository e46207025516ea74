"""`diffbench <stage>`: run one stage of the DAG by hand, with the same paths Snakemake uses."""

from __future__ import annotations

import json
import sys

import click

from diffbench.config import ConfigError, all_seeds, load_config, models_where, run_key, runs, shard_ranges, shard_seeds
from diffbench.errors import DataError, ModelError
from diffbench.paths import Layout

config_option = click.option(
    "-c",
    "--config",
    "config_path",
    default="config/config.yaml",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Experiment config (validated against the schema).",
)


def _load(config_path: str) -> tuple[dict, Layout]:
    config = load_config(config_path)
    return config, Layout(config["results_dir"])


def _entry(config: dict, section: str, name: str) -> dict:
    if name not in config[section]:
        raise click.BadParameter(f"{name!r} is not in config key '{section}' (known: {sorted(config[section])})")
    return config[section][name]


@click.group()
def cli() -> None:
    """diffbench: latent versus pixel-space diffusion, quality versus compute."""


def _model_stage(config_path: str, model: str, source: str, family: str | None = None) -> tuple[dict, Layout, dict]:
    """Config, layout and keyword arguments shared by the model stages, after checking MODEL fits the stage."""
    config, layout = _load(config_path)
    spec = _entry(config, "models", model)
    if spec["source"] != source or (family and spec["family"] != family):
        raise click.BadParameter(f"model {model!r} ({spec['family']}, source: {spec['source']}) has no such stage")
    common = dict(name=model, model_spec=spec, dataset_spec=config["datasets"][spec["dataset"]])
    return config, layout, common


@cli.command()
@click.argument("config_path", type=click.Path(dir_okay=False))
def validate(config_path: str) -> None:
    """Validate CONFIG_PATH and print it with every default filled in."""
    click.echo(json.dumps(load_config(config_path), indent=2))


@cli.command("runs")
@config_option
def list_runs(config_path: str) -> None:
    """List every (model, sampler, steps) run and its shards."""
    config, _ = _load(config_path)
    sampling = config["sampling"]
    shards = len(shard_ranges(sampling["num_samples"], sampling["images_per_shard"]))
    for run in runs(config):
        click.echo(f"{run['model']}\t{run['sampler']}\t{run['steps']}\t{shards} shard(s)")


@cli.command("prepare-data")
@config_option
@click.argument("dataset")
def prepare_data(config_path: str, dataset: str) -> None:
    """Split DATASET into training and reference images (downloading it first if allowed)."""
    from diffbench.data.prepare import prepare_dataset

    config, layout = _load(config_path)
    spec = _entry(config, "datasets", dataset)
    info = prepare_dataset(
        dataset,
        spec,
        layout.train_images(dataset),
        layout.reference_images(dataset),
        layout.data_info(dataset),
        allow_download=spec["download"],
    )
    click.echo(json.dumps({k: info[k] for k in ("train", "reference")}, indent=2))


@cli.command("train-autoencoder")
@config_option
@click.argument("model")
def train_autoencoder(config_path: str, model: str) -> None:
    """Train the first-stage autoencoder of latent MODEL."""
    from diffbench.training.autoencoder import train_autoencoder as run

    config, layout, common = _model_stage(config_path, model, source="train", family="latent")
    record = run(
        **common,
        train_images=layout.train_images(common["model_spec"]["dataset"]),
        device=config["device"],
        precision=config["precision"],
        out_dir=layout.autoencoder_dir(model),
        out_record=layout.autoencoder_record(model),
        checkpoint=layout.training_checkpoint(model, "autoencoder"),
        out_loss=layout.autoencoder_loss(model),
    )
    click.echo(json.dumps(record, indent=2))


@cli.command()
@config_option
@click.argument("model")
def train(config_path: str, model: str) -> None:
    """Train the diffusion UNet of MODEL (latent models need their autoencoder first)."""
    from diffbench.training.diffusion import train_diffusion

    config, layout, common = _model_stage(config_path, model, source="train")
    spec = common["model_spec"]
    record = train_diffusion(
        **common,
        train_images=layout.train_images(spec["dataset"]),
        autoencoder_dir=layout.autoencoder_dir(model) if spec["family"] == "latent" else None,
        device=config["device"],
        precision=config["precision"],
        out_dir=layout.pipeline_dir(model),
        out_record=layout.training_record(model),
        out_loss=layout.training_loss(model),
        checkpoint=layout.training_checkpoint(model, "diffusion"),
    )
    click.echo(json.dumps(record, indent=2))


@cli.command("import-pretrained")
@config_option
@click.argument("model")
def import_pretrained(config_path: str, model: str) -> None:
    """Load pretrained MODEL from its hub id or folder and save it in the results layout."""
    from diffbench.models.pretrained import import_pretrained as run

    _, layout, common = _model_stage(config_path, model, source="pretrained")
    record = run(**common, out_dir=layout.pipeline_dir(model), out_record=layout.training_record(model))
    click.echo(json.dumps(record, indent=2))


@cli.command()
@config_option
@click.argument("model")
@click.argument("sampler")
@click.argument("steps", type=int)
@click.option("--shard", type=int, default=0, show_default=True, help="Shard index (see `diffbench runs`).")
def sample(config_path: str, model: str, sampler: str, steps: int, shard: int) -> None:
    """Generate one shard of seeded samples of MODEL with SAMPLER at STEPS."""
    from diffbench.sampling.run import sample_shard

    config, layout = _load(config_path)
    _entry(config, "models", model)
    sampling = config["sampling"]
    ranges = shard_ranges(sampling["num_samples"], sampling["images_per_shard"])
    if not 0 <= shard < len(ranges):
        raise click.BadParameter(f"--shard must be in 0..{len(ranges) - 1}")
    record = sample_shard(
        model_dir=layout.pipeline_dir(model),
        sampler=_entry(sampling, "samplers", sampler),
        steps=steps,
        seeds=shard_seeds(sampling, shard),
        batch_size=sampling["batch_size"],
        device=config["device"],
        precision=config["precision"],
        out_images=layout.shard_images(model, sampler, steps, shard),
        out_record=layout.shard_record(model, sampler, steps, shard),
        batches_dir=layout.shard_batches(model, sampler, steps, shard),
    )
    click.echo(json.dumps(record, indent=2))


@cli.command("merge-samples")
@config_option
@click.argument("model")
@click.argument("sampler")
@click.argument("steps", type=int)
def merge_samples(config_path: str, model: str, sampler: str, steps: int) -> None:
    """Merge the shards of (MODEL, SAMPLER, STEPS) into images.npz, PNGs and sampling.json."""
    from diffbench.sampling.merge import merge_shards

    config, layout = _load(config_path)
    sampling = config["sampling"]
    shards = range(len(shard_ranges(sampling["num_samples"], sampling["images_per_shard"])))
    record = merge_shards(
        shard_images=[layout.shard_images(model, sampler, steps, k) for k in shards],
        shard_records=[layout.shard_record(model, sampler, steps, k) for k in shards],
        expected_seeds=all_seeds(sampling),
        run={"model": model, "sampler": sampler, "steps": steps},
        out_images=layout.samples(model, sampler, steps),
        out_png_dir=layout.sample_pngs(model, sampler, steps),
        out_record=layout.sampling_record(model, sampler, steps),
    )
    click.echo(json.dumps(record, indent=2))


@cli.command("reference-features")
@config_option
@click.argument("dataset")
def reference_features(config_path: str, dataset: str) -> None:
    """Extract features of DATASET's reference images (needs fetch-assets first)."""
    from diffbench.evaluation import extract_features
    from diffbench.features import features_key

    config, layout = _load(config_path)
    _entry(config, "datasets", dataset)
    evaluation = config["evaluation"]
    extract_features(
        images=layout.reference_images(dataset),
        assets=layout.assets_record(),
        evaluation=evaluation,
        device=config["device"],
        out_features=layout.reference_features(dataset, features_key(evaluation)),
    )


@cli.command()
@config_option
@click.argument("model")
@click.argument("sampler")
@click.argument("steps", type=int)
def evaluate(config_path: str, model: str, sampler: str, steps: int) -> None:
    """Features, FID/KID/precision-recall and LPIPS of one sample set (after reference-features)."""
    from diffbench.evaluation import distribution_metrics, extract_features, lpips_metrics
    from diffbench.features import features_key

    config, layout = _load(config_path)
    evaluation, run = config["evaluation"], run_key(config, model, sampler, steps)
    key = features_key(evaluation)
    extract_features(
        images=layout.samples(model, sampler, steps),
        assets=layout.assets_record(),
        evaluation=evaluation,
        device=config["device"],
        out_features=layout.sample_features(model, sampler, steps, key),
    )
    record = distribution_metrics(
        sample_features=layout.sample_features(model, sampler, steps, key),
        reference_features=layout.reference_features(run["dataset"], key),
        run=run,
        evaluation=evaluation,
        out_record=layout.distribution_metrics(model, sampler, steps),
    )
    reference_steps = max(config["sampling"]["steps"])
    record.update(
        lpips_metrics(
            images=layout.samples(model, sampler, steps),
            reference_run_images=layout.samples(model, sampler, reference_steps),
            reference_steps=reference_steps,
            assets=layout.assets_record(),
            run=run,
            evaluation=evaluation,
            device=config["device"],
            out_record=layout.lpips_metrics(model, sampler, steps),
        )
    )
    click.echo(json.dumps(record, indent=2))


@cli.command("fetch-assets")
@click.option(
    "--inception-weights",
    type=click.Path(dir_okay=False),
    default=None,
    help="Where to put the FID Inception weights (default: the torch hub cache under TORCH_HOME).",
)
@click.option(
    "--lpips-net",
    type=click.Choice(["alex", "vgg", "squeeze"]),
    multiple=True,
    default=["alex"],
    show_default=True,
    help="LPIPS backbones to fetch (repeat the option for several).",
)
@config_option
def fetch_assets(inception_weights: str | None, lpips_net: tuple[str, ...], config_path: str) -> None:
    """Download what runs need from the network, so later runs (and compute nodes) work offline.

    Always the evaluation weights (FID Inception-v3, LPIPS backbones) into TORCH_HOME. When the
    config file exists, also its torchvision datasets (into their roots) and pretrained hub models
    (into HF_HOME), writing the results' asset records as the fetch rules do.
    """
    from pathlib import Path

    from diffbench.features.inception import fetch_weights
    from diffbench.metrics.lpips import fetch_backbone

    click.echo(f"Inception-v3 FID weights: {fetch_weights(Path(inception_weights) if inception_weights else None)}")
    for net in lpips_net:
        click.echo(f"LPIPS {net} backbone: {fetch_backbone(net)}")
    if not Path(config_path).is_file():
        return
    from diffbench.assets import TORCHVISION_SOURCES, fetch_dataset, fetch_pretrained
    from diffbench.evaluation import fetch_assets as record_assets

    config, layout = _load(config_path)
    record_assets(config["evaluation"], layout.assets_record())
    for name, spec in config["datasets"].items():
        if spec["source"] in TORCHVISION_SOURCES:
            record = fetch_dataset(name=name, spec=spec, out_record=layout.dataset_assets(name))
            click.echo(f"dataset {name}: {record['images']} images in {record['root']}")
    for name in models_where(config, source="pretrained"):
        record = fetch_pretrained(
            name=name, pretrained=config["models"][name]["pretrained"], out_record=layout.model_assets(name)
        )
        click.echo(f"model {name}: {record['id']} at {record['path']}")


@cli.command()
@config_option
@click.option(
    "--workflow-dir",
    type=click.Path(file_okay=False),
    default=".",
    show_default=True,
    help="The diffbench checkout, for the git commit recorded in the provenance.",
)
def report(config_path: str, workflow_dir: str) -> None:
    """Tables, figures and the HTML report from the results present (names what is missing)."""
    from diffbench.report.build import ReportPaths, build_report

    config, _ = _load(config_path)
    provenance = build_report(config, workflow_dir)
    click.echo(f"report: {ReportPaths.of(config).html}")
    if provenance["missing"]:
        click.echo(f"{len(provenance['missing'])} expected result files are missing (listed in the report):", err=True)
        for path in provenance["missing"]:
            click.echo(f"  {path}", err=True)
    if provenance["static_figures"]["error"]:
        click.echo(provenance["static_figures"]["error"], err=True)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except (ConfigError, DataError, ModelError) as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
