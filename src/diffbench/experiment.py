"""The validated config as one frozen object, and what follows from it: its runs, its paired
comparisons, its replicates and the datasets in use.

Built once where the config is read (the workflow's common.smk, the CLI, the report stage); the
rules, the config checks and the report all ask it, so each of these facts has one home.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from diffbench.specs import (
    Comparison,
    DatasetSpec,
    EvaluationSpec,
    HumanEvalSpec,
    ModelSpec,
    ReportSpec,
    Run,
    SamplingSpec,
    _Spec,
)


@dataclass(frozen=True)
class Experiment(_Spec):
    """The whole config (its top-level keys), defaults filled by validate_config."""

    results_dir: str
    device: str
    precision: str
    datasets: Mapping[str, DatasetSpec]
    models: Mapping[str, ModelSpec]
    sampling: SamplingSpec
    evaluation: EvaluationSpec
    report: ReportSpec
    human_eval: HumanEvalSpec | None

    def runs(self) -> list[Run]:
        """Every (model, sampler, steps) sample set, models in the config's order."""
        return [
            Run(model, sampler, int(steps))
            for model in self.models
            for sampler in self.sampling.samplers
            for steps in self.sampling.steps
        ]

    def run_key(self, model: str, sampler: str, steps: int) -> dict[str, Any]:
        """What defines a sample set, written into each of its result files."""
        spec, sampling = self.models[model], self.sampling
        return {
            "dataset": spec.dataset,
            "model": model,
            "family": spec.family,
            "sampler": sampler,
            "sampler_type": sampling.samplers[sampler].type,
            "steps": int(steps),
            "seed_first": sampling.seed,
            "seed_last": sampling.seed + sampling.num_samples - 1,
        }

    def comparisons(self) -> list[Comparison]:
        """Paired comparisons: each latent model against each pixel model on the same data, at every
        sampler and step count (matched sampler and NFE); none without intervals (interval_groups: 0).

        Every cross-family pair is compared, never the best of one family against the best of the
        other: a family with more runs would win that by selection alone."""
        if not self.evaluation.interval_groups:
            return []

        def paired(a: ModelSpec, b: ModelSpec) -> bool:
            # Replicates pair with the replicate of the same training seed (S pairs, not S x S).
            both_replicates = a.replicate_of and b.replicate_of
            same_seed = a.training.seed == b.training.seed
            return a.dataset == b.dataset and (same_seed or not both_replicates)

        return [
            Comparison(a, b, sampler, int(steps))
            for a in self.models_where(family="latent")
            for b in self.models_where(family="pixel")
            if paired(self.models[a], self.models[b])
            for sampler in self.sampling.samplers
            for steps in self.sampling.steps
        ]

    def replicate_base(self, model: str) -> str:
        """The model a training-seed replicate was expanded from, or the model itself."""
        return self.models[model].replicate_of or model

    def datasets_in_use(self) -> list[str]:
        """Datasets some model is trained or evaluated on, sorted."""
        return sorted({spec.dataset for spec in self.models.values()})

    def models_where(self, **conditions: str) -> list[str]:
        """Model names whose spec matches every field=value condition (e.g. source='train')."""
        return [
            name
            for name, spec in self.models.items()
            if all(getattr(spec, key) == value for key, value in conditions.items())
        ]

    def human_eval_runs(self) -> list[dict[str, Any]]:
        """The study's runs as run keys (dataset, model, sampler, steps, ...), in the config's order."""
        if self.human_eval is None:
            return []
        return [self.run_key(r.model, r.sampler, r.steps) for r in self.human_eval.runs]
