"""DDIM that steps to the next timestep of its own schedule, with the DDIM paper's quadratic spacing.

diffusers' DDIMScheduler.step takes the previous timestep as t - T // S: right for `leading` spacing
and for `trailing` when S divides T, but not for `linspace` (10 of 1000 steps visit 999, 888, ...
while the update aims at 899, 799, ...) nor for the DDIM paper's quadratic selection, which
diffusers does not offer. This subclass keeps diffusers' schedule, clipping and noise handling and
only replaces the update, so every spacing lands where its next timestep is; for uniform strides it
is diffusers' update exactly (tests/test_sampling.py compares them).
"""

from __future__ import annotations

import numpy as np
import torch
from diffusers import DDIMScheduler
from diffusers.schedulers.scheduling_ddim import DDIMSchedulerOutput
from diffusers.utils.torch_utils import randn_tensor

from diffbench.sampling.host_schedule import HostSchedule

# The DDIM paper (Song et al. 2021, appendix D.2) spaces CIFAR-10 timesteps as tau_i = c * i^2 with
# c chosen so that the last one is 0.8 T.
QUADRATIC_END_FRACTION = 0.8


def quadratic_timesteps(num_train_timesteps: int, steps: int) -> np.ndarray:
    """The DDIM paper's quadratic selection, ascending. Computed as its released code does (float
    linspace, squared, truncated), which for some step counts is one below the exact floor(c i^2);
    at 100 steps the first timesteps repeat (0, 0, 0, 0, 1, ...), as in that code."""
    roots = np.linspace(0, np.sqrt(num_train_timesteps * QUADRATIC_END_FRACTION), steps)
    return (roots**2).astype(np.int64)


class DDIMSequenceScheduler(HostSchedule, DDIMScheduler):
    """DDIMScheduler whose update goes from the current timestep to the next one it will visit (the
    final step to alpha_bar = `final_alpha_cumprod`, as diffusers), and which also accepts
    `timestep_spacing="quadratic"`. Its step never reads the GPU back (host_schedule.py)."""

    def set_timesteps(self, num_inference_steps: int, device: str | torch.device = None):
        if self.config.timestep_spacing != "quadratic":
            super().set_timesteps(num_inference_steps, device)
        else:
            if num_inference_steps > self.config.num_train_timesteps:
                raise ValueError(
                    f"`num_inference_steps` {num_inference_steps} exceeds {self.config.num_train_timesteps} timesteps"
                )
            self.num_inference_steps = num_inference_steps
            ascending = quadratic_timesteps(self.config.num_train_timesteps, num_inference_steps)
            self.timesteps = torch.from_numpy(ascending[::-1] + self.config.steps_offset).to(device)
        self._step_index = 0
        self._keep_schedule_on_host()  # step() reads timesteps there, never from the GPU

    def step(
        self,
        model_output: torch.Tensor,
        timestep: int,
        sample: torch.Tensor,
        eta: float = 0.0,
        generator: torch.Generator | list[torch.Generator] | None = None,
        return_dict: bool = True,
    ) -> DDIMSchedulerOutput | tuple:
        """DDIM's update, formulas (12) and (16) of the paper, from `timestep` to the next one of
        `self.timesteps`. Steps are counted (timesteps may repeat in quadratic spacing)."""
        if self.num_inference_steps is None:
            raise ValueError("call set_timesteps before step")
        index, schedule = self._step_index, self.host_timesteps
        if index >= len(schedule) or int(timestep) != schedule[index]:
            raise ValueError(f"step {index} of this schedule is not timestep {int(timestep)}; call set_timesteps again")
        self._step_index += 1
        current = schedule[index]
        prev_timestep = schedule[index + 1] if index + 1 < len(schedule) else -1

        alpha_prod_t = self.alphas_cumprod[current]
        alpha_prod_t_prev = self.alphas_cumprod[prev_timestep] if prev_timestep >= 0 else self.final_alpha_cumprod
        beta_prod_t = 1 - alpha_prod_t
        kind = self.config.prediction_type
        if kind == "epsilon":
            pred_original_sample = (sample - beta_prod_t**0.5 * model_output) / alpha_prod_t**0.5
            pred_epsilon = model_output
        elif kind == "sample":
            pred_original_sample = model_output
            pred_epsilon = (sample - alpha_prod_t**0.5 * pred_original_sample) / beta_prod_t**0.5
        elif kind == "v_prediction":
            pred_original_sample = alpha_prod_t**0.5 * sample - beta_prod_t**0.5 * model_output
            pred_epsilon = alpha_prod_t**0.5 * model_output + beta_prod_t**0.5 * sample
        else:
            raise ValueError(f"prediction_type {kind!r} is not epsilon, sample or v_prediction")

        if self.config.thresholding:
            pred_original_sample = self._threshold_sample(pred_original_sample)
        elif self.config.clip_sample:
            limit = self.config.clip_sample_range
            pred_original_sample = pred_original_sample.clamp(-limit, limit)

        std_dev_t = eta * self._get_variance(current, prev_timestep) ** 0.5
        direction = (1 - alpha_prod_t_prev - std_dev_t**2) ** 0.5 * pred_epsilon
        prev_sample = alpha_prod_t_prev**0.5 * pred_original_sample + direction
        if eta > 0:
            noise = randn_tensor(
                model_output.shape, generator=generator, device=model_output.device, dtype=model_output.dtype
            )
            prev_sample = prev_sample + std_dev_t * noise
        if not return_dict:
            return prev_sample, pred_original_sample
        return DDIMSchedulerOutput(prev_sample=prev_sample, pred_original_sample=pred_original_sample)
