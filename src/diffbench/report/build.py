"""Build the comparison report: tables (CSV/Parquet), figures, sample grids, one HTML file."""

from __future__ import annotations

import jinja2
import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from diffbench.report.tables import Tables

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
    "autoencoder_loss",
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


# The verdict first: the full rows (method, set sizes, replicate names) are in comparisons.csv.
COMPARISON_VIEW = ["model_a", "model_b", "sampler", "steps", "better", "difference", "ci_low", "ci_high", "ci_level",
                   "fid_a", "fid_b", "n_generated", "n_reference"]  # fmt: skip


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
        comparisons_table=(
            html_table(tables.comparisons[COMPARISON_VIEW].fillna({"better": "cannot tell"}), "comparisons-table")
            if len(tables.comparisons)
            else ""
        ),
        replicates_table=html_table(tables.replicates, "replicates-table") if len(tables.replicates) else "",
        published_table=(
            html_table(tables.published.drop(columns=["source"]), "published-table") if len(tables.published) else ""
        ),
        grids=grids,
        grid_seeds=grid_seeds,
        provenance=prov,
    )
