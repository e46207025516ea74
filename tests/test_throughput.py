"""Sampling throughput over batch sizes (sampling/throughput.py) and its columns in the runs table."""

from __future__ import annotations

import math

import pytest
import torch
from diffusers import DDPMScheduler

from diffbench.experiment import Experiment
from diffbench.models.diffusion_model import DiffusionModel
from diffbench.report.findings import summary
from diffbench.report.tables import collect, throughput_columns
from diffbench.sampling import throughput
from diffbench.sampling.batch_timing import BatchTiming, batch_sizes, best
from diffbench.sampling.throughput import sweep
from helpers import tiny_unet, tiny_vq
from report_fixture import fixture_config, write_results

CPU = torch.device("cpu")


def test_batch_sizes_double_up_to_the_limit():
    assert batch_sizes(1) == [1] and batch_sizes(8) == [1, 2, 4, 8] and batch_sizes(6) == [1, 2, 4, 6]


@pytest.mark.parametrize("family", ["pixel", "latent"])
def test_the_sweep_times_every_batch_size(family):
    torch.manual_seed(0)
    scheduler = DDPMScheduler(num_train_timesteps=10)
    if family == "pixel":
        model = DiffusionModel(tiny_unet(), scheduler).to(CPU)
    else:
        vq = tiny_vq()
        vq.register_to_config(scaling_factor=0.7)
        model = DiffusionModel(tiny_unet(2, 4), scheduler, vq).to(CPU)
    timings, stopped = sweep(model, CPU, torch.float32, max_batch=4)
    assert [t.batch_size for t in timings] == [1, 2, 4] and stopped == "max_batch 4"
    assert all(t.unet_s > 0 for t in timings)
    assert all((t.decode_s > 0) == (family == "latent") for t in timings)


def test_the_sweep_stops_at_the_first_batch_that_does_not_fit(monkeypatch):
    def fake(model, batch, device, dtype, repeats):
        if batch >= 8:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory")
        return BatchTiming(batch, 0.01 * batch, 0.0)

    monkeypatch.setattr(throughput, "time_batch", fake)
    timings, stopped = sweep(None, CPU, torch.float32, max_batch=64)
    assert [t.batch_size for t in timings] == [1, 2, 4] and stopped == "out of memory at batch 8"


def test_the_best_batch_depends_on_the_steps():
    """A decode that is cheap per image only at large batches pays off at few steps."""
    small = BatchTiming(2, unet_s=0.010, decode_s=0.100)  # 2 images: 0.1 s decode
    large = BatchTiming(8, unet_s=0.050, decode_s=0.080)  # 8 images: per-image UNet dearer
    assert best([small, large], nfe=1) is large  # 8 / 0.13 = 61.5 > 2 / 0.11 = 18.2
    assert best([small, large], nfe=100) is small  # 2 / 1.1 = 1.82 > 8 / 5.08 = 1.57
    assert large.images_per_s(1) == pytest.approx(8 / 0.13)


def test_the_runs_table_shows_the_best_batch_beside_the_configured_one(tmp_path):
    config = fixture_config(tmp_path)
    write_results(config)
    tables = collect(Experiment.of(config))
    assert (
        "Throughput at the best batch (UNet evaluations and decode, sampling.throughput_max_batch): pixel at 20 "
        "NFE 12.5 img/s with batch 4 (configured batch 64: not in the sweep); latent_f4 at 20 NFE "
        in " ".join(summary(tables.runs, tables.models, tables.comparisons))
    )
    runs = tables.runs.set_index(["model", "steps"])
    # pixel at 20 NFE: 10, 6, 4, 4 ms per image of UNet -> batch 4 (the first of the tie), 4 / 0.32 s
    pixel = runs.loc[("pixel", 20)]
    assert pixel.throughput_best_batch == 4 and pixel.throughput_best_images_per_s == pytest.approx(12.5)
    assert pixel.throughput_configured_batch == 64 and math.isnan(pixel.throughput_configured_images_per_s)
    assert pixel.throughput_sweep_stopped == "out of memory at batch 16"
    record = {"batch_sizes": [4], "unet_s": [0.016], "decode_s": [0.008], "configured_batch": 4, "stopped": "x"}
    assert throughput_columns(record, 20)["throughput_configured_images_per_s"] == pytest.approx(4 / 0.328)
