"""Which noise levels the denoiser trains on: the distribution its timesteps are drawn from.

DDPM and LDM draw every timestep equally often. EDM (Karras et al. 2022, Sec. 5) draws the noise
level instead, ln(sigma) ~ N(P_mean, P_std^2), and showed that training on the middle levels,
where shapes and edges are decided, buys far more quality per step than the nearly clean or
nearly pure-noise ends. diffusers has no sampler of training timesteps for its discrete
schedules, so the discretisation is written here: each timestep t of the schedule gets the
probability mass of the ln(sigma) interval nearest to its own ln(sigma_t), with
sigma_t = sqrt((1 - alpha_bar_t) / alpha_bar_t), the noise-to-signal ratio of x_t (EDM's sigma of
the same forward process). Models on different data (pixels, latents) then train on the same
noise-to-signal ratios, as they share the schedule.
"""

from __future__ import annotations

import math

import torch
from diffusers import DDPMScheduler

from diffbench.specs import DiffusionSpec

UNIFORM, LOGNORMAL = "uniform", "lognormal"
TIMESTEP_SAMPLING = (UNIFORM, LOGNORMAL)  # the schema's enum is checked against this


class TimestepSampler:
    """Draws training timesteps, uniform or log-normal in sigma, from the loop's generator."""

    def __init__(self, spec: DiffusionSpec, scheduler: DDPMScheduler):
        self.kind = spec.timestep_sampling
        self.mean, self.std = spec.log_sigma_mean, spec.log_sigma_std
        self.num_timesteps = scheduler.config.num_train_timesteps
        self.probabilities = None if self.kind == UNIFORM else lognormal_masses(scheduler, self.mean, self.std)

    def __call__(self, n: int, generator: torch.Generator) -> torch.Tensor:
        device = generator.device
        if self.probabilities is None:  # the draw DDPM's loss makes (and every earlier model was trained with)
            return torch.randint(0, self.num_timesteps, (n,), generator=generator, device=device)
        return torch.multinomial(self.probabilities.to(device), n, replacement=True, generator=generator)

    def describe(self) -> str:
        """One string that compares equal exactly when two models train on the same levels."""
        if self.kind == UNIFORM:
            return "uniform timesteps"
        return f"ln sigma ~ N({self.mean:g}, {self.std:g}^2)"


def log_sigmas(scheduler: DDPMScheduler) -> torch.Tensor:
    """ln(sigma_t) of every timestep, float64 (increasing in t)."""
    alpha_bar = scheduler.alphas_cumprod.to(torch.float64)
    return 0.5 * torch.log((1 - alpha_bar) / alpha_bar)


def lognormal_masses(scheduler: DDPMScheduler, mean: float, std: float) -> torch.Tensor:
    """P(t) = the N(mean, std^2) mass of the ln(sigma) values nearer to ln(sigma_t) than to its
    neighbours' (the ends take the tails), so a draw is the continuous one rounded to the nearest
    timestep."""
    levels = log_sigmas(scheduler)
    edges = (levels[1:] + levels[:-1]) / 2
    cdf = 0.5 * torch.erfc(-(edges - mean) / (std * math.sqrt(2)))
    masses = torch.diff(cdf, prepend=cdf.new_zeros(1), append=cdf.new_ones(1))
    return masses.float()
