"""Build the comparison report: tables (CSV/Parquet), figures, sample grids, one HTML file."""

from __future__ import annotations

import jinja2
import pandas as pd
import plotly.io as pio
from plotly.offline import get_plotlyjs

from diffbench.report.headline import Headline
from diffbench.report.human import HUMAN_SCORES_SHOWN, HumanEval, metric_name
from diffbench.report.tables import Tables

# plotly's mode-bar tools for selecting points and the zoom steps, which a report's reader has no use for
MODEBAR_REMOVED = ["select2d", "lasso2d", "zoomIn2d", "zoomOut2d", "autoScale2d"]
SECTIONS = [
    ("summary", "Summary"),
    ("quality", "Quality vs compute"),
    ("lpips", "Diversity & convergence"),
    ("reconstruction", "Reconstruction"),
    ("human", "Human evaluation"),  # only with a human_eval study
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
    "reconstruction_rfid_independent",
    "reconstruction_rkid",
    "autoencoder_train_wall_time_s",
    "latent_scaling_factor",
]


# The verdict first: the full rows (method, set sizes, replicate names) are in comparisons.csv.
COMPARISON_VIEW = ["model_a", "model_b", "sampler", "steps", "better", "statistic", "difference", "ci_low", "ci_high",
                   "ci_level", "p_value", "kid_a", "kid_b", "fid_a", "fid_b", "fid_difference", "n_generated",
                   "n_reference"]  # fmt: skip


def html_table(frame: pd.DataFrame, table_id: str) -> str:
    return frame.to_html(
        index=False,
        table_id=table_id,
        classes=["data", "sortable"],
        border=0,
        na_rep="—",
        float_format=lambda v: f"{v:.4g}",
    )


def human_view(human: HumanEval) -> dict:
    """The human evaluation section's pieces (empty strings where there is nothing to show)."""
    record = human.record
    if not record or not record["agreement"]["n_raters"]:  # nothing scored (yet), perhaps files left out
        raters, rejected = record.get("raters", []), record.get("files_rejected", [])
        empty = (
            f"No rater counted: all {len(raters)} failed more attention checks than allowed." if raters
            else "No answer file could be counted (see below)." if rejected
            else "No answer file has been scored yet."
        )  # fmt: skip
        return {"table": "", "ranks": "", "differences": "", "raters": "", "agreement": {}, "rejected": rejected,
                "empty": empty}  # fmt: skip
    ranks = human.ranks.assign(
        human=human.ranks.human.map(HUMAN_SCORES_SHOWN),
        metric=human.ranks.metric.map(lambda m: metric_name(human.table, m)),
    )
    differences = pd.DataFrame(record["differences"])
    if len(differences):
        differences["score"] = differences.score.map(HUMAN_SCORES_SHOWN)
        differences["better"] = differences.better.fillna("cannot tell")
    return {
        "table": html_table(human.table, "human-table"),
        "ranks": html_table(ranks, "human-ranks-table"),
        "differences": html_table(differences, "human-differences-table") if len(differences) else "",
        "raters": html_table(pd.DataFrame(record["raters"]), "human-raters-table") if record["raters"] else "",
        "rejected": record["files_rejected"],
        "agreement": record["agreement"],
        "settings": record["settings"],
        "empty": "",
    }


def render_html(
    tables: Tables,
    summary_lines: list[str],
    figures: dict,
    grids: list[dict],
    prov: dict,
    grid_seeds: int,
    human: HumanEval | None = None,
    headlines: list[Headline] = (),
) -> str:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("diffbench.report", "templates"),
        autoescape=jinja2.select_autoescape(["html", "j2"]),
        undefined=jinja2.StrictUndefined,
    )
    divs = {
        name: pio.to_html(
            # Titles start at the left and the mode bar keeps the tools a reader of a static report uses
            # (save, zoom, pan, reset): a centred title ran under the full mode bar in a half-width figure.
            fig.update_layout(title={"x": 0.02, "xanchor": "left"}),
            full_html=False,
            include_plotlyjs=False,
            div_id=f"fig-{name}",
            config={"displaylogo": False, "responsive": True, "modeBarButtonsToRemove": MODEBAR_REMOVED},
        )
        for name, fig in figures.items()
    }
    latent = tables.models[tables.models.family == "latent"]
    human = human or HumanEval()
    return env.get_template("report.html.j2").render(
        plotlyjs=get_plotlyjs(),
        sections=[(key, title) for key, title in SECTIONS if key != "human" or human.study],
        human=human,
        human_view=human_view(human),
        summary=summary_lines,
        headlines=headlines,
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
