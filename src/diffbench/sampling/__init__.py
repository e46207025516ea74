"""Sampling: what a sampler entry may ask for (options: plain data, below config), the sampler
registry, seeded per-image sampling, its resumable batches, speed-ups, throughput timing, and
models on disk (pipeline_io: loading and saving diffusers pipelines)."""
