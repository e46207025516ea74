"""Merge stages (workflow/rules/merge.smk): a sharded run's images (merge_samples) and features
(sample_features) joined in seed order on the submitting machine.

These jobs only read and write arrays, so this module imports numpy and PIL, never torch: a
merge job starts in a fraction of a second instead of paying seconds of torch import (12 such
jobs in the default run).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from diffbench.errors import ResultError
from diffbench.io import atomic_dir, write_npz
from diffbench.metrics.frechet import Moments
from diffbench.records import SAMPLING, SAMPLING_SHARD


def merge_samples(
    *,
    shard_images: list[str | Path],
    shard_records: list[str | Path],
    expected_seeds: list[int],
    run: dict,
    out_images: str | Path,
    out_png_dir: str | Path,
    out_record: str | Path,
) -> dict:
    """Concatenate shards in seed order; the result equals a single-job run of the same seeds."""
    images, seeds, finite = [], [], []
    for path in shard_images:
        with np.load(path) as data:
            images.append(data["images"])
            seeds.append(data["seeds"])
            finite.append(data["finite"])
    images, seeds, finite = np.concatenate(images), np.concatenate(seeds), np.concatenate(finite)
    if seeds.tolist() != list(expected_seeds):
        raise ResultError(
            f"shards of {run} hold seeds {seeds[:3].tolist()}...{seeds[-3:].tolist()} ({len(seeds)}), expected "
            f"{expected_seeds[0]}..{expected_seeds[-1]} ({len(expected_seeds)}); rerun the sample_shard jobs."
        )
    records = [SAMPLING_SHARD.read(p) for p in shard_records]
    write_npz(out_images, images=images, seeds=seeds, finite=finite)
    with atomic_dir(out_png_dir) as tmp:
        for seed, image in zip(seeds, images, strict=True):
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(tmp / f"{seed:06d}.png")
    record = summarise(records, run)
    SAMPLING.write(out_record, record)
    return record


def summarise(records: list[dict], run: dict) -> dict:
    """Costs of a whole sample set from its shards' records."""
    n = sum(r["num_images"] for r in records)
    denoise = sum(r["denoise_s"] for r in records)
    decode = sum(r["decode_s"] for r in records)
    first = records[0]
    total = denoise + decode
    summary = {
        **run,
        "sampler_type": first["sampler"]["type"],
        "sampler_options": {k: v for k, v in first["sampler"].items() if k != "type"},
        "scheduler_class": first["scheduler_class"],
        "scheduler_config": first["scheduler_config"],
        "timesteps": first["timesteps"],
        "x0_treatment": first["x0_treatment"],
        "num_images": n,
        "seed_first": records[0]["seed_first"],
        "seed_last": records[-1]["seed_last"],
        "num_shards": len(records),
        "batch_size": first["batch_size"],
        # where the noise of stochastic steps was drawn (shards on different devices can differ)
        "step_noise_on": "+".join(sorted({r["step_noise_on"] for r in records})),
        "speedups": ", ".join(sorted({r["speedups"] for r in records})),  # as step_noise_on: each shard's own
        "warmup_s": sum(r["warmup_s"] for r in records),  # outside denoise_s and decode_s: per job, not per image
        "precision": first["precision"],
        "decoder_precision": first["decoder_precision"],
        "nfe_per_image": first["nfe_per_image"],
        "denoise_s": denoise,
        "decode_s": decode,
        "total_s": total,
        "seconds_per_image": total / n,
        "images_per_s": n / total if total > 0 else None,
        "decode_share": decode / total if total > 0 else 0.0,
        "unet_gflops_per_nfe": first["unet_gflops_per_nfe"],
        "decoder_gflops": first["decoder_gflops"],
        "gflops_per_image": first["unet_gflops_per_nfe"] * first["nfe_per_image"] + first["decoder_gflops"],
        "nonfinite_images": sum(r["nonfinite_images"] for r in records),
        "peak_host_rss_mb": max(r["peak_host_rss_mb"] for r in records),
        "devices": sorted({f"{r['device']}:{r['device_name']}" for r in records}),
        "device": first["device"],
        "device_name": first["device_name"],
        "device_setting": first.get("device_setting"),
        "cpu_fallback": any(r.get("cpu_fallback", False) for r in records),
    }
    for key in ("peak_gpu_memory_mb", "peak_gpu_reserved_mb"):  # CUDA shards only
        if all(key in r for r in records):
            summary[key] = max(r[key] for r in records)
    return summary


def sample_features(parts: list[str | Path], out_features: str | Path) -> dict:
    """Features of shards (in seed order) -> the features of the whole set.

    The moments are sums in float64, so the merged statistics equal a single job's up to the
    order of float64 additions; the features themselves are concatenated unchanged.
    """
    features, finite, moments, excluded = [], [], None, 0
    for part in parts:
        with np.load(part) as data:
            features.append(data["features"])
            finite.append(data["finite"])
            shard = Moments.from_npz(data)
            excluded += int(data["nonfinite_excluded"])
        moments = shard if moments is None else moments.merge(shard)
    assert moments is not None, "sample_features needs at least one shard"
    merged = np.concatenate(features)
    assert moments.count == len(merged), "shard moments and features disagree"
    write_npz(
        out_features, features=merged, finite=np.concatenate(finite), nonfinite_excluded=excluded, **moments.to_npz()
    )
    return {"num_images": len(merged), "shards": len(parts), "nonfinite_excluded": excluded}
