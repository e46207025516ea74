"""The report's output files and the result files it reads, from the experiment (light imports:
Snakemake loads this when it parses the workflow)."""

from __future__ import annotations

from dataclasses import dataclass

from diffbench.experiment import Experiment
from diffbench.paths import Layout


@dataclass(frozen=True)
class ReportPaths:
    """Every file the report writes, from the result layout."""

    html: str
    runs_csv: str
    runs_parquet: str
    models_csv: str
    models_parquet: str
    curves_csv: str
    quality_curves_csv: str
    savings_csv: str
    comparisons_csv: str
    replicates_csv: str
    published_csv: str
    human_csv: str
    provenance: str
    figures_dir: str
    grids: dict[tuple[str, int], str]

    @classmethod
    def of(cls, experiment: Experiment) -> ReportPaths:
        layout = Layout(experiment.results_dir)
        sampling = experiment.sampling
        return cls(
            html=layout.report("report.html"),
            runs_csv=layout.report("runs.csv"),
            runs_parquet=layout.report("runs.parquet"),
            models_csv=layout.report("models.csv"),
            models_parquet=layout.report("models.parquet"),
            curves_csv=layout.report("training_curves.csv"),
            quality_curves_csv=layout.report("curves.csv"),
            savings_csv=layout.report("savings.csv"),
            comparisons_csv=layout.report("comparisons.csv"),
            replicates_csv=layout.report("replicates.csv"),
            published_csv=layout.report("published.csv"),
            human_csv=layout.report("human_eval.csv"),
            provenance=layout.report("provenance.json"),
            figures_dir=layout.report("figures"),
            grids={
                (sampler, int(steps)): layout.sample_grid(sampler, steps)
                for sampler in sampling.samplers
                for steps in sampling.steps
            },
        )


def result_files(experiment: Experiment) -> list[str]:
    """Every result file the report reads: its inputs in the DAG, its 'missing' list by hand."""
    layout = Layout(experiment.results_dir)
    files = []
    for run in experiment.runs():
        keys = (run.model, run.sampler, run.steps)
        files += [
            layout.samples(*keys),
            layout.sampling_record(*keys),
            layout.distribution_metrics(*keys),
            layout.lpips_metrics(*keys),
        ]
    # the quality curves along training (report/curves.csv)
    files += [layout.distribution_metrics(r.model, r.sampler, r.steps) for r in experiment.milestone_runs()]
    files += [layout.comparison(c.model_a, c.model_b, c.sampler, c.steps) for c in experiment.comparisons()]
    files += [layout.data_info(dataset) for dataset in experiment.datasets_in_use()]
    files += [layout.heldout_images(dataset) for dataset in experiment.datasets_in_use()]  # the grids' real row
    for model, spec in experiment.models.items():
        files.append(layout.training_record(model))
        if spec.source == "train":
            files.append(layout.training_loss(model))
            files += [layout.milestone_record(model, m) for m in experiment.milestones(model)]
            if spec.latent:
                files += [layout.autoencoder_record(model), layout.autoencoder_loss(model)]
        if spec.latent:
            files += [layout.reconstruction_metrics(model), layout.reconstruction_examples(model)]
        if experiment.sampling.throughput_max_batch is not None:
            files.append(layout.throughput(model))
    if experiment.human_eval is not None:
        files.append(layout.human_eval_scores(experiment.human_eval.study))
    return files
