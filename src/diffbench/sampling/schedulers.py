"""Sampler registry: a config `type` -> a diffusers scheduler built from the model's own schedule.

Each sampler is created with `from_config(model scheduler config)`, so its betas, timestep count
and prediction type are the ones the model was trained with. As in diffusers, settings the model's
saved config left at their default (`_use_default_values`, e.g. `timestep_spacing`) take the
sampler's own default; `sampler_config` records the settings actually used.
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import torch
from diffusers import (
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from diffbench.sampling.ddim import DDIMSequenceScheduler
from diffbench.sampling.host_schedule import DDPMHostScheduler
from diffbench.sampling.options import SAMPLER_SETTING_TYPES, SAMPLER_TYPES, STEP_NOISE, STEP_OPTIONS
from diffbench.specs import SamplerSpec


@dataclass(frozen=True)
class SamplerKind:
    scheduler_class: type[SchedulerMixin]
    overrides: dict = field(default_factory=dict)  # scheduler config changes that define the sampler
    step_options: tuple[str, ...] = ()  # sampler spec keys passed to scheduler.step()


_SCHEDULERS = {
    "ddpm": (DDPMHostScheduler, {}),
    "ddim": (DDIMSequenceScheduler, {}),
    "dpm_solver_pp": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "euler": (EulerDiscreteScheduler, {}),
    "heun": (HeunDiscreteScheduler, {}),
}
# One entry per options.SAMPLER_TYPES, in its order (tests/test_sampling.py checks both ways).
SAMPLERS: dict[str, SamplerKind] = {
    kind: SamplerKind(*_SCHEDULERS[kind], step_options=STEP_OPTIONS.get(kind, ())) for kind in SAMPLER_TYPES
}


def make_scheduler(sampler: SamplerSpec, base: SchedulerMixin) -> SchedulerMixin:
    """The sampler's scheduler on the model's schedule. Settings the sampler entry gives (not null)
    override the model's config (options.SAMPLER_SETTING_TYPES says which types have them); they are
    passed as arguments because from_config drops keys the saved config left at their default."""
    kind = SAMPLERS[sampler.type]
    given = {key: getattr(sampler, key) for key in SAMPLER_SETTING_TYPES}
    chosen = {key: value for key, value in given.items() if value is not None}
    clip = chosen.pop("clip_sample", base.config.get("clip_sample", False))
    accepts = inspect.signature(kind.scheduler_class.__init__).parameters
    if "clip_sample" in accepts:
        chosen["clip_sample"] = clip
        # a latent model's range too (from_config would drop it where the config lists it as a default)
        chosen["clip_sample_range"] = base.config.get("clip_sample_range", 1.0)
    elif clip and "thresholding" in accepts and base.config.get("clip_sample_range", 1.0) == 1.0:
        chosen.update(_thresholding_as_clipping())
    return kind.scheduler_class.from_config(base.config, **{**kind.overrides, **chosen})


def _thresholding_as_clipping() -> dict:
    """Keep predicted x0 in [-1, 1] in samplers that only offer `thresholding` (DPM-Solver++, as
    diffusers recommends for pixel space), as the model's DDPM/DDIM schedule clips it.

    Dynamic thresholding clamps x0 to +-s and divides by s, with s a quantile of |x0| held in
    [1, sample_max_value]: with sample_max_value 1 that is the static clip at 1. No setting makes it
    a static clip at another range (a latent model's), so such models are not clamped there, and
    the run's record and the runs table say so (x0_handling). Euler offers no clipping in diffusers.
    """
    return {"thresholding": True, "sample_max_value": 1.0}


def x0_treatment(scheduler: SchedulerMixin) -> dict:
    """What `scheduler` does to its predicted x0 at every step, from the settings its class reads
    (a config may carry keys of another scheduler that this one ignores): kind clip (at +-limit),
    dynamic_threshold (quantile ratio, up to limit) or none. Recorded per run."""
    accepts = inspect.signature(type(scheduler).__init__).parameters
    config = scheduler.config
    if "thresholding" in accepts and config.get("thresholding"):
        limit = float(config.get("sample_max_value", 1.0))
        if limit == 1.0:  # the static clip at 1 (see _thresholding_as_clipping)
            return {"kind": "clip", "limit": 1.0}
        return {"kind": "dynamic_threshold", "limit": limit, "ratio": float(config.get("dynamic_thresholding_ratio"))}
    if "clip_sample" in accepts and config.get("clip_sample"):
        return {"kind": "clip", "limit": float(config.get("clip_sample_range", 1.0))}
    return {"kind": "none", "limit": None}


def timesteps_of(scheduler: SchedulerMixin, steps: int) -> list[int]:
    """The timesteps `scheduler` visits in `steps` steps (Heun visits most twice), for the record."""
    fresh = scheduler.__class__.from_config(scheduler.config)
    fresh.set_timesteps(steps)
    return [int(round(float(t))) for t in fresh.timesteps]


def step_kwargs(sampler: SamplerSpec) -> dict:
    return {name: getattr(sampler, name) for name in SAMPLERS[sampler.type].step_options}


@dataclass(frozen=True)
class Sampler:
    """A sampler on one model's schedule, as one object: its scheduler (a template: every batch
    starts a fresh copy, since multistep solvers keep state), the options its step() takes, where
    its stochastic steps draw their noise (`sampling.step_noise`), and what a run records of it."""

    scheduler: SchedulerMixin
    step_options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    step_noise: str = "device"

    def __post_init__(self):
        if self.step_noise not in STEP_NOISE:
            raise ValueError(f"step_noise {self.step_noise!r} is not one of {STEP_NOISE}")

    @classmethod
    def of(cls, entry: SamplerSpec, base: SchedulerMixin, step_noise: str = "device") -> Sampler:
        """A sampling.samplers entry on the model scheduler `base`."""
        return cls(make_scheduler(entry, base), MappingProxyType(step_kwargs(entry)), step_noise)

    def fresh(self) -> SchedulerMixin:
        return self.scheduler.__class__.from_config(self.scheduler.config)

    def noise_on(self, device: torch.device) -> str:
        """The device type whose generators draw the noise of stochastic steps (recorded per run):
        by default the sampling device's own (no host copy and synchronisation per step)."""
        return "cpu" if self.step_noise == "cpu" else device.type

    def record(self, steps: int, device: torch.device) -> dict:
        """What a run records of its sampler at `steps` steps on `device`."""
        return {
            "scheduler_class": type(self.scheduler).__name__,
            "scheduler_config": sampler_config(self.scheduler),
            "timesteps": timesteps_of(self.scheduler, steps),
            "x0_treatment": x0_treatment(self.scheduler),
            "step_noise_on": self.noise_on(device),
        }


def sampler_config(scheduler: SchedulerMixin) -> dict:
    """The scheduler's effective settings, for the run's record."""
    return {k: v for k, v in scheduler.config.items() if not k.startswith("_")}
