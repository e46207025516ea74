"""Sampler registry: a config `type` -> a diffusers scheduler built from the model's own schedule.

Each sampler is created with `from_config(model scheduler config)`, so its betas, timestep count
and prediction type are the ones the model was trained with. As in diffusers, settings the model's
saved config left at their default (`_use_default_values`, e.g. `timestep_spacing`) take the
sampler's own default; `sampler_config` records the settings actually used.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field

from diffusers import (
    DPMSolverMultistepScheduler,
    EulerDiscreteScheduler,
    HeunDiscreteScheduler,
)
from diffusers.schedulers.scheduling_utils import SchedulerMixin

from diffbench.config import SAMPLER_SETTING_TYPES
from diffbench.sampling.ddim import DDIMSequenceScheduler
from diffbench.sampling.host_schedule import DDPMHostScheduler


@dataclass(frozen=True)
class SamplerKind:
    scheduler_class: type[SchedulerMixin]
    overrides: dict = field(default_factory=dict)  # scheduler config changes that define the sampler
    step_options: tuple[str, ...] = ()  # sampler spec keys passed to scheduler.step()


SAMPLERS: dict[str, SamplerKind] = {
    "ddpm": SamplerKind(DDPMHostScheduler),
    "ddim": SamplerKind(DDIMSequenceScheduler, step_options=("eta",)),
    "dpm_solver_pp": SamplerKind(DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++", "solver_order": 2}),
    "euler": SamplerKind(EulerDiscreteScheduler),
    "heun": SamplerKind(HeunDiscreteScheduler),
}


def make_scheduler(sampler: dict, base: SchedulerMixin) -> SchedulerMixin:
    """The sampler's scheduler on the model's schedule. Settings the sampler entry gives (not null)
    override the model's config (config.SAMPLER_SETTING_TYPES says which types have them); they are
    passed as arguments because from_config drops keys the saved config left at their default."""
    kind = SAMPLERS[sampler["type"]]
    chosen = {key: sampler[key] for key in SAMPLER_SETTING_TYPES if sampler.get(key) is not None}
    clip = chosen.pop("clip_sample", base.config.get("clip_sample", False))
    accepts = inspect.signature(kind.scheduler_class.__init__).parameters
    if "clip_sample" in accepts:
        chosen["clip_sample"] = clip
    elif clip and "thresholding" in accepts:
        chosen.update(_thresholding_as_clipping(base))
    return kind.scheduler_class.from_config(base.config, **{**kind.overrides, **chosen})


def _thresholding_as_clipping(base: SchedulerMixin) -> dict:
    """Keep predicted x0 in the data range for pixel-space models, as their DDPM/DDIM schedule does.

    A model whose schedule clips samples (`clip_sample`, set for pixel models) gets the same
    clipping in samplers that only offer it as `thresholding` (DPM-Solver++, as diffusers
    recommends for pixel space): with sample_max_value = clip_sample_range the dynamic threshold
    is the static clip. Latent models never clip. Euler offers no clipping in diffusers.
    """
    return {"thresholding": True, "sample_max_value": base.config.get("clip_sample_range", 1.0)}


def timesteps_of(scheduler: SchedulerMixin, steps: int) -> list[int]:
    """The timesteps `scheduler` visits in `steps` steps (Heun visits most twice), for the record."""
    fresh = scheduler.__class__.from_config(scheduler.config)
    fresh.set_timesteps(steps)
    return [int(round(float(t))) for t in fresh.timesteps]


def step_kwargs(sampler: dict) -> dict:
    return {name: sampler[name] for name in SAMPLERS[sampler["type"]].step_options}


def sampler_config(scheduler: SchedulerMixin) -> dict:
    """The scheduler's effective settings, for the run's record."""
    return {k: v for k, v in scheduler.config.items() if not k.startswith("_")}
