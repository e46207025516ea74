"""DDPM and DDIM steps that never read the GPU back.

diffusers' DDPM and DDIM steps index their (CPU) alphas with the timestep they are given, a 0-d
tensor on the sampling device when the loop iterates over `scheduler.timesteps`, and compare it
in Python (DDPM also looks its position up with nonzero()). Each is a read-back that waits for
every queued kernel, so at every step the GPU runs dry while the host launches the next UNet
evaluation. These schedulers keep the schedule on the host as well and resolve the timestep they
are given there: an element of `self.timesteps` (what iterating over it gives) by its address,
anything else by its value (a read-back, as before). The arithmetic is diffusers', on the same
values, so the samples are the same to the bit (tests/test_sampling.py).
"""

from __future__ import annotations

import torch
from diffusers import DDPMScheduler


class HostSchedule:
    """Mixin: a host copy of `self.timesteps` (call _keep_schedule_on_host after setting them)."""

    timesteps: torch.Tensor
    _host_timesteps: list[int]

    def _keep_schedule_on_host(self) -> None:
        self._host_timesteps = self.timesteps.tolist()  # one read-back per set_timesteps

    def _host_value(self, timestep: int | torch.Tensor) -> int:
        """The value of `timestep`, read from the host copy when it is an element of self.timesteps."""
        mine, host = self.timesteps, getattr(self, "_host_timesteps", None)  # None before set_timesteps
        if host is not None and torch.is_tensor(timestep) and timestep.dim() == 0 and timestep.device == mine.device:
            index, rest = divmod(timestep.data_ptr() - mine.data_ptr(), mine.element_size() * mine.stride(0))
            if rest == 0 and 0 <= index < len(mine) and timestep.dtype == mine.dtype:
                return host[index]
        return int(timestep)


class DDPMHostScheduler(HostSchedule, DDPMScheduler):
    """diffusers' DDPMScheduler whose step reads its timesteps on the host (see the module)."""

    def set_timesteps(self, *args, **kwargs) -> None:
        super().set_timesteps(*args, **kwargs)
        self._keep_schedule_on_host()

    def previous_timestep(self, timestep: int | torch.Tensor) -> int | torch.Tensor:
        if not (self.custom_timesteps or self.num_inference_steps):
            return super().previous_timestep(timestep)
        schedule = self._host_timesteps
        index = schedule.index(self._host_value(timestep))  # the first with that value, as diffusers' nonzero()
        return schedule[index + 1] if index + 1 < len(schedule) else -1

    def step(self, model_output, timestep, sample, generator=None, return_dict: bool = True):
        return super().step(
            model_output, self._host_value(timestep), sample, generator=generator, return_dict=return_dict
        )
