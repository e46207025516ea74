"""Result records: the keys each stage writes and later stages and the report read, defined once.

A stage writes its record with `KIND.write(path, record)`, which refuses a record lacking a key
of its kind; readers use `KIND.read(path)`, which names the file and the key when one is missing
or renamed (an old or foreign file), so a key can never silently become NaN in the report.
Records may hold more keys than their kind lists (device details, library settings); the kind
lists the keys something reads.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from diffbench.errors import ResultError
from diffbench.io import read_json, write_json
from diffbench.specs import EvaluationSpec


def feature_settings(evaluation: EvaluationSpec) -> dict:
    """The settings that define a result computed from features, carried by every such record."""
    return {
        "feature_extractor": evaluation.feature_extractor,
        "resize": evaluation.resize,
        "feature_channels_last": evaluation.channels_last,
        "features_key": evaluation.features_key,
    }


class RecordKind:
    def __init__(self, name: str, keys: Iterable[str], optional: Iterable[str] = ()):
        self.name = name
        self.keys = frozenset(keys)  # present in every record of this kind
        self.optional = frozenset(optional)  # present only sometimes (e.g. GPU memory on CUDA)

    @property
    def all_keys(self) -> frozenset[str]:
        return self.keys | self.optional

    def check(self, record: dict, path: str | Path) -> dict:
        missing = sorted(self.keys - set(record))
        if missing:
            raise ResultError(
                f"{path}: {self.name} record lacks key(s) {missing}; it was written by another version of "
                "diffbench or by hand. Delete it and rerun the rule that makes it."
            )
        return record

    def write(self, path: str | Path, record: dict) -> dict:
        write_json(path, self.check(record, path))
        return record

    def read(self, path: str | Path) -> dict:
        return self.check(read_json(path), path)


DEVICE = ("device", "device_name", "device_setting", "cpu_fallback", "cuda_visible_devices", "torch", "host")
LOOP = ("steps", "images_seen", "wall_time_s", "images_per_s", "stop_reason", "resumed_from_step", "checkpoint_s",
        "gflops_per_step", "train_gflops")  # fmt: skip

DATA_INFO = RecordKind("dataset info", ["dataset", "spec", "source_size", "skipped_files", "train", "heldout"])

DATASET_ASSETS = RecordKind("fetched dataset", ["dataset", "source", "split", "root", "images", "fetched_at"])
MODEL_ASSETS = RecordKind(
    "fetched model", ["model", "id", "revision", "kind", "path", "fetched_at"], optional=["commit", "files", "bytes"]
)
EVALUATION_ASSETS = RecordKind(
    "evaluation weights", ["feature_extractor", "feature_weights", "lpips_net", "lpips_backbone", "fetched_at"]
)

PERCEPTUAL_ASSETS = RecordKind("perceptual-loss backbone", ["lpips_net", "lpips_backbone", "fetched_at"])

AUTOENCODER_TRAINING = RecordKind(
    "autoencoder training",
    ["model", "stage", "autoencoder_type", "first_stage_loss", "downsampling_factor", "parameters", "scaling_factor",
     "scaling_s", "scaling_gflops", "precision", "budget_share", "budget", "final_loss", "peak_host_rss_mb",
     "finished_at", *LOOP, *DEVICE],
    optional=["peak_gpu_memory_mb", "peak_gpu_reserved_mb"],
)  # fmt: skip
TRAINING = RecordKind(
    "denoiser training",
    ["model", "stage", "family", "dataset", "source", "downsampling_factor", "parameters", "autoencoder_parameters",
     "noise_schedule", "denoiser_architecture", "precision", "final_loss", "peak_host_rss_mb", "finished_at",
     "budget_scope", "budget", "stage_seconds", "stage_gflops", "total_train_s", "total_train_gflops", "x0_range",
     *LOOP, *DEVICE],
    optional=["peak_gpu_memory_mb", "peak_gpu_reserved_mb", "scaling_factor"],
)  # fmt: skip
# One snapshot along training (training.milestones): where it stands in the budget and in each unit.
MILESTONE = RecordKind(
    "training milestone",
    ["model", "milestone", "unit", "index", "step", "images_seen", "denoiser_s", "denoiser_gflops", "total_train_s",
     "total_train_gflops", "ema_decay"],
)  # fmt: skip
PRETRAINED = RecordKind(
    "pretrained import",
    ["model", "stage", "family", "dataset", "source", "pretrained_id", "revision", "pretrained_commit",
     "downsampling_factor", "parameters", "autoencoder_parameters", "scaling_factor", "scheduler", "noise_schedule",
     "denoiser_architecture", "x0_range", "finished_at"],
)  # fmt: skip

SAMPLING_SHARD = RecordKind(
    "sampling shard",
    ["sampler", "scheduler_class", "scheduler_config", "timesteps", "x0_treatment", "steps", "seed_first", "seed_last",
     "batch_size",
     "step_noise_on", "speedups", "warmup_s", "precision", "decoder_precision", "num_images", "nfe_per_image",
     "denoise_s", "decode_s",
     "nonfinite_images", "resumed_images", "unet_gflops_per_nfe", "decoder_gflops", "peak_host_rss_mb", "finished_at",
     *DEVICE],
    optional=["peak_gpu_memory_mb", "peak_gpu_reserved_mb"],
)  # fmt: skip
SAMPLING = RecordKind(
    "sampling",
    ["model", "sampler", "steps", "sampler_type", "sampler_options", "scheduler_class", "scheduler_config",
     "timesteps", "x0_treatment", "num_images", "seed_first", "seed_last", "num_shards", "batch_size", "step_noise_on",
     "speedups",
     "warmup_s", "precision", "decoder_precision",
     "nfe_per_image", "denoise_s", "decode_s", "total_s", "seconds_per_image", "images_per_s", "decode_share",
     "unet_gflops_per_nfe", "decoder_gflops", "gflops_per_image", "nonfinite_images", "peak_host_rss_mb", "devices",
     "device", "device_name", "device_setting", "cpu_fallback"],
    optional=["peak_gpu_memory_mb", "peak_gpu_reserved_mb"],
)  # fmt: skip

THROUGHPUT = RecordKind(
    "sampling throughput",
    ["model", "family", "batch_sizes", "unet_s", "decode_s", "stopped", "configured_batch", "speedups", "precision",
     "device", "device_name", "device_setting", "cpu_fallback"],
)  # fmt: skip

RUN_KEY = ("dataset", "model", "family", "sampler", "sampler_type", "steps", "seed_first", "seed_last")
DISTRIBUTION = RecordKind(
    "distribution metrics",
    [*RUN_KEY, "feature_extractor", "resize", "feature_channels_last", "features_key", "reference_set", "n_generated",
     "n_nonfinite_excluded", "n_reference", "feature_dim", "fid", "fid_ci_low", "fid_ci_high", "fid_ci_level",
     "fid_ci_method", "fid_ci_groups", "fid_se", "fid_infinity", "fid_infinity_ci_low", "fid_infinity_ci_high",
     "fid_infinity_slope", "fid_infinity_sizes", "fid_infinity_values", "fid_infinity_hidden", "fid_infinity_min_size",
     "fid_sqrt_discarded",
     "kid", "kid_se", "kid_ci_low", "kid_ci_high", "kid_method", "kid_jackknife_replicates",
     "precision", "recall", "pr_n", "warnings"],
    optional=["milestone_of", "milestone"],  # a training milestone's snapshot (Experiment.run_key)
)  # fmt: skip
COMPARISON = RecordKind(
    "paired comparison",
    ["dataset", "model_a", "family_a", "model_b", "family_b", "sampler", "sampler_type", "steps", "seed_first",
     "seed_last", "reference_set", "n_generated", "n_reference", "statistic", "kid_a", "kid_b", "difference",
     "ci_low", "ci_high", "ci_level", "ci_method", "ci_groups", "se", "p_value", "jackknife_replicates", "better",
     "fid_a", "fid_b",
     "fid_difference", "fid_ci_low", "fid_ci_high"],
)  # fmt: skip
LPIPS = RecordKind(
    "LPIPS metrics",
    [*RUN_KEY, "lpips_net", "lpips_diversity_mean", "lpips_diversity_std", "lpips_diversity_pairs",
     "lpips_convergence_mean", "lpips_convergence_std", "convergence_reference_steps", "n_nonfinite_excluded"],
)  # fmt: skip
RECONSTRUCTION = RecordKind(
    "reconstruction metrics",
    ["model", "feature_extractor", "resize", "feature_channels_last", "features_key", "autoencoder", "psnr_db", "ssim",
     "num_images", "lpips_net", "lpips_mean", "rfid", "rfid_independent", "rkid", "rkid_ci_low", "rkid_ci_high",
     "independent_n", "independent_set", "warnings"],
)  # fmt: skip

# Human evaluation (humaneval/): the study made by the DAG and the scores of its answer files.
HUMAN_STUDY = RecordKind(
    "human evaluation study",
    ["study", "trials_sha256", "trials", "truth", "runs", "settings", "reference_set", "page"],
)
HUMAN_SCORES = RecordKind(
    "human evaluation scores",
    [
        "study",
        "trials_sha256",
        "runs",
        "differences",
        "raters",
        "raters_excluded",
        "files_rejected",
        "agreement",
        "settings",
    ],
)
