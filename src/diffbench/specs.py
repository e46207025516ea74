"""The validated config as frozen, typed specs: what a stage hands to the libraries below it.

Snakemake passes plain data (the validated config's dicts) to the stages; each stage builds its
specs once on entry (`ModelSpec.of(params)`) and passes them down, so no function below the stages
indexes a config dict. A spec's fields are exactly its schema section's keys (a test checks both
ways), and the validator has filled every default, so `of` needs no defaults of its own: a field
missing from the dict is a bug upstream, not a user error, and fails loudly.

`as_dict()` gives the dict back, for settings written into records and fingerprints: the same
JSON as the config's, so a resumed checkpoint's fingerprint does not change with this layer.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Self


class _Spec:
    """Builds a frozen dataclass from its schema section's dict, nested specs included."""

    @classmethod
    def of(cls, value: Self | dict[str, Any]) -> Self:
        if isinstance(value, cls):
            return value
        hints = typing.get_type_hints(cls)
        unknown = set(value) - {f.name for f in dataclasses.fields(cls)}
        if unknown:
            raise TypeError(f"{cls.__name__}: keys {sorted(unknown)} are not fields (schema and spec out of step)")
        return cls(**{field.name: _build(hints[field.name], value[field.name]) for field in dataclasses.fields(cls)})

    def as_dict(self) -> dict[str, Any]:
        return {f.name: _plain(getattr(self, f.name)) for f in dataclasses.fields(self)}


def _spec_in(kind) -> type[_Spec] | None:
    """The spec class a type hint names, directly or as `Spec | None`."""
    for candidate in (kind, *typing.get_args(kind)):
        if isinstance(candidate, type) and issubclass(candidate, _Spec):
            return candidate
    return None


def _build(kind, item):
    """`item` (plain config data) as the hinted type: specs built, named specs in a read-only mapping,
    lists as tuples (of specs where hinted), so a spec is frozen all the way down."""
    if item is None:
        return None
    origin, args = typing.get_origin(kind), typing.get_args(kind)
    if origin is Mapping:
        return MappingProxyType({name: _build(args[1], entry) for name, entry in item.items()})
    if isinstance(item, list):
        return tuple(_build(args[0], entry) for entry in item) if origin is tuple else tuple(item)
    spec = _spec_in(kind)
    return spec.of(item) if spec is not None else item


def _plain(value):
    if isinstance(value, _Spec):
        return value.as_dict()
    if isinstance(value, MappingProxyType):
        return {name: _plain(entry) for name, entry in value.items()}
    return [_plain(entry) for entry in value] if isinstance(value, tuple) else value


@dataclass(frozen=True)
class DatasetSpec(_Spec):
    """`datasets.<name>`."""

    source: str
    root: str
    download: bool
    unreadable_files: str
    split: str
    resolution: int
    channels: int
    num_train: int
    num_reference: int
    seed: int
    max_shapes: int
    shape_radius: tuple[float, float]


@dataclass(frozen=True)
class TrainingSpec(_Spec):
    """`models.<name>.training` and `models.<name>.autoencoder.training`."""

    max_steps: int | None
    max_seconds: float | None
    max_gflops: float | None
    budget_share: float | None
    batch_size: int
    learning_rate: float
    warmup_steps: int
    ema_decay: float | None
    seed: int
    seeds: tuple[int, ...] | None
    milestones: tuple[float, ...] | None
    kept_states: int | None
    checkpoint_every: int | None
    log_every: int

    @property
    def budget_unit(self) -> str:
        """The limit that milestones are measured in: max_gflops when set (the same on every
        machine), else max_seconds, else max_steps."""
        return next(key for key in ("max_gflops", "max_seconds", "max_steps") if getattr(self, key) is not None)


@dataclass(frozen=True)
class DiscriminatorSpec(_Spec):
    """`models.<name>.autoencoder.discriminator`; start_step None: no adversarial term."""

    start_step: int | None
    weight: float
    channels: int
    layers: int


@dataclass(frozen=True)
class AutoencoderSpec(_Spec):
    """`models.<name>.autoencoder`: a latent model's first stage and its training."""

    type: str
    downsampling_factor: int
    latent_channels: int
    base_channels: int
    max_channels: int
    layers_per_block: int
    num_vq_embeddings: int
    kl_weight: float
    scale_equivariance_weight: float
    scale_equivariance_start_step: int
    perceptual_weight: float
    perceptual_net: str
    perceptual_min_side: int
    discriminator: DiscriminatorSpec
    training: TrainingSpec


@dataclass(frozen=True)
class UNetSpec(_Spec):
    """`models.<name>.unet`."""

    base_channels: int
    channel_mult: tuple[int, ...]
    layers_per_block: int
    attention: bool
    dropout: float


@dataclass(frozen=True)
class DiffusionSpec(_Spec):
    """`models.<name>.diffusion`: the noise schedule, the noise levels trained on, the UNet's
    target and x0 handling."""

    num_train_timesteps: int
    beta_schedule: str
    beta_start: float
    beta_end: float
    timestep_sampling: str
    log_sigma_mean: float
    log_sigma_std: float
    prediction_type: str
    x0_clamp: str


# A training budget's limits as the config's training keys name them, and the unit each counts
# (training/budget.py says what they mean); a model's total budget is in seconds or GFLOPs, to
# which budget_scope: total charges the first stage (steps are always a stage's own).
BUDGET_LIMITS = {"max_steps": "steps", "max_seconds": "seconds", "max_gflops": "GFLOPs"}
TOTAL_BUDGET_UNITS = {key: unit for key, unit in BUDGET_LIMITS.items() if key != "max_steps"}


@dataclass(frozen=True)
class PretrainedSpec(_Spec):
    """`models.<name>.pretrained` (source: pretrained)."""

    id: str
    revision: str | None
    latent_scaling_factor: float | None


@dataclass(frozen=True)
class ModelSpec(_Spec):
    """`models.<name>`, after the validator filled its defaults (a pixel model's unused
    autoencoder section included, so every model has the same fields)."""

    dataset: str
    family: str
    source: str
    pretrained: PretrainedSpec
    autoencoder: AutoencoderSpec
    unet: UNetSpec
    diffusion: DiffusionSpec
    training: TrainingSpec
    budget_scope: str
    replicate_of: str | None

    @property
    def latent(self) -> bool:
        return self.family == "latent"

    @property
    def downsampling_factor(self) -> int:
        """1 for a pixel model: its UNet sees the images themselves."""
        return self.autoencoder.downsampling_factor if self.latent else 1

    def training_run(self) -> ModelSpec:
        """This model as its training run depends on it: training.milestones set aside. Each
        milestone is a job of its own, trained from the run's kept states, so adding one changes
        neither the run's fingerprint nor its rule's parameters."""
        return dataclasses.replace(self, training=dataclasses.replace(self.training, milestones=None))

    def total_limits(self) -> dict[str, float]:
        """The model's limits that its first stage is charged to: {training key: value} (budget_scope:
        total); none under budget_scope: denoiser or with a budget in denoiser steps only."""
        if self.budget_scope != "total":
            return {}
        limits = {key: getattr(self.training, key) for key in TOTAL_BUDGET_UNITS}
        return {key: value for key, value in limits.items() if value is not None}

    def first_stage_training(self) -> TrainingSpec:
        """The autoencoder's training spec with its `budget_share` turned into limits: the share of
        each total limit of the model (whichever of these and its own limits comes first)."""
        training = self.autoencoder.training
        if training.budget_share is None:
            return training
        shares = {}
        for key, total in self.total_limits().items():
            own, share = getattr(training, key), training.budget_share * total
            shares[key] = share if own is None else min(own, share)
        return dataclasses.replace(training, **shares)


@dataclass(frozen=True)
class EvaluationSpec(_Spec):
    """`evaluation`: feature extraction, metrics and their intervals."""

    reference: str
    feature_extractor: str
    resize: str
    inception_weights: str | None
    channels_last: bool
    fold_batch_norm: bool
    batch_size: int
    pr_neighborhood: int
    interval_groups: int
    confidence: float
    fid_infinity_fractions: tuple[float, ...]
    fid_infinity_min_ratio: float
    lpips_net: str
    lpips_min_side: int
    diversity_pairs: int

    @property
    def features_key(self) -> str:
        """Names the feature files: one per (extractor, resize mode), so Snakemake's file graph caches them."""
        return f"{self.feature_extractor}-{self.resize}"


@dataclass(frozen=True)
class SamplerSpec(_Spec):
    """`sampling.samplers.<name>`: a sampler type and its settings (null: the model's or the
    sampler's own default; sampling/schedulers.py says which types read which)."""

    type: str
    eta: float
    timestep_spacing: str | None
    steps_offset: int | None
    clip_sample: bool | None
    set_alpha_to_one: bool | None
    variance_type: str | None
    solver_order: int | None


@dataclass(frozen=True)
class SpeedupsSpec(_Spec):
    """`sampling.speedups`: options that make sampling faster without changing what it computes."""

    channels_last: bool
    compile: bool
    fused_attention: bool
    cuda_graphs: bool


@dataclass(frozen=True)
class SamplerSetting(_Spec):
    """A sampler and its step count (`sampling.milestone_settings` items)."""

    sampler: str
    steps: int


@dataclass(frozen=True)
class SamplingSpec(_Spec):
    """`sampling`: the samplers by name, the step counts, the sampling seeds and how jobs batch them."""

    samplers: Mapping[str, SamplerSpec]
    steps: tuple[int, ...]
    num_samples: int
    seed: int
    batch_size: int
    step_noise: str
    speedups: SpeedupsSpec
    images_per_shard: int | None
    throughput_max_batch: int | None
    milestone_settings: tuple[SamplerSetting, ...] | None


@dataclass(frozen=True)
class ShardJob(_Spec):
    """What one sample_shard job draws: its sampler at its step count, for its seeds, in batches of
    `batch_size`, with `sampling`'s step noise and speedups. Not a schema section but one job's
    share of `sampling`, which the sample_shard rule hands over as one plain dict."""

    sampler: SamplerSpec
    steps: int
    seeds: tuple[int, ...]
    batch_size: int
    step_noise: str
    speedups: SpeedupsSpec


@dataclass(frozen=True)
class Run(_Spec):
    """One sample set: a model, a sampler and its step count (`human_eval.runs` items)."""

    model: str
    sampler: str
    steps: int


@dataclass(frozen=True)
class Comparison(_Spec):
    """A latent model (a) against a pixel model (b) of one dataset, on the same seeds (`report.primary`)."""

    model_a: str
    model_b: str
    sampler: str
    steps: int


@dataclass(frozen=True)
class ReportSpec(_Spec):
    """`report`: sample grids, static figures, published numbers, the savings target, the primary comparison."""

    grid_seeds: int
    static_formats: tuple[str, ...]
    published: tuple[str, ...] | None
    savings_target: float | None
    primary: Comparison | None


@dataclass(frozen=True)
class HumanEvalSpec(_Spec):
    """`human_eval`: one rating study of some runs."""

    study: str
    runs: tuple[Run, ...]
    kinds: tuple[str, ...]
    trials_per_kind: int
    attention_checks: int
    max_failed_checks: int
    seed: int
    ratings_dir: str
    bootstrap: int
    ci_level: float
    bt_regularization: float


# Each spec and the schema section (a JSON pointer into the schema) whose keys it holds.
SCHEMA_SECTIONS: dict[type[_Spec], str] = {
    DatasetSpec: "$defs/dataset",
    TrainingSpec: "$defs/training",
    DiscriminatorSpec: "$defs/discriminator",
    AutoencoderSpec: "$defs/autoencoder",
    UNetSpec: "$defs/unet",
    DiffusionSpec: "$defs/diffusion",
    PretrainedSpec: "$defs/pretrained",
    ModelSpec: "$defs/model",
    EvaluationSpec: "$defs/evaluation",
    SamplerSpec: "$defs/sampler",
    SpeedupsSpec: "$defs/sampling/properties/speedups",
    SamplingSpec: "$defs/sampling",
    SamplerSetting: "$defs/sampling/properties/milestone_settings/items",
    Run: "properties/human_eval/properties/runs/items",
    Comparison: "$defs/report/properties/primary",
    ReportSpec: "$defs/report",
    HumanEvalSpec: "properties/human_eval",
}
