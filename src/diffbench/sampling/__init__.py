"""Sampling: what a sampler entry may ask for (options: plain data, below config), the sampler
registry (schedulers) and diffusers schedulers whose steps stay on the host (host_schedule) or
follow the DDIM paper's timesteps (ddim), seeded per-image sampling (sampler), its resumable
batches, speed-ups, throughput and batch timing, and models on disk (pipeline_io: loading and
saving diffusers pipelines)."""
