# The comparison report: tidy tables, figures, sample grids and one self-contained HTML file,
# built from every result of the run. Outputs marked report() also go into
# `snakemake --report report.html`.
REPORT = ReportPaths.of(EXPERIMENT)
PUBLISHED = published_files(EXPERIMENT.report.published, workflow.basedir)


# Small and CPU-only: on a cluster it runs where snakemake runs.
localrules:
    report,


rule report:
    input:
        result_files(EXPERIMENT),
        published=PUBLISHED,
    output:
        html=report(REPORT.html, caption="../report/comparison.rst", category="1. Comparison report"),
        runs_csv=report(REPORT.runs_csv, caption="../report/runs.rst", category="2. Tables"),
        runs_parquet=REPORT.runs_parquet,
        models_csv=report(REPORT.models_csv, caption="../report/models.rst", category="2. Tables"),
        models_parquet=REPORT.models_parquet,
        curves_csv=report(REPORT.curves_csv, caption="../report/curves.rst", category="2. Tables"),
        quality_curves_csv=report(
            REPORT.quality_curves_csv, caption="../report/quality_curves.rst", category="2. Tables"
        ),
        savings_csv=report(REPORT.savings_csv, caption="../report/savings.rst", category="2. Tables"),
        comparisons_csv=report(REPORT.comparisons_csv, caption="../report/comparisons.rst", category="2. Tables"),
        replicates_csv=report(REPORT.replicates_csv, caption="../report/replicates.rst", category="2. Tables"),
        published_csv=report(REPORT.published_csv, caption="../report/published.rst", category="2. Tables"),
        human_csv=report(REPORT.human_csv, caption="../report/human_eval.rst", category="2. Tables"),
        provenance=REPORT.provenance,
        figures=directory(REPORT.figures_dir),
        grids=[
            report(path, caption="../report/grid.rst", category="3. Samples", labels={"sampler": s, "steps": str(n)})
            for (s, n), path in REPORT.grids.items()
        ],
    log:
        layout.log("report", "report"),
    benchmark:
        layout.benchmark("report", "report")
    conda:
        "../../environment.yml"
    params:
        config=config,
        workflow_dir=lambda w: workflow.basedir,  # a function: the published inputs lie under it
    script:
        "../scripts/report.py"
