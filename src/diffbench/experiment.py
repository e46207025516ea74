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
    SamplerSetting,
    SamplingSpec,
    _Spec,
)

# A milestone's snapshot is sampled and evaluated as a model named <model>@<milestone>, so every
# sampling and evaluation rule serves it unchanged (its results lie under that name).
MILESTONE_SEPARATOR = "@"


def milestone_name(value: float) -> str:
    """A milestone's folder name and wildcard: its value in the budget's unit, e.g. 3000 or 12.5."""
    return format(float(value), ".12g")  # exact for any value a config gives (6 digits would round)


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
        """What defines a sample set, written into each of its result files (a milestone's also
        names its model and milestone)."""
        spec, sampling = self.models[self.base_model(model)], self.sampling
        milestone = {}
        if MILESTONE_SEPARATOR in model:
            base, value = model.split(MILESTONE_SEPARATOR)
            milestone = {"milestone_of": base, "milestone": float(value)}
        return {
            **milestone,
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

    def base_model(self, name: str) -> str:
        """The config's model behind a sampled model's name (itself, or a milestone's model)."""
        return name.split(MILESTONE_SEPARATOR)[0]

    def milestones(self, model: str) -> list[str]:
        """A trained model's milestone names (training.milestones), in order."""
        spec = self.models[model]
        if spec.source != "train" or not spec.training.milestones:
            return []
        return [milestone_name(value) for value in spec.training.milestones]

    def milestone_models(self) -> list[str]:
        """The names every milestone snapshot is sampled and evaluated under: <model>@<milestone>."""
        return [f"{model}{MILESTONE_SEPARATOR}{m}" for model in self.models for m in self.milestones(model)]

    def milestone_settings(self) -> list[SamplerSetting]:
        """sampling.milestone_settings, or its default: the first sampler at the largest step count."""
        if self.sampling.milestone_settings is not None:
            return list(self.sampling.milestone_settings)
        return [SamplerSetting(next(iter(self.sampling.samplers)), max(self.sampling.steps))]

    def milestone_runs(self) -> list[Run]:
        """Every milestone snapshot at every milestone setting."""
        settings = self.milestone_settings()
        return [Run(name, s.sampler, s.steps) for name in self.milestone_models() for s in settings]

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
