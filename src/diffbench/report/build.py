"""Build the comparison report: tables (CSV/Parquet), figures, sample grids, one HTML file."""

from __future__ import annotations

import base64
from pathlib import Path

import jinja2
import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from diffbench.io import atomic_path, write_json
from diffbench.paths import Layout
from diffbench.report import figures as figs
from diffbench.report.findings import summary
from diffbench.report.grids import CELL, GAP, sample_grid
from diffbench.report.outputs import ReportPaths
from diffbench.report.provenance import provenance
from diffbench.report.static import write_static
from diffbench.report.tables import Tables, collect, write_tables

SECTIONS = [
    ("summary", "Summary"),
    ("quality", "Quality vs compute"),
    ("lpips", "Diversity & convergence"),
    ("reconstruction", "Reconstruction"),
    ("training", "Training"),
    ("samples", "Samples"),
    ("runs", "All runs"),
    ("provenance", "Provenance"),
]

RECONSTRUCTION_VIEW = [
    "model",
    "autoencoder_type",
    "downsampling_factor",
    "autoencoder_parameters",
    "reconstruction_n_images",
    "reconstruction_lpips",
    "reconstruction_psnr_db",
    "reconstruction_ssim",
    "reconstruction_rfid",
    "autoencoder_train_wall_time_s",
    "latent_scaling_factor",
]


def html_table(frame: pd.DataFrame, table_id: str) -> str:
    return frame.to_html(
        index=False,
        table_id=table_id,
        classes=["data", "sortable"],
        border=0,
        na_rep="—",
        float_format=lambda v: f"{v:.4g}",
    )


def render_html(
    tables: Tables, summary_lines: list[str], figures: dict, grids: list[dict], prov: dict, grid_seeds: int
) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("diffbench.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    divs = {
        name: pio.to_html(
            fig,
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig-{name}",
            config={"displaylogo": False, "responsive": True},
        )
        for name, fig in figures.items()
    }
    latent = tables.models[tables.models.family == "latent"]
    return env.get_template("report.html.j2").render(
        plotlyjs=get_plotlyjs(),
        sections=SECTIONS,
        summary=summary_lines,
        figures=divs,
        quality_figures=[n for n in figures if n.startswith("fid_")],
        lpips_figures=[n for n in figures if n.startswith("lpips_")],
        reconstruction=html_table(latent[RECONSTRUCTION_VIEW], "reconstruction-table") if len(latent) else "",
        models_table=html_table(tables.models, "models-table"),
        runs_table=html_table(tables.runs, "runs-table"),
        grids=grids,
        grid_seeds=grid_seeds,
        provenance=prov,
    )


def build_report(config: dict, workflow_dir: str | Path) -> dict:
    """Everything under results/report/ from the result files present; returns the provenance."""
    paths = ReportPaths.of(config)
    settings = config["report"]
    tables = collect(config)
    write_tables(
        tables,
        {
            "runs_csv": paths.runs_csv,
            "runs_parquet": paths.runs_parquet,
            "models_csv": paths.models_csv,
            "models_parquet": paths.models_parquet,
            "curves_csv": paths.curves_csv,
        },
    )
    colors = figs.model_colors(list(config["models"]))
    figures = figs.all_figures(tables.runs, tables.curves, colors)
    static = write_static(figures, settings["static_formats"], paths.figures_dir)
    layout = Layout(config["results_dir"])
    grids = []
    for (sampler, steps), png in paths.grids.items():
        files = {m: layout.samples(m, sampler, steps) for m in config["models"]}
        png_bytes = sample_grid(files, settings["grid_seeds"], png)
        grids.append(
            {
                "sampler": sampler,
                "steps": steps,
                "rows": list(files),
                "cell": CELL,
                "gap": GAP,
                "png_base64": base64.b64encode(png_bytes).decode(),
            }
        )
    prov = provenance(config, workflow_dir, tables.runs, tables.models, tables.missing, tables.warnings, static)
    html = render_html(tables, summary(tables.runs, tables.models), figures, grids, prov, settings["grid_seeds"])
    with atomic_path(paths.html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    write_json(paths.provenance, prov)
    return prov
