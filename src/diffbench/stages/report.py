"""Report stage (workflow/rules/report.smk): tables, figures, sample grids and the HTML report
from every result of the run; the pieces are in diffbench.report."""

from __future__ import annotations

import base64
from pathlib import Path

from diffbench.experiment import Experiment
from diffbench.io import atomic_path, write_json
from diffbench.paths import Layout
from diffbench.published import load_published
from diffbench.report import figures as figures_lib
from diffbench.report.build import render_html
from diffbench.report.findings import published_findings, summary
from diffbench.report.grids import CELL, GAP, sample_grid
from diffbench.report.headline import headlines
from diffbench.report.human import human_eval, human_findings
from diffbench.report.outputs import ReportPaths
from diffbench.report.provenance import provenance
from diffbench.report.published import published_table
from diffbench.report.static import write_static
from diffbench.report.tables import collect, write_tables
from diffbench.report.training_compute import answers, curve_findings, curve_pairs, savings_table


def report(*, config: dict | Experiment, workflow_dir: str | Path, published: list[str | Path]) -> dict:
    """Everything under results/report/ from the result files present and the `published` numbers
    files (report.published); returns the provenance."""
    experiment = Experiment.of(config)
    paths = ReportPaths.of(experiment)
    settings = experiment.report
    tables = collect(experiment)
    tables.published = published_table(experiment, tables.runs, load_published(published))
    human = human_eval(experiment, tables.runs, Path(paths.html).parent)
    write_tables(
        tables,
        {
            "runs_csv": paths.runs_csv,
            "runs_parquet": paths.runs_parquet,
            "models_csv": paths.models_csv,
            "models_parquet": paths.models_parquet,
            "curves_csv": paths.curves_csv,
            "quality_curves_csv": paths.quality_curves_csv,
            "comparisons_csv": paths.comparisons_csv,
            "replicates_csv": paths.replicates_csv,
            "published_csv": paths.published_csv,
        },
    )
    with atomic_path(paths.human_csv) as tmp:
        human.table.to_csv(tmp, index=False)
    level = experiment.evaluation.confidence
    pairs = list(dict.fromkeys((c.model_a, c.model_b) for c in experiment.comparisons()))
    along = answers(curve_pairs(tables.quality_curves, pairs), level, settings.savings_target)
    with atomic_path(paths.savings_csv) as tmp:
        savings_table(along, level).to_csv(tmp, index=False)
    heads = headlines(tables.models, tables.comparisons, along, level, settings.primary)
    colors = figures_lib.model_colors(list(experiment.models))
    figures = figures_lib.all_figures(tables.runs, tables.curves, colors, tables.quality_curves)
    for head in heads:
        figures[head.figure] = figures_lib.answer_figure(tables.quality_curves, tables.runs, colors, head.dataset)
    static = write_static(figures_lib.static_views(figures), settings.static_formats, paths.figures_dir)
    layout = Layout(experiment.results_dir)
    grids = []
    for (sampler, steps), png in paths.grids.items():
        # the data first: held-out images (never trained on) of each dataset, to judge the samples by
        real = {f"{d} (real, held out)": layout.heldout_images(d) for d in experiment.datasets_in_use()}
        # each latent model's D(E(x)) of those images: the bound its first stage puts on its samples
        rebuilt = {f"{m} D(E(x))": layout.reconstruction_examples(m) for m in experiment.models_where(family="latent")}
        files = {**real, **rebuilt, **{m: layout.samples(m, sampler, steps) for m in experiment.models}}
        png_bytes = sample_grid(files, settings.grid_seeds, png)
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
    prov = provenance(experiment, workflow_dir, tables.runs, tables.models, tables.missing, tables.warnings, static)
    lines = summary(tables.runs, tables.models, tables.comparisons, settings.primary)
    # the answer along training in detail comes first, right after the overview line
    lines[1:1] = curve_findings(along, level)
    lines += published_findings(tables.published)
    lines += human_findings(human)
    html = render_html(tables, lines, figures, grids, prov, settings.grid_seeds, human, heads)
    with atomic_path(paths.html) as tmp:
        tmp.write_text(html, encoding="utf-8")
    write_json(paths.provenance, prov)
    return prov
