"""`diffbench`: check a config, list its runs, fetch what jobs read offline, build the report.

The stages themselves run only through Snakemake (the rules are the one place that maps stages to
files); run one stage by naming its output or rule: `snakemake results/models/pixel/pipeline` or
`snakemake --until train_diffusion` (docs/running.md).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import click

from diffbench.config import check_input_paths, load_config, shard_ranges
from diffbench.errors import UserError
from diffbench.experiment import Experiment
from diffbench.paths import Layout

SNAKEFILE = Path(__file__).resolve().parents[2] / "Snakefile"  # the checkout this package runs from
# workflow/rules/assets.smk
FETCH_RULES = ("fetch_assets", "fetch_dataset", "fetch_pretrained", "fetch_perceptual_backbone")

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


@click.group()
def cli() -> None:
    """diffbench: latent versus pixel-space diffusion, quality versus compute."""


@cli.command()
@click.argument("config_path", type=click.Path(dir_okay=False))
def validate(config_path: str) -> None:
    """Validate CONFIG_PATH, check the inputs it names exist, and print it with every default filled in."""
    config = load_config(config_path)
    check_input_paths(config)
    click.echo(json.dumps(config, indent=2))


@cli.command("runs")
@config_option
def list_runs(config_path: str) -> None:
    """List every (model, sampler, steps) run and its shards."""
    config, _ = _load(config_path)
    sampling = config["sampling"]
    shards = len(shard_ranges(sampling["num_samples"], sampling["images_per_shard"]))
    for run in Experiment.of(config).runs():
        click.echo(f"{run.model}\t{run.sampler}\t{run.steps}\t{shards} shard(s)")


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
    config file exists, also runs the workflow's fetch rules for it (snakemake --until
    fetch_assets fetch_dataset fetch_pretrained): its torchvision datasets into their roots and
    pretrained hub models into HF_HOME, with the results' asset records.
    """
    from diffbench.features.inception import fetch_weights
    from diffbench.metrics.lpips import fetch_backbone

    click.echo(f"Inception-v3 FID weights: {fetch_weights(Path(inception_weights) if inception_weights else None)}")
    for net in lpips_net:
        click.echo(f"LPIPS {net} backbone: {fetch_backbone(net)}")
    if not Path(config_path).is_file():
        return
    _, layout = _load(config_path)
    # The fetch rules decide what a config needs and where it goes; run them rather than say it again.
    started = time.time()
    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--configfile", config_path,
               "--cores", "1", "--until", *FETCH_RULES]  # fmt: skip
    if subprocess.run(command).returncode:
        raise UserError(_fetch_failures(layout, started) or "a fetch rule failed; its log is named above.")


def _fetch_failures(layout: Layout, since: float) -> str:
    """The 'error: ...' lines that failed fetch jobs of this call left at the end of their logs."""
    lines = []
    for rule in FETCH_RULES:
        for log in sorted(Path(layout.log_dir(rule)).glob("*.log")):
            if log.stat().st_mtime >= since:
                lines += [line[len("error: ") :] for line in log.read_text().splitlines() if line.startswith("error: ")]
    return "\n".join(lines)


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
    from diffbench.published import published_files
    from diffbench.report.outputs import ReportPaths
    from diffbench.stages.report import report as build_report

    config, _ = _load(config_path)
    published = published_files(config["report"]["published"], workflow_dir)
    provenance = build_report(config=config, workflow_dir=workflow_dir, published=published)
    click.echo(f"report: {ReportPaths.of(Experiment.of(config)).html}")
    if provenance["missing"]:
        click.echo(f"{len(provenance['missing'])} expected result files are missing (listed in the report):", err=True)
        for path in provenance["missing"]:
            click.echo(f"  {path}", err=True)
    if provenance["static_figures"]["error"]:
        click.echo(provenance["static_figures"]["error"], err=True)


def main() -> None:
    try:
        cli(standalone_mode=True)
    except UserError as err:
        click.echo(f"error: {err}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
