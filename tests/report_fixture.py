"""A results tree as the jobs write it, through the record kinds of diffbench.records, for the
report's tests (no models needed)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import scipy.stats

from diffbench.config import validate_config
from diffbench.experiment import Experiment
from diffbench.io import write_npz
from diffbench.metrics.kid import METHOD as KID_METHOD
from diffbench.metrics.kid import PAIRED_METHOD as PAIRED_KID_METHOD
from diffbench.paths import Layout
from diffbench.records import (
    AUTOENCODER_TRAINING,
    COMPARISON,
    DATA_INFO,
    DISTRIBUTION,
    LPIPS,
    MILESTONE,
    PRETRAINED,
    RECONSTRUCTION,
    SAMPLING,
    THROUGHPUT,
    TRAINING,
)
from diffbench.specs import TrainingSpec
from diffbench.training.budget import Budget
from helpers import typed_spec

# FID and seconds/image per (model, steps): the latent model is cheaper per step; the pixel model
# is best when time does not matter. Hand-checked frontier: latent 5, 10, 20 and pixel 20.
FID = {
    ("pixel", 5): 80.0,
    ("pixel", 10): 50.0,
    ("pixel", 20): 40.0,
    ("latent_f4", 5): 60.0,
    ("latent_f4", 10): 45.0,
    ("latent_f4", 20): 44.0,
}
SECONDS = {
    ("pixel", 5): 0.01,
    ("pixel", 10): 0.02,
    ("pixel", 20): 0.04,
    ("latent_f4", 5): 0.004,
    ("latent_f4", 10): 0.008,
    ("latent_f4", 20): 0.016,
}


def fixture_config(
    root,
    seeds=None,
    pretrained_pixel: str | None = None,
    human_eval: dict | None = None,
    milestones: bool = False,
    reference: str = "heldout",
    seeded: tuple[str, ...] = ("pixel", "latent_f4"),
) -> dict:
    """Two models (with training.seeds replicates when `seeds` is given, of the `seeded` ones; the pixel one the public
    checkpoint `pretrained_pixel` when given), three step counts; `human_eval`: a study;
    `milestones`: both models budgeted in GFLOPs and evaluated along training (MILESTONE_KID);
    `reference`: evaluation.reference."""
    config = {
        "results_dir": str(root / "results"),
        "datasets": {"shapes": {"source": "synthetic", "resolution": 8, "num_train": 16, "num_reference": 8}},
        "models": {
            "pixel": {"dataset": "shapes", "family": "pixel"},
            "latent_f4": {
                "dataset": "shapes",
                "family": "latent",
                "autoencoder": {"type": "kl", "downsampling_factor": 4},
            },
        },
        "sampling": {"samplers": {"ddim": {"type": "ddim"}}, "steps": [5, 10, 20], "num_samples": 6, "seed": 3},
        "evaluation": {"interval_groups": 3, "reference": reference},
        "report": {"grid_seeds": 4, "static_formats": []},
        "human_eval": human_eval,
    }
    if seeds:
        for name in seeded:
            config["models"][name]["training"] = {"seeds": seeds}
    if pretrained_pixel:
        config["models"]["pixel"].update(source="pretrained", pretrained={"id": pretrained_pixel})
    if milestones:
        for spec in config["models"].values():
            spec["training"] = {"max_steps": None, "max_gflops": 1000.0, "milestones": list(MILESTONE_KID)}
        config["models"]["latent_f4"]["autoencoder"]["training"] = {"max_steps": None, "budget_share": 0.2}
    return validate_config(config)


# KID at each milestone (total training GFLOPs) at the milestone setting (ddim, 20 steps); the final
# models' are FID / 1000 at 20 steps (pixel 0.04 at 320 GFLOPs, latent 0.044 at 425): latent is
# better early on, pixel at the end.
MILESTONE_KID = {210.0: {"pixel": 0.09, "latent_f4": 0.07}, 280.0: {"pixel": 0.06, "latent_f4": 0.05}}


DEVICE = {
    "device": "cpu",
    "device_name": "x86_64",
    "device_setting": "auto",
    "cpu_fallback": True,
    "cuda_visible_devices": "unset",
    "torch": "2.x",
    "host": "test",
}
LOOP = {
    "steps": 100,
    "images_seen": 3200,
    "wall_time_s": 60.0,
    "images_per_s": 53.3,
    "stop_reason": "max_steps",
    "resumed_from_step": 0,
    "checkpoint_s": 0.0,
    "kept_states_s": 0.0,
    "batch_size": 32,
    "learning_rate": 1e-3,
    "seed": 0,
    "gflops_per_step": 3.2,
    "train_gflops": 320.0,
    "final_loss": 0.1,
    "peak_host_rss_mb": 800.0,
    "finished_at": "2026-11-22T10:00:00+0000",
}


def stage_costs(latent: bool) -> dict:
    """What train_diffusion records: every stage's seconds and GFLOPs and their sums."""
    seconds = {"autoencoder": 20.0, "scaling_factor": 1.0, "encoding": 2.0} if latent else {}
    gflops = {"autoencoder": 100.0, "scaling_factor": 2.0, "encoding": 3.0} if latent else {}
    budget = Budget.for_denoiser(
        typed_spec(TrainingSpec, max_steps=None, max_gflops=1000.0),
        "total",
        sum(seconds.values()),
        sum(gflops.values()),
    )
    seconds["denoiser"], gflops["denoiser"] = LOOP["wall_time_s"], LOOP["train_gflops"]
    return {"budget_scope": "total", "budget": budget.describe(), "stage_seconds": seconds, "stage_gflops": gflops,
            "total_train_s": sum(seconds.values()), "total_train_gflops": sum(gflops.values())}  # fmt: skip


def write_results(config: dict) -> None:
    """A results tree written through the record kinds the stages write with (diffbench.records),
    so every key the report reads is one a stage writes."""
    layout = Layout(config["results_dir"])
    fids = {}
    DATA_INFO.write(
        layout.data_info("shapes"),
        {
            "dataset": "shapes",
            "spec": config["datasets"]["shapes"],
            "source_size": 40,
            "train": {},
            "heldout": {},
            "skipped_files": ["data/shapes/broken.png: cannot identify image file"],
        },
    )
    write_npz(layout.heldout_images("shapes"), images=np.full((6, 8, 8, 3), 77, np.uint8), source_indices=np.arange(6))
    for model, spec in config["models"].items():
        latent = spec["family"] == "latent"
        if spec["source"] == "pretrained":
            PRETRAINED.write(
                layout.training_record(model),
                {
                    "model": model,
                    "stage": "pretrained",
                    "family": spec["family"],
                    "dataset": "shapes",
                    "source": "pretrained",
                    "pretrained_id": spec["pretrained"]["id"],
                    "revision": "main",
                    "pretrained_commit": "0" * 40,
                    "downsampling_factor": 1,
                    "parameters": 1000,
                    "autoencoder_parameters": 0,
                    "scaling_factor": None,
                    "scheduler": "DDPMScheduler",
                    "noise_schedule": "linear 0.0001->0.02, T=1000, epsilon",
                    "denoiser_architecture": "UNet2DModel [128, 256], 2 layers/block",
                    "x0_range": 1.0,
                    "unet_input": [3, 8, 8],
                    "finished_at": "2026-11-22T10:00:00+0000",
                },
            )
        else:
            write_training(layout, model, latent)
            for record in milestone_records(model, spec, latent):
                MILESTONE.write(layout.milestone_record(model, record["milestone"]), record)
        for steps_ in config["sampling"]["steps"]:
            write_run(config, layout, model, spec, steps_, fids)
        for name in Experiment.of(config).milestones(model):
            write_distribution(config, layout, f"{model}@{name}", 20, 1000 * MILESTONE_KID[float(name)][model])
        write_throughput(config, layout, model, spec)

    for pair in Experiment.of(config).comparisons():
        a, b, steps_ = pair.model_a, pair.model_b, pair.steps
        write_comparison(config, steps_, fids[(a, steps_)] - fids[(b, steps_)], 3.0, a, b, fids[(a, steps_)])


# The largest |value| of the fixture latent model's scaled training latents, where its samplers clamp x0.
LATENT_RANGE = 4.25


def milestone_records(model: str, spec: dict, latent: bool) -> list[dict]:
    """What milestone_snapshot records of each milestone (total scope: the first stage counts)."""
    first = 105.0 if latent else 0.0  # stage_costs' first-stage GFLOPs
    return [
        {"model": model, "milestone": value, "unit": "GFLOPs", "step": int((value - first) / 3.2),
         "images_seen": 32 * int((value - first) / 3.2), "denoiser_s": (value - first) / 5.3,
         "denoiser_gflops": value - first, "total_train_s": value / 5, "total_train_gflops": value,
         "ema_decay": 0.999, "trained_from": None, "replayed_steps": int((value - first) / 3.2), "replay_s": 1.0,
         "device": "cpu"}
        for value in spec["training"]["milestones"] or []
    ]  # fmt: skip


def write_training(layout: Layout, model: str, latent: bool) -> None:
    TRAINING.write(
        layout.training_record(model),
        {
            "model": model,
            "stage": "diffusion",
            "family": "latent" if latent else "pixel",
            "dataset": "shapes",
            "source": "train",
            "downsampling_factor": 4 if latent else 1,
            "parameters": 1000,
            "autoencoder_parameters": 500 if latent else 0,
            "noise_schedule": "scaled_linear 0.0015->0.0195, T=1000, epsilon",
            "noise_levels": "uniform timesteps",
            "denoiser_architecture": "UNet2DModel [32, 64], 1 layers/block, DownBlock/DownBlock",
            "x0_range": LATENT_RANGE if latent else 1.0,
            "precision": "fp32",
            "kept_states": [],
            "ema_decay": 0.999,
            "unet_input": [4, 2, 2] if latent else [3, 8, 8],
            **LOOP,
            **stage_costs(latent),
            **DEVICE,
        },
    )
    steps = np.arange(1, 101)
    pd.DataFrame(
        {
            "step": steps,
            "loss": 1 / steps,
            "learning_rate": 1e-3,
            "images_seen": 32 * steps,
            "elapsed_s": 0.6 * steps,
        }
    ).to_csv(layout.training_loss(model), index=False)
    if latent:
        AUTOENCODER_TRAINING.write(
            layout.autoencoder_record(model),
            {
                "model": model,
                "stage": "autoencoder",
                "autoencoder_type": "kl",
                "first_stage_loss": "L1 + 1 LPIPS-vgg + 1e-06 KL",
                "downsampling_factor": 4,
                "latent_channels": 4,
                "parameters": 500,
                "scaling_factor": 0.5,
                "scaling_s": 1.0,
                "scaling_gflops": 2.0,
                "precision": "fp32",
                "budget_share": None,
                "budget": Budget(100, None, None).describe(),
                **LOOP,
                "steps": 50,
                "wall_time_s": 20.0,
                "train_gflops": 100.0,
                "final_loss": 2.0,
                **DEVICE,
            },
        )
        pd.DataFrame(
            {
                "step": steps,
                "loss": 10 / steps,
                "reconstruction": 10 / steps,
                "kl": 0.1,
                "learning_rate": 1e-3,
                "images_seen": 32 * steps,
                "elapsed_s": 0.2 * steps,
            }
        ).to_csv(layout.autoencoder_loss(model), index=False)
        # D(E(x)) of the held-out images (77 everywhere): a level off, as a first stage would be
        write_npz(layout.reconstruction_examples(model), images=np.full((6, 8, 8, 3), 80, np.uint8))
        RECONSTRUCTION.write(
            layout.reconstruction_metrics(model),
            {
                "model": model,
                "feature_extractor": "inception-v3-compat",
                "resize": "tf-bilinear",
                "feature_channels_last": True,
                "feature_fold_batch_norm": True,
                "features_key": "inception-v3-compat",
                "autoencoder": "AutoencoderKL",
                "num_images": 8,
                "lpips_net": "alex",
                "lpips_mean": 0.05,
                "psnr_db": 25.0,
                "ssim": 0.8,
                "ssim_window": 7,
                "lpips_side": 64,
                "rfid": 12.0,
                "rfid_independent": 30.0,
                "rkid": 0.02,  # the runs' KIDs are FID / 1000 +- 0.003: 0.044-0.06
                "rkid_ci_low": 0.015,
                "rkid_ci_high": 0.025,
                "independent_n": 6,
                "independent_set": "train",
                "warnings": ["only 8 samples for 2048-dimensional features"],
            },
        )


def write_run(config: dict, layout: Layout, model: str, spec: dict, steps_: int, fids: dict) -> None:
    latent = spec["family"] == "latent"
    key, keys = (spec["replicate_of"] or model, steps_), (model, "ddim", steps_)
    # Replicates (training.seeds 1 and 2) land 1 below and 1 above the model's FID.
    fid = fids[(model, steps_)] = FID[key] + (2 * spec["training"]["seed"] - 3 if spec["replicate_of"] else 0)
    run = Experiment.of(config).run_key(model, "ddim", steps_)
    rng = np.random.default_rng(steps_)
    images = rng.integers(0, 256, (6, 8, 8, 3), dtype=np.uint8)
    write_npz(layout.samples(*keys), images=images, seeds=np.arange(3, 9), finite=np.ones(6, dtype=bool))
    SAMPLING.write(
        layout.sampling_record(*keys),
        {
            "model": model,
            "sampler": "ddim",
            "steps": steps_,
            "sampler_type": "ddim",
            "sampler_options": {},
            "scheduler_class": "DDIMScheduler",
            "scheduler_config": {"timestep_spacing": "trailing"},
            "timesteps": list(range(999, 0, -1000 // steps_))[:steps_],
            "x0_treatment": {"kind": "clip", "limit": LATENT_RANGE if latent else 1.0},  # each at its data's range
            "num_images": 6,
            "seed_first": 3,
            "seed_last": 8,
            "num_shards": 1,
            "batch_size": 6,
            "step_noise_on": "cpu",
            "speedups": "none",
            "warmup_s": 0.5,
            "precision": "fp32",
            "decoder_precision": "float32" if latent else None,
            "nfe_per_image": steps_,
            "denoise_s": 0.05,
            "decode_s": 0.01 if latent else 0.0,
            "total_s": 6 * SECONDS[key],
            "seconds_per_image": SECONDS[key],
            "images_per_s": 1 / SECONDS[key],
            "decode_share": 0.2 if latent else 0.0,
            "unet_gflops_per_nfe": 0.1 if latent else 0.4,
            "decoder_gflops": 0.05 if latent else 0.0,
            "gflops_per_image": steps_ * (0.1 if latent else 0.4),
            "nonfinite_images": 0,
            "peak_host_rss_mb": 700.0,
            "devices": ["cpu:x86_64"],
            **{key: DEVICE[key] for key in ("device", "device_name", "device_setting", "cpu_fallback")},
        },
    )
    write_distribution(config, layout, model, steps_, fid)
    LPIPS.write(
        layout.lpips_metrics(*keys),
        {
            **run,
            "lpips_net": "alex",
            "lpips_side": 64,
            "lpips_diversity_mean": 0.3 if latent else 0.2,
            "lpips_diversity_std": 0.05,
            "lpips_diversity_pairs": 15,
            "lpips_convergence_mean": 0.0 if steps_ == 20 else 0.1,
            "lpips_convergence_std": 0.01,
            "lpips_convergence_pairs": 6,
            "convergence_reference_steps": 20,
            "n_nonfinite_excluded": 0,
        },
    )


def write_distribution(config: dict, layout: Layout, model: str, steps_: int, fid: float) -> None:
    """distribution_metrics' record of a run (or a milestone snapshot's, model@milestone) with this
    FID; its KID is FID / 1000 +- 0.003."""
    DISTRIBUTION.write(
        layout.distribution_metrics(model, "ddim", steps_),
        {
            **Experiment.of(config).run_key(model, "ddim", steps_),
            "feature_extractor": "inception-v3-compat",
            "resize": "tf-bilinear",
            "feature_channels_last": True,
            "feature_fold_batch_norm": True,
            "features_key": "inception-v3-compat",
            "reference_set": config["evaluation"]["reference"],
            "n_generated": 6,
            "n_nonfinite_excluded": 0,
            "n_reference": 8,
            "feature_dim": 2048,
            "fid": fid,
            "fid_ci_low": fid - 2,
            "fid_ci_high": fid + 2,
            "fid_ci_level": 0.95,
            "fid_ci_method": "delete-a-group jackknife",
            "fid_ci_groups": 3,
            "fid_se": 0.5,
            "fid_infinity": fid - 10,
            "fid_infinity_ci_low": fid - 15,
            "fid_infinity_ci_high": fid - 5,
            "fid_infinity_slope": 60.0,
            "fid_infinity_sizes": [3, 6],
            "fid_infinity_values": [fid + 10, fid],
            "fid_sqrt_discarded": 0.0,
            "fid_infinity_hidden": None,
            "fid_infinity_min_size": 0,  # computed at any size (evaluation.fid_infinity_min_ratio: 0)
            "kid": fid / 1000,
            "kid_se": 0.001,
            "kid_ci_low": fid / 1000 - 0.003,
            "kid_ci_high": fid / 1000 + 0.003,
            "kid_method": KID_METHOD,
            "kid_jackknife_replicates": [fid / 1000 + d for d in (-0.001, 0.0, 0.001)],
            "precision": 0.5,
            "recall": 0.4,
            "f_score": 0.44,
            "pr_k": 3,
            "pr_n": 6,
            "warnings": ["only 6 samples for 2048-dimensional features: the covariance is singular"],
        },
    )


def write_comparison(config, steps, difference, half_width, a="latent_f4", b="pixel", fid_a=None) -> None:
    """a vs b at (ddim, steps), as compare_runs writes it, with a given FID difference and interval; the
    KIDs, their difference and its interval are the FID values / 1000 (as the fixture's runs' KIDs)."""
    low, high = difference - half_width, difference + half_width
    better = a if high < 0 else b if low > 0 else None
    se = half_width / 4.3  # t_2 quantile of a 95 % interval from 3 groups
    p_value = float(2 * scipy.stats.t.sf(abs(difference) / se, 2)) if difference else 1.0
    fid_a = FID[(a, steps)] if fid_a is None else fid_a
    COMPARISON.write(
        Layout(config["results_dir"]).comparison(a, b, "ddim", steps),
        {
            **{
                k: v for k, v in Experiment.of(config).run_key(a, "ddim", steps).items() if k not in {"model", "family"}
            },
            "model_a": a,
            "family_a": "latent",
            "model_b": b,
            "family_b": "pixel",
            "feature_extractor": "inception-v3-compat",
            "resize": "tf-bilinear",
            "feature_channels_last": True,
            "feature_fold_batch_norm": True,
            "features_key": "inception-v3-compat",
            "reference_set": config["evaluation"]["reference"],
            "n_generated": 6,
            "n_reference": 8,
            "statistic": "KID",
            "kid_a": fid_a / 1000,
            "kid_b": (fid_a - difference) / 1000,
            "difference": difference / 1000,
            "ci_low": low / 1000,
            "ci_high": high / 1000,
            "ci_level": 0.95,
            "ci_method": PAIRED_KID_METHOD,
            "ci_groups": 3,
            "se": se / 1000,
            "p_value": p_value,
            # leave-one-group-out values whose jackknife standard error is `se` (3 groups, +-se sqrt(3) / 2)
            "jackknife_replicates": [(difference + k * se * np.sqrt(3) / 2) / 1000 for k in (-1, 0, 1)],
            "fid_a": fid_a,
            "fid_b": fid_a - difference,
            "fid_difference": difference,
            "fid_ci_low": low,
            "fid_ci_high": high,
            "better": better,
        },
    )


def write_throughput(config: dict, layout: Layout, model: str, spec: dict) -> None:
    """A batch sweep where per-image UNet time falls with the batch up to 4 (10, 6, 4, 4 ms) and
    latent decoding costs 2 ms per image: at 20 NFE the best batch is 4; the configured one (64) was not timed."""
    latent = spec["family"] == "latent"
    THROUGHPUT.write(
        layout.throughput(model),
        {
            "model": model,
            "family": spec["family"],
            "batch_sizes": [1, 2, 4, 8],
            "unet_s": [0.010, 0.012, 0.016, 0.032],
            "decode_s": [0.002 * b if latent else 0.0 for b in (1, 2, 4, 8)],
            "stopped": "out of memory at batch 16",
            "configured_batch": config["sampling"]["batch_size"],
            "speedups": "none",
            "precision": "fp32",
            **DEVICE,
        },
    )
