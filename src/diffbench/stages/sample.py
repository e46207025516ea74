"""Sampling stages (workflow/rules/sample.smk): sample_shard, merge_samples."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
from PIL import Image

from diffbench.errors import ResultError
from diffbench.io import atomic_dir, fingerprint, write_npz
from diffbench.models.pipelines import load_model
from diffbench.records import SAMPLING, SAMPLING_SHARD, THROUGHPUT
from diffbench.runtime import device_info, peak_memory, reset_peak_memory, resolve_device, resolve_dtype
from diffbench.sampling.resume import BatchStore
from diffbench.sampling.sampler import flops_per_image, generate, step_noise_device, warm_up
from diffbench.sampling.schedulers import make_scheduler, sampler_config, step_kwargs, timesteps_of
from diffbench.sampling.throughput import sweep


def sample_shard(
    *,
    model_dir: str | Path,
    sampler: dict,
    steps: int,
    seeds: list[int],
    batch_size: int,
    step_noise: str,
    device: str,
    precision: str,
    out_images: str | Path,
    out_record: str | Path,
    batches_dir: str | Path | None = None,
) -> dict:
    """`batches_dir`: where finished batches are kept until the shard is written, so a killed job
    resumes (None: not kept)."""
    torch_device = resolve_device(device)
    dtype = resolve_dtype(precision, torch_device)
    model = load_model(model_dir).to(torch_device, dtype)
    template = make_scheduler(sampler, model.scheduler)
    store = None
    if batches_dir is not None:
        weights = sorted(Path(model_dir).rglob("*.safetensors"))
        settings = (sampler, steps, precision, torch_device.type, step_noise_device(step_noise, torch_device))
        store = BatchStore(batches_dir, fingerprint(*settings, files=weights))
    warm_up(model, min(batch_size, len(seeds)), torch_device, dtype)
    reset_peak_memory(torch_device)
    images, stats = generate(
        model,
        template,
        step_kwargs(sampler),
        steps,
        seeds,
        batch_size,
        torch_device,
        dtype,
        progress=True,
        store=store,
        step_noise=step_noise,
    )
    finite = stats.pop("finite")
    record = {
        "sampler": sampler,
        "scheduler_class": type(template).__name__,
        "scheduler_config": sampler_config(template),
        "timesteps": timesteps_of(template, steps),
        "steps": steps,
        "seed_first": seeds[0],
        "seed_last": seeds[-1],
        "batch_size": batch_size,
        "step_noise_on": step_noise_device(step_noise, torch_device),
        "precision": precision,
        "decoder_precision": str(model.decoder_dtype).removeprefix("torch.") if model.autoencoder else None,
        **stats,
        **peak_memory(torch_device),
        **flops_per_image(model, torch_device, dtype),
        **device_info(torch_device, device),
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_npz(out_images, images=images, seeds=np.asarray(seeds, dtype=np.int64), finite=finite)
    SAMPLING_SHARD.write(out_record, record)
    if store is not None:
        store.remove()
    return record


def sampling_throughput(
    *,
    model_dir: str | Path,
    model: str,
    family: str,
    max_batch: int,
    configured_batch: int,
    device: str,
    precision: str,
    out_record: str | Path,
) -> dict:
    """Seconds of one UNet evaluation and one decode per batch size (sampling/throughput.py)."""
    torch_device = resolve_device(device)
    dtype = resolve_dtype(precision, torch_device)
    timings, stopped = sweep(load_model(model_dir).to(torch_device, dtype), torch_device, dtype, max_batch)
    record = {
        "model": model,
        "family": family,
        "batch_sizes": [t.batch_size for t in timings],
        "unet_s": [t.unet_s for t in timings],
        "decode_s": [t.decode_s for t in timings],
        "stopped": stopped,
        "configured_batch": configured_batch,
        "precision": precision,
        **device_info(torch_device, device),
    }
    THROUGHPUT.write(out_record, record)
    return record


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
        "num_images": n,
        "seed_first": records[0]["seed_first"],
        "seed_last": records[-1]["seed_last"],
        "num_shards": len(records),
        "batch_size": first["batch_size"],
        # where the noise of stochastic steps was drawn (shards on different devices can differ)
        "step_noise_on": "+".join(sorted({r["step_noise_on"] for r in records})),
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
    if all("peak_gpu_memory_mb" in r for r in records):
        summary["peak_gpu_memory_mb"] = max(r["peak_gpu_memory_mb"] for r in records)
    return summary
