"""DDPM and DDIM steps that never read the GPU back.

diffusers' DDPM and DDIM steps index their (CPU) alphas with the timestep they are given, a 0-d
tensor on the sampling device when the loop iterates over `scheduler.timesteps`, and compare it
in Python (DDPM also looks its position up with nonzero()). Each is a read-back that waits for
every queued kernel, so at every step the GPU runs dry while the host launches the next UNet
evaluation. These schedulers keep their schedule on the host as well (`host_timesteps`), and the
sampling loop, which knows which step it is on, gives step() that host value; a tensor given
instead is read back, as in diffusers. The arithmetic is diffusers', on the same values, so the
samples are the same to the bit (tests/test_sampling.py).
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler


class HostSchedule:
    """Mixin: `host_timesteps`, the schedule as Python ints (call _keep_schedule_on_host after setting it)."""

    timesteps: torch.Tensor
    host_timesteps: list[int]

    def _keep_schedule_on_host(self) -> None:
        self.host_timesteps = self.timesteps.tolist()  # one read-back per set_timesteps


def step_timesteps(scheduler) -> list[int] | torch.Tensor:
    """What the sampling loop passes to `scheduler.step`, one per element of its timesteps."""
    return scheduler.host_timesteps if isinstance(scheduler, HostSchedule) else scheduler.timesteps


class DDPMHostScheduler(HostSchedule, DDPMScheduler):
    """diffusers' DDPMScheduler whose step reads its timesteps on the host (see the module)."""

    def set_timesteps(self, *args, **kwargs) -> None:
        super().set_timesteps(*args, **kwargs)
        self._keep_schedule_on_host()

    def previous_timestep(self, timestep: int | torch.Tensor) -> int | torch.Tensor:
        if not (self.custom_timesteps or self.num_inference_steps):
            return super().previous_timestep(timestep)
        schedule = self.host_timesteps
        index = schedule.index(int(timestep))  # the first with that value, as diffusers' nonzero()
        return schedule[index + 1] if index + 1 < len(schedule) else -1

    def step(self, model_output, timestep, sample, generator=None, return_dict: bool = True):
        return super().step(model_output, int(timestep), sample, generator=generator, return_dict=return_dict)
