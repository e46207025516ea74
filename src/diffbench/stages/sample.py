"""Sampling stages (workflow/rules/sample.smk): sample_shard, sampling_throughput (merge_samples: merge.py)."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from diffbench.io import fingerprint, write_npz
from diffbench.records import SAMPLING_SHARD, THROUGHPUT
from diffbench.runtime import device_info, peak_memory, reset_peak_memory, resolve_device, use_precision
from diffbench.sampling.pipeline_io import load_model
from diffbench.sampling.resume import BatchStore
from diffbench.sampling.sampler import batch_sizes_of, flops_per_image, generate, warm_up
from diffbench.sampling.schedulers import Sampler
from diffbench.sampling.speedups import apply_speedups, warm_up_calls
from diffbench.sampling.throughput import sweep
from diffbench.specs import ShardJob, SpeedupsSpec


def sample_shard(
    *,
    model_dir: str | Path,
    job: ShardJob | dict,
    device: str,
    precision: str,
    out_images: str | Path,
    out_record: str | Path,
    batches_dir: str | Path | None = None,
) -> dict:
    """`batches_dir`: where finished batches are kept until the shard is written, so a killed job
    resumes (None: not kept)."""
    job = ShardJob.of(job)
    torch_device = resolve_device(device)
    dtype = use_precision(precision, torch_device)
    model = load_model(model_dir).to(torch_device, dtype)
    flops = flops_per_image(model, torch_device, dtype)  # counted on the plain model, before compiling
    speedups_on = apply_speedups(model, job.speedups)
    on_model = Sampler.of(job.sampler, model.scheduler, job.step_noise)
    noise_on = on_model.noise_on(torch_device)
    store = None
    if batches_dir is not None:
        weights = sorted(Path(model_dir).rglob("*.safetensors"))
        settings = (job.sampler.as_dict(), job.steps, precision, torch_device.type, noise_on, speedups_on)
        store = BatchStore(batches_dir, fingerprint(*settings, files=weights))
    seeds = list(job.seeds)
    batch_sizes = batch_sizes_of(len(seeds), job.batch_size)
    warmup_s = warm_up(model, on_model, job.steps, batch_sizes, torch_device, dtype, warm_up_calls(job.speedups))
    reset_peak_memory(torch_device)
    images, stats = generate(
        model,
        on_model,
        job.steps,
        seeds,
        job.batch_size,
        torch_device,
        dtype,
        progress=True,
        store=store,
    )
    finite = stats.pop("finite")
    record = {
        "sampler": job.sampler.as_dict(),
        **on_model.record(job.steps, torch_device),
        "steps": job.steps,
        "seed_first": seeds[0],
        "seed_last": seeds[-1],
        "batch_size": job.batch_size,
        "speedups": speedups_on,
        "warmup_s": warmup_s,  # untimed in denoise_s/decode_s: kernel selection, compilation
        "precision": precision,
        "decoder_precision": str(model.decoder_dtype).removeprefix("torch.") if model.autoencoder else None,
        **stats,
        **peak_memory(torch_device),
        **flops,
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
    speedups: SpeedupsSpec | dict,
    device: str,
    precision: str,
    out_record: str | Path,
) -> dict:
    """Seconds of one UNet evaluation and one decode per batch size (sampling/throughput.py), with the
    speedups that sampling uses."""
    speedups = SpeedupsSpec.of(speedups)
    torch_device = resolve_device(device)
    dtype = use_precision(precision, torch_device)
    network = load_model(model_dir).to(torch_device, dtype)
    speedups_on = apply_speedups(network, speedups)
    timings, stopped = sweep(network, torch_device, dtype, max_batch)
    record = {
        "model": model,
        "family": family,
        "batch_sizes": [t.batch_size for t in timings],
        "unet_s": [t.unet_s for t in timings],
        "decode_s": [t.decode_s for t in timings],
        "stopped": stopped,
        "configured_batch": configured_batch,
        "speedups": speedups_on,
        "precision": precision,
        **device_info(torch_device, device),
    }
    THROUGHPUT.write(out_record, record)
    return record
