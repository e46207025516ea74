"""Sampling: scheduler registry, seeded sampler, shard and merge stages."""
