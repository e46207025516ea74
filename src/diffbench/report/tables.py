"""Tidy tables of every result file: one row per run, one row per model, training curves.

Columns carry their unit in the name (`_s`, `_mb`, `_gflops`, `_db`). A result file that is
missing (a failed or not yet run job) leaves NaN in its columns and is listed in `missing`, so a
report can be built from a partial run and says what it lacks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from diffbench.experiment import Experiment
from diffbench.io import atomic_path
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
    TRAINING_STAGES,
    RecordKind,
)
from diffbench.report.outputs import result_files
from diffbench.report.published import PUBLISHED_COLUMNS
from diffbench.sampling.batch_timing import BatchTiming, best

RUN_KEY = ["dataset", "model", "family", "downsampling_factor", "sampler", "sampler_type", "steps"]
# The model's training cost and its autoencoder's rFID (the floor its FID can reach), repeated on
# each of its runs so one row tells the whole story.
MODEL_COLUMNS_IN_RUNS = [
    "replicate_of",
    "training_seed",
    "reconstruction_rfid",
    "reconstruction_rfid_independent",
    "reconstruction_rkid",
    "reconstruction_rkid_ci_low",
    "reconstruction_rkid_ci_high",
    "reconstruction_independent_n",
    "total_train_s",
    "total_train_gflops",
    "budget_scope",
    "unet_train_images_seen",
    "unet_parameters",
    "autoencoder_parameters",
    "train_device",
    "train_precision",
    "train_cpu_fallback",
]

# (record, its key -> our column). Renaming here is the single place units enter column names.
SAMPLING_COLUMNS = {
    "nfe_per_image": "nfe",
    "num_images": "n_samples",
    "seed_first": "seed_first",
    "seed_last": "seed_last",
    "num_shards": "num_shards",
    "step_noise_on": "step_noise_on",
    "speedups": "sampling_speedups",
    "warmup_s": "sampling_warmup_s",
    "seconds_per_image": "sampling_s_per_image",
    "images_per_s": "sampling_images_per_s",
    "denoise_s": "sampling_denoise_s",
    "decode_s": "sampling_decode_s",
    "decode_share": "sampling_decode_share",
    "peak_gpu_memory_mb": "sampling_peak_gpu_memory_mb",
    "peak_gpu_reserved_mb": "sampling_peak_gpu_reserved_mb",
    "peak_host_rss_mb": "sampling_peak_host_rss_mb",
    "unet_gflops_per_nfe": "unet_gflops_per_nfe",
    "decoder_gflops": "decoder_gflops",
    "gflops_per_image": "sampling_gflops_per_image",
    "nonfinite_images": "nonfinite_images",
    "device": "sampling_device",
    "device_name": "sampling_device_name",
    "cpu_fallback": "sampling_cpu_fallback",
    "precision": "sampling_precision",
}
DISTRIBUTION_COLUMNS = {
    "feature_extractor": "feature_extractor",
    "resize": "resize",
    "feature_channels_last": "feature_channels_last",
    "feature_fold_batch_norm": "feature_fold_batch_norm",
    "feature_dim": "feature_dim",
    "reference_set": "reference",
    "n_reference": "n_reference",
    "fid": "fid",
    "fid_ci_low": "fid_ci_low",
    "fid_ci_high": "fid_ci_high",
    "fid_ci_level": "fid_ci_level",
    "fid_ci_method": "fid_ci_method",
    "fid_infinity": "fid_infinity",
    "fid_infinity_ci_low": "fid_infinity_ci_low",
    "fid_infinity_ci_high": "fid_infinity_ci_high",
    "fid_infinity_slope": "fid_infinity_slope",
    "fid_infinity_min_size": "fid_infinity_min_size",
    "kid": "kid",
    "kid_se": "kid_se",
    "kid_ci_low": "kid_ci_low",
    "kid_ci_high": "kid_ci_high",
    "precision": "precision",
    "recall": "recall",
    "pr_n": "pr_n",
}
# One row per paired comparison (a latent model against a pixel model at one sampler and steps).
COMPARISON_COLUMNS = {
    key: key
    for key in ("dataset", "model_a", "family_a", "model_b", "family_b", "sampler", "steps", "n_generated",
                "reference_set", "n_reference", "statistic", "kid_a", "kid_b", "difference", "ci_low", "ci_high",
                "ci_level", "ci_method", "ci_groups", "se", "p_value", "jackknife_replicates", "better", "fid_a",
                "fid_b", "fid_difference", "fid_ci_low", "fid_ci_high")
}  # fmt: skip
LPIPS_COLUMNS = {
    "lpips_net": "lpips_net",
    "lpips_diversity_mean": "lpips_diversity",
    "lpips_diversity_std": "lpips_diversity_std",
    "lpips_convergence_mean": "lpips_convergence",
    "lpips_convergence_std": "lpips_convergence_std",
    "convergence_reference_steps": "lpips_convergence_reference_steps",
}
RECONSTRUCTION_COLUMNS = {
    "autoencoder": "autoencoder_class",
    "num_images": "reconstruction_n_images",
    "lpips_mean": "reconstruction_lpips",
    "psnr_db": "reconstruction_psnr_db",
    "ssim": "reconstruction_ssim",
    "rfid": "reconstruction_rfid",
    "rfid_independent": "reconstruction_rfid_independent",
    "rkid": "reconstruction_rkid",
    "rkid_ci_low": "reconstruction_rkid_ci_low",
    "rkid_ci_high": "reconstruction_rkid_ci_high",
    "independent_n": "reconstruction_independent_n",
}


# A model's row, from its training record (a trained model's; a pretrained import's holds the
# keys of PRETRAINED_COLUMNS) and its autoencoder's.
TRAINING_COLUMNS = {
    "downsampling_factor": "downsampling_factor",
    "parameters": "unet_parameters",
    "autoencoder_parameters": "autoencoder_parameters",
    "steps": "unet_train_steps",
    "images_seen": "unet_train_images_seen",
    "wall_time_s": "unet_train_wall_time_s",
    "images_per_s": "unet_train_images_per_s",
    "final_loss": "unet_final_loss",
    "device": "train_device",
    "device_name": "train_device_name",
    "cpu_fallback": "train_cpu_fallback",
    "precision": "train_precision",
    "peak_gpu_memory_mb": "train_peak_gpu_memory_mb",
    "peak_gpu_reserved_mb": "train_peak_gpu_reserved_mb",
    "peak_host_rss_mb": "train_peak_host_rss_mb",
    "finished_at": "train_finished_at",
    "noise_schedule": "noise_schedule",
    "noise_levels": "noise_levels",  # the levels training drew (diffusion.timestep_sampling)
    "denoiser_architecture": "denoiser_architecture",
    "x0_range": "x0_data_range",  # what the samplers' x0 clamp is held against
    "budget_scope": "budget_scope",
    "total_train_s": "total_train_s",
    "total_train_gflops": "total_train_gflops",
}
PRETRAINED_COLUMNS = {
    **{key: TRAINING_COLUMNS[key] for key in ("downsampling_factor", "parameters", "autoencoder_parameters",
                                              "finished_at", "noise_schedule", "denoiser_architecture", "x0_range")},
    "pretrained_id": "pretrained_id",
    "pretrained_commit": "pretrained_commit",
}  # fmt: skip
AUTOENCODER_COLUMNS = {
    "autoencoder_type": "autoencoder_type",
    "first_stage_loss": "autoencoder_loss",
    "steps": "autoencoder_train_steps",
    "wall_time_s": "autoencoder_train_wall_time_s",
    "final_loss": "autoencoder_final_loss",
    "peak_gpu_memory_mb": "autoencoder_peak_gpu_memory_mb",
    "peak_gpu_reserved_mb": "autoencoder_peak_gpu_reserved_mb",
}
# Columns that hold words: "" where their record is missing (the others: NaN).
TEXT_COLUMNS = frozenset(
    {"train_device", "train_device_name", "train_precision", "train_finished_at", "noise_schedule",
     "noise_levels", "denoiser_architecture", "budget_scope", "pretrained_id", "pretrained_commit", "autoencoder_type",
     "autoencoder_loss"}
)  # fmt: skip


# report/curves.csv: a model's quality along its training (training.milestones), the final model last.
# Where each point stands in training: a milestone's record (MILESTONE), or the final model's (TRAINING).
MILESTONE_POINT_COLUMNS = {"step": "denoiser_steps", "images_seen": "images_seen",
                           "total_train_gflops": "total_train_gflops", "total_train_s": "total_train_s"}  # fmt: skip
FINAL_POINT_COLUMNS = {"steps": "denoiser_steps", **{key: key for key in list(MILESTONE_POINT_COLUMNS)[1:]}}
CURVE_METRIC_COLUMNS = {key: key for key in ("n_generated", "kid", "kid_ci_low", "kid_ci_high", "fid", "fid_ci_low",
                                             "fid_ci_high", "kid_jackknife_replicates")}  # fmt: skip
QUALITY_CURVE_COLUMNS = ["dataset", "model", "family", "replicate_of", "sampler", "steps", "point", "milestone",
                         "milestone_unit", *MILESTONE_POINT_COLUMNS.values(),
                         *CURVE_METRIC_COLUMNS.values()]  # fmt: skip


# What each column map reads must be a key its record kind defines (a renamed key fails here, at
# import, and in tests/test_report.py).
READS = {
    "sampling": (SAMPLING, SAMPLING_COLUMNS),
    "distribution": (DISTRIBUTION, DISTRIBUTION_COLUMNS),
    "lpips": (LPIPS, LPIPS_COLUMNS),
    "reconstruction": (RECONSTRUCTION, RECONSTRUCTION_COLUMNS),
    "comparison": (COMPARISON, COMPARISON_COLUMNS),
    "training": (TRAINING, TRAINING_COLUMNS),
    "pretrained": (PRETRAINED, PRETRAINED_COLUMNS),
    "autoencoder training": (AUTOENCODER_TRAINING, AUTOENCODER_COLUMNS),
    "curve points": (MILESTONE, MILESTONE_POINT_COLUMNS),
    "curve ends": (TRAINING, FINAL_POINT_COLUMNS),
    "curve metrics": (DISTRIBUTION, CURVE_METRIC_COLUMNS),
}


def unread_keys(reads: dict = READS) -> dict[str, set[str]]:
    """Per column map, the record keys it reads that its record kind does not define."""
    unread = {name: set(columns) - kind.all_keys for name, (kind, columns) in reads.items()}
    return {name: keys for name, keys in unread.items() if keys}


if unread_keys():
    raise RuntimeError(f"report columns read keys their record kinds do not define: {unread_keys()}")


def quality_curve_table(experiment: Experiment, layout: Layout) -> pd.DataFrame:
    """Every trained model with milestones, at every milestone setting: its snapshots' KID and FID
    against their total training compute (the first stage included), then its final model's."""
    rows = []
    for model, spec in experiment.models.items():
        names = experiment.milestones(model)
        if not names:
            continue
        train = _load(layout.training_record(model), TRAINING)
        points = {n: _load(layout.milestone_record(model, n), MILESTONE) for n in names}
        unit = train["budget"].get("unit", "") if train else ""
        for setting in experiment.milestone_settings():
            ladder = [(f"{model}@{n}", "milestone", float(n), points[n]) for n in names]
            for name, point, value, where in [*ladder, (model, "final", math.nan, train)]:
                metrics = _load(layout.distribution_metrics(name, setting.sampler, setting.steps), DISTRIBUTION)
                rows.append({
                    "dataset": spec.dataset, "model": model, "family": spec.family,
                    "replicate_of": experiment.replicate_base(model), "sampler": setting.sampler,
                    "steps": setting.steps, "point": point, "milestone": value, "milestone_unit": unit,
                    **_pick(where, MILESTONE_POINT_COLUMNS if point == "milestone" else FINAL_POINT_COLUMNS),
                    **_pick(metrics, CURVE_METRIC_COLUMNS),
                })  # fmt: skip
    return pd.DataFrame(rows, columns=QUALITY_CURVE_COLUMNS)


@dataclass
class Tables:
    runs: pd.DataFrame
    models: pd.DataFrame
    curves: pd.DataFrame
    comparisons: pd.DataFrame
    replicates: pd.DataFrame
    # quality along training: one row per milestone and final model at each milestone setting
    quality_curves: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=QUALITY_CURVE_COLUMNS))
    # runs beside published numbers (report/published.py), set by the report stage, which has the files
    published: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=PUBLISHED_COLUMNS))
    missing: list[str] = field(default_factory=list)  # expected result files that are absent
    warnings: list[str] = field(default_factory=list)  # warnings recorded by the jobs, with their run


def _timesteps_span(timesteps: list[int]) -> str:
    """'999, 899, ..., 99 (10)': where a run's sampler starts and ends (sampling.json has them all)."""
    if len(timesteps) <= 3:
        return ", ".join(map(str, timesteps))
    return f"{timesteps[0]}, {timesteps[1]}, ..., {timesteps[-1]} ({len(timesteps)})"


def throughput_columns(record: dict, nfe: float) -> dict:
    """Images/s (UNet evaluations plus decode, from the model's batch sweep) at the run's NFE: at
    the best batch size and at the configured one, as the LDM paper reports throughput."""
    timings = [BatchTiming(*t) for t in zip(record.get("batch_sizes", []), record.get("unet_s", []),
                                            record.get("decode_s", []), strict=True)]  # fmt: skip
    if not timings or pd.isna(nfe):
        return dict.fromkeys(THROUGHPUT_COLUMNS, math.nan)
    top = best(timings, int(nfe))
    configured = next((t for t in timings if t.batch_size == record["configured_batch"]), None)
    return {
        "throughput_best_batch": top.batch_size,
        "throughput_best_images_per_s": top.images_per_s(int(nfe)),
        "throughput_configured_batch": record["configured_batch"],
        "throughput_configured_images_per_s": configured.images_per_s(int(nfe)) if configured else math.nan,
        "throughput_sweep_stopped": record["stopped"],
    }


THROUGHPUT_COLUMNS = ("throughput_best_batch", "throughput_best_images_per_s", "throughput_configured_batch",
                      "throughput_configured_images_per_s", "throughput_sweep_stopped")  # fmt: skip


def _load(path: str, kind: RecordKind) -> dict:
    """A result record, or {} when the file is missing (a partial run: listed once, by `collect`,
    and NaN in the tables). A record lacking a key of its kind is an error naming file and key."""
    return kind.read(path) if Path(path).is_file() else {}


def _pick(record: dict, columns: dict[str, str]) -> dict:
    """The record's values under our column names; a missing record or key gives NaN, and "" in a
    text column (where a null is "" too)."""
    picked = {}
    for theirs, ours in columns.items():
        if ours in TEXT_COLUMNS:
            picked[ours] = record.get(theirs) or ""
        else:
            picked[ours] = record.get(theirs, math.nan)
    return picked


def model_table(experiment: Experiment, layout: Layout, warnings: list[str]) -> pd.DataFrame:
    """One row per model: parameters, training cost (denoiser and first stage), reconstruction."""
    rows = []
    for name, spec in experiment.models.items():
        trained = spec.source == "train"
        train = _load(layout.training_record(name), TRAINING if trained else PRETRAINED)
        row = {
            "model": name,
            # A replicate's base model (training.seeds), else the model itself: what tables aggregate over.
            "replicate_of": experiment.replicate_base(name),
            "training_seed": spec.training.seed if trained else math.nan,
            "dataset": spec.dataset,
            "family": spec.family,
            "source": spec.source,
            **_pick({}, TRAINING_COLUMNS | PRETRAINED_COLUMNS),  # every model has every column
            **_pick(train, TRAINING_COLUMNS if trained else PRETRAINED_COLUMNS),
        }
        if not spec.latent and pd.isna(row["downsampling_factor"]):
            row["downsampling_factor"] = 1  # known without the record
        autoencoder = {}
        if spec.latent and trained:
            autoencoder = _load(layout.autoencoder_record(name), AUTOENCODER_TRAINING)
        row.update(_pick(autoencoder, AUTOENCODER_COLUMNS))
        row["latent_scaling_factor"] = autoencoder.get("scaling_factor", train.get("scaling_factor", math.nan))
        # Training compute of every stage (an LDM pays for its first stage too), as the training
        # record sums it (total_train_s, total_train_gflops); pretrained models were trained elsewhere (NaN).
        stage_s, stage_gflops = train.get("stage_seconds", {}), train.get("stage_gflops", {})
        row.update(
            **{f"{stage}_s": stage_s.get(stage, math.nan) for stage in TRAINING_STAGES},
            **{f"{stage}_gflops": stage_gflops.get(stage, math.nan) for stage in TRAINING_STAGES},
        )
        recon = _load(layout.reconstruction_metrics(name), RECONSTRUCTION) if spec.latent else {}
        row.update(_pick(recon, RECONSTRUCTION_COLUMNS))
        warnings += [f"{name} reconstruction: {w}" for w in recon.get("warnings", [])]
        rows.append(row)
    return pd.DataFrame(rows)


# x0_words' rule for x0 clamped to the range of the data the model learns (both families alike)
DATA_RANGE_CLIP = "clipped to its data's range"


def x0_words(treatment: dict, data_range: float | None) -> tuple[str, str]:
    """(rule, words with the limit) for a sampling record's x0_treatment (sampling.schedulers). The
    rule is what compared runs must share: clipping at each model's own data range (pixels +-1, a
    latent model's scaled training latents) is one rule in both families; `data_range` None = not
    known (a pretrained latent model)."""
    kind, limit = treatment["kind"], treatment["limit"]
    if kind == "none":
        return "none", "none"
    if kind == "dynamic_threshold":
        rule = f"dynamic thresholding (quantile {treatment['ratio']:g}, up to {limit:g})"
        return rule, rule
    if data_range is not None and math.isclose(limit, data_range, rel_tol=1e-6):
        return DATA_RANGE_CLIP, f"{DATA_RANGE_CLIP} (±{limit:.3g})"
    return f"clipped to ±{limit:.3g}", f"clipped to ±{limit:.3g}"


def run_table(experiment: Experiment, layout: Layout, models: pd.DataFrame, warnings: list[str]) -> pd.DataFrame:
    """One row per (model, sampler, steps) with every metric and cost, plus the model's training cost."""
    rows = []
    for run in experiment.runs():
        keys = (run.model, run.sampler, run.steps)
        spec = experiment.models[run.model]
        row = {
            "dataset": spec.dataset,
            "model": run.model,
            "family": spec.family,
            "sampler": run.sampler,
            "sampler_type": experiment.sampling.samplers[run.sampler].type,
            "steps": run.steps,
        }
        sampling = _load(layout.sampling_record(*keys), SAMPLING)
        distribution = _load(layout.distribution_metrics(*keys), DISTRIBUTION)
        row.update(_pick(sampling, SAMPLING_COLUMNS))
        # where the timesteps start matters for few steps ("leading" at 10 steps starts at t = 900)
        row["timestep_spacing"] = sampling.get("scheduler_config", {}).get("timestep_spacing", "")
        row["timesteps"] = _timesteps_span(sampling.get("timesteps", []))
        row["x0_rule"], row["x0_handling"] = "", ""
        row["x0_limit"] = sampling.get("x0_treatment", {}).get("limit", math.nan)
        if "x0_treatment" in sampling:
            data_range = models.set_index("model").x0_data_range.get(run.model)
            data_range = None if data_range is None or pd.isna(data_range) else float(data_range)
            row["x0_rule"], row["x0_handling"] = x0_words(sampling["x0_treatment"], data_range)
        row.update(_pick(distribution, DISTRIBUTION_COLUMNS))
        row.update(_pick(_load(layout.lpips_metrics(*keys), LPIPS), LPIPS_COLUMNS))
        if experiment.sampling.throughput_max_batch is not None:
            row.update(throughput_columns(_load(layout.throughput(run.model), THROUGHPUT), row["nfe"]))
        run_name = "/".join(str(k) for k in keys)
        warnings += [f"{run_name}: {w}" for w in distribution.get("warnings", [])]
        if sampling.get("nonfinite_images"):
            warnings.append(f"{run_name}: {sampling['nonfinite_images']} images with NaN/inf values")
        rows.append(row)
    frame = pd.DataFrame(rows)
    # A covariance of either set is singular at n <= dim: FID is then strongly biased.
    frame["fid_set_below_feature_dim"] = frame[["n_samples", "n_reference"]].min(axis=1) <= frame.feature_dim
    frame = frame.merge(models[["model", "downsampling_factor", *MODEL_COLUMNS_IN_RUNS]], on="model", how="left")
    return frame[RUN_KEY + [c for c in frame.columns if c not in RUN_KEY]]


def replicate_table(runs: pd.DataFrame) -> pd.DataFrame:
    """Mean and spread across training seeds of each (model, sampler, steps) that has replicates."""
    replicated = runs[runs.groupby("replicate_of").model.transform("nunique") > 1].dropna(subset=["fid"])
    columns = ["replicate_of", "family", "sampler", "steps", "seeds", "fid_mean", "fid_sd", "fid_min", "fid_max",
               "kid_mean", "precision_mean", "recall_mean", "sampling_s_per_image_mean",
               "total_train_s_mean"]  # fmt: skip
    if replicated.empty:
        return pd.DataFrame(columns=columns)
    grouped = replicated.groupby(["replicate_of", "family", "sampler", "steps"], sort=False)
    frame = grouped.agg(
        seeds=("training_seed", "nunique"),
        fid_mean=("fid", "mean"),
        fid_sd=("fid", "std"),
        fid_min=("fid", "min"),
        fid_max=("fid", "max"),
        kid_mean=("kid", "mean"),
        precision_mean=("precision", "mean"),
        recall_mean=("recall", "mean"),
        sampling_s_per_image_mean=("sampling_s_per_image", "mean"),
        total_train_s_mean=("total_train_s", "mean"),
    ).reset_index()
    return frame[columns]


def comparison_table(experiment: Experiment, layout: Layout) -> pd.DataFrame:
    """One row per paired comparison that has a result (missing ones are listed by `collect`)."""
    rows = []
    for pair in experiment.comparisons():
        record = _load(layout.comparison(pair.model_a, pair.model_b, pair.sampler, pair.steps), COMPARISON)
        if record:
            bases = {"replicate_of_a": experiment.replicate_base(pair.model_a),
                     "replicate_of_b": experiment.replicate_base(pair.model_b)}  # fmt: skip
            rows.append({**_pick(record, COMPARISON_COLUMNS), **bases})
    return pd.DataFrame(rows, columns=[*COMPARISON_COLUMNS.values(), "replicate_of_a", "replicate_of_b"])


def curve_table(experiment: Experiment, layout: Layout) -> pd.DataFrame:
    """Long table of training losses: model, stage (unet/autoencoder), step, loss, images seen, time."""
    frames = []
    for name, spec in experiment.models.items():
        if spec.source != "train":
            continue
        stages = [("unet", layout.training_loss(name))]
        if spec.latent:
            stages.append(("autoencoder", layout.autoencoder_loss(name)))
        for stage, path in stages:
            if not Path(path).is_file():
                continue
            curve = pd.read_csv(path)[["step", "loss", "images_seen", "elapsed_s"]]
            frames.append(curve.assign(model=name, family=spec.family, stage=stage))
    columns = ["model", "family", "stage", "step", "loss", "images_seen", "elapsed_s"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def collect(experiment: Experiment) -> Tables:
    layout = Layout(experiment.results_dir)
    warnings: list[str] = []
    for dataset in experiment.datasets_in_use():
        skipped = _load(layout.data_info(dataset), DATA_INFO).get("skipped_files", [])
        if skipped:
            warnings.append(
                f"dataset {dataset}: {len(skipped)} unreadable image files were skipped "
                f"(listed in {layout.data_info(dataset)})"
            )
    models = model_table(experiment, layout, warnings)
    runs_ = run_table(experiment, layout, models, warnings)
    return Tables(
        runs=runs_,
        models=models,
        curves=curve_table(experiment, layout),
        comparisons=comparison_table(experiment, layout),
        replicates=replicate_table(runs_),
        quality_curves=quality_curve_table(experiment, layout),
        missing=[path for path in result_files(experiment) if not Path(path).exists()],
        warnings=warnings,
    )


def write_tables(tables: Tables, out: dict[str, str | Path]) -> None:
    """out: {"runs_csv", "runs_parquet", "models_csv", "models_parquet", "curves_csv", "quality_curves_csv",
    "comparisons_csv", "replicates_csv", "published_csv"} -> paths."""
    for name, frame in (("runs", tables.runs), ("models", tables.models)):
        with atomic_path(out[f"{name}_csv"]) as tmp:
            frame.to_csv(tmp, index=False)
        with atomic_path(out[f"{name}_parquet"]) as tmp:
            frame.to_parquet(tmp, index=False)
    with atomic_path(out["curves_csv"]) as tmp:
        tables.curves.to_csv(tmp, index=False)
    with atomic_path(out["quality_curves_csv"]) as tmp:
        tables.quality_curves.to_csv(tmp, index=False)
    with atomic_path(out["comparisons_csv"]) as tmp:
        tables.comparisons.to_csv(tmp, index=False)
    with atomic_path(out["replicates_csv"]) as tmp:
        tables.replicates.to_csv(tmp, index=False)
    with atomic_path(out["published_csv"]) as tmp:
        tables.published.to_csv(tmp, index=False)
