"""Result records: the keys each stage writes and later stages and the report read, defined once.

A kind lists every key its records hold, with its JSON type. A stage writes its record with
`KIND.write(path, record)`, which refuses a record that lacks a key of its kind, holds one the kind
does not declare (a misspelt or renamed key fails where it is written) or gives one a value of
another type; readers use `KIND.read(path)`, which names the file and the key when one is missing,
unknown or retyped (an old or foreign file), so a key can never silently become NaN in the report.
"""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema

from diffbench.errors import ResultError
from diffbench.io import jsonable, read_json, write_json
from diffbench.specs import EvaluationSpec


def feature_settings(evaluation: EvaluationSpec) -> dict:
    """The settings that define a result computed from features, carried by every such record."""
    return {
        "feature_extractor": evaluation.feature_extractor,
        "resize": evaluation.resize,
        "feature_channels_last": evaluation.channels_last,
        "feature_fold_batch_norm": evaluation.fold_batch_norm,
        "features_key": evaluation.features_key,
    }


# A field's JSON type (JSON Schema's names, checked by jsonschema): what the writer must give and
# the reader gets back. NUM accepts integers too; maybe() adds null for a value that can be absent.
STR, INT, NUM, BOOL, LIST, DICT = "string", "integer", "number", "boolean", "array", "object"


FieldType = str | list[str] | dict


def maybe(kind: str) -> list[str]:
    return [kind, "null"]


def nested(fields: dict[str, FieldType], optional: dict[str, FieldType] | None = None) -> dict:
    """A field that is itself an object whose fields are typed here too (the JSON Schema that
    checks it): `fields` are always present, `optional` sometimes, nothing else."""
    every = {**fields, **(optional or {})}
    return {"type": DICT, "required": sorted(fields), "additionalProperties": False,
            "properties": {key: _schema(kind) for key, kind in every.items()}}  # fmt: skip


def _schema(kind: FieldType) -> dict:
    return kind if isinstance(kind, dict) else {"type": kind}


class RecordKind:
    """One kind of result record: its fields and their JSON types, defined here once. `write` and
    `read` check a record against them, so a writer cannot leave a field out or give it a value of
    another type (a numpy scalar counts as the Python number it serialises to), and a reader never
    meets a renamed or retyped field unannounced."""

    def __init__(self, name: str, fields: dict[str, FieldType], optional: dict[str, FieldType] | None = None):
        self.name = name
        optional = optional or {}
        self.fields = {**fields, **optional}
        self.keys = frozenset(fields)  # present in every record of this kind
        self.optional = frozenset(optional)  # present only sometimes (e.g. GPU memory on CUDA)
        schema = {"type": "object", "required": sorted(self.keys), "additionalProperties": False,
                  "properties": {key: _schema(kind) for key, kind in self.fields.items()}}  # fmt: skip
        self._validator = jsonschema.Draft202012Validator(schema)

    @property
    def all_keys(self) -> frozenset[str]:
        return self.keys | self.optional

    def check(self, record: dict, path: str | Path) -> dict:
        missing, unknown = sorted(self.keys - set(record)), sorted(set(record) - self.all_keys)
        if missing or unknown:
            parts = [f"lacks key(s) {missing}"] if missing else []
            what = " and ".join(parts + ([f"has key(s) {unknown} it does not declare"] if unknown else []))
            raise ResultError(
                f"{path}: {self.name} record {what}; it was written by another version of "
                "diffbench or by hand. Delete it and rerun the rule that makes it."
            )
        as_json = json.loads(json.dumps(record, default=jsonable))  # what the file holds (and a reader gets)
        wrong = sorted(self._validator.iter_errors(as_json), key=lambda e: list(e.path))
        if wrong:
            error, key = wrong[0], wrong[0].path[0]
            if len(error.path) == 1 and error.validator == "type":  # a field of the record, of another type
                kind = self.fields[key]
                what = f"is {as_json[key]!r}, not of type {kind['type'] if isinstance(kind, dict) else kind}"
            else:  # inside a nested field (nested()): the part and what is wrong with it
                inner = "".join(f"[{part!r}]" for part in list(error.path)[1:])
                what = f"has {inner + ': ' if inner else ''}{error.message}"
            raise ResultError(
                f"{path}: {self.name} record's {key!r} {what}; it was written by another version of diffbench "
                "or by hand. Delete it and rerun the rule that makes it."
            )
        return record

    def write(self, path: str | Path, record: dict) -> dict:
        write_json(path, self.check(record, path))
        return record

    def read(self, path: str | Path) -> dict:
        return self.check(read_json(path), path)


# What ran a job (runtime.device_info) and what a training loop did (training/loop.py).
DEVICE = {"device": STR, "device_name": STR, "device_setting": STR, "cpu_fallback": BOOL,
          "cuda_visible_devices": STR, "torch": STR, "host": STR}  # fmt: skip
DEVICE_DETAILS = {"cpu_threads": INT, "cuda": STR}  # the one its device has (runtime.device_info)
LOOP = {"steps": INT, "images_seen": INT, "wall_time_s": NUM, "images_per_s": NUM, "stop_reason": STR,
        "resumed_from_step": INT, "checkpoint_s": NUM, "kept_states_s": NUM, "gflops_per_step": NUM,
        "train_gflops": NUM, "batch_size": INT, "learning_rate": NUM, "seed": INT}  # fmt: skip
GPU_MEMORY = {"peak_gpu_memory_mb": NUM, "peak_gpu_reserved_mb": NUM}  # on CUDA only

# A model's training stages, in order, as its record names their seconds and GFLOPs (a pixel model
# has only the denoiser), and a budget as training/budget.py describes it.
TRAINING_STAGES = ("autoencoder", "scaling_factor", "encoding", "denoiser")
STAGE_COSTS = nested({}, optional=dict.fromkeys(TRAINING_STAGES, NUM))
BUDGET_LIMITS_USED = {"max_steps": maybe(INT), "max_seconds": maybe(NUM), "max_gflops": maybe(NUM)}
BUDGET = nested(
    {"scope": STR, "limits": nested(BUDGET_LIMITS_USED), "spent_before": nested({"seconds": NUM, "gflops": NUM}),
     "left": nested(BUDGET_LIMITS_USED)},
    optional={"unit": STR},  # the unit of the kept states' ladder and of milestones
)  # fmt: skip

DATA_INFO = RecordKind(
    "dataset info",
    {"dataset": STR, "spec": DICT, "source_size": INT, "skipped_files": LIST, "train": DICT, "heldout": DICT},
)

DATASET_ASSETS = RecordKind(
    "fetched dataset",
    {"dataset": STR, "source": STR, "split": STR, "root": STR, "images": INT, "fetched_at": STR},
)
MODEL_ASSETS = RecordKind(
    "fetched model",
    {"model": STR, "id": STR, "revision": maybe(STR), "kind": STR, "path": STR, "fetched_at": STR},
    optional={"commit": maybe(STR), "files": INT, "bytes": INT, "hf_hub_cache": STR},  # from the hub
)
EVALUATION_ASSETS = RecordKind(
    "evaluation weights",
    {
        "feature_extractor": STR,
        "feature_weights": STR,
        "feature_weights_bytes": INT,
        "lpips_net": STR,
        "lpips_backbone": STR,
        "fetched_at": STR,
    },
)

PERCEPTUAL_ASSETS = RecordKind("perceptual-loss backbone", {"lpips_net": STR, "lpips_backbone": STR, "fetched_at": STR})

AUTOENCODER_TRAINING = RecordKind(
    "autoencoder training",
    {"model": STR, "stage": STR, "autoencoder_type": STR, "first_stage_loss": STR, "downsampling_factor": INT,
     "latent_channels": INT, "parameters": INT, "scaling_factor": NUM, "scaling_s": NUM, "scaling_gflops": NUM,
     "precision": STR,
     "budget_share": maybe(NUM), "budget": BUDGET, "final_loss": NUM, "peak_host_rss_mb": NUM, "finished_at": STR,
     **LOOP, **DEVICE},
    optional={**GPU_MEMORY, **DEVICE_DETAILS},
)  # fmt: skip
# One snapshot along training (training.milestones): where it stands in the model's run, in each unit;
# the kept state it was trained from (None: step 0), and the training this job did to get there.
MILESTONE = RecordKind(
    "training milestone",
    {"model": STR, "milestone": NUM, "unit": STR, "step": INT, "images_seen": INT, "denoiser_s": NUM,
     "denoiser_gflops": NUM, "total_train_s": NUM, "total_train_gflops": NUM, "ema_decay": maybe(NUM),
     "trained_from": maybe(NUM), "replayed_steps": INT, "replay_s": NUM, "device": STR},
)  # fmt: skip
TRAINING = RecordKind(
    "denoiser training",
    {"model": STR, "stage": STR, "family": STR, "dataset": STR, "source": STR, "downsampling_factor": INT,
     "parameters": INT, "autoencoder_parameters": INT, "noise_schedule": STR, "denoiser_architecture": STR,
     "precision": STR, "final_loss": NUM, "peak_host_rss_mb": NUM, "finished_at": STR, "budget_scope": STR,
     "budget": BUDGET, "stage_seconds": STAGE_COSTS, "stage_gflops": STAGE_COSTS, "total_train_s": NUM,
     "total_train_gflops": NUM, "x0_range": maybe(NUM), "kept_states": LIST,  # [{point, step}], in order
     "ema_decay": maybe(NUM), "unet_input": LIST, **LOOP, **DEVICE},
    # noise_levels: present since its key came in
    optional={**GPU_MEMORY, **DEVICE_DETAILS, "scaling_factor": NUM, "noise_levels": STR},
)  # fmt: skip
PRETRAINED = RecordKind(
    "pretrained import",
    {"model": STR, "stage": STR, "family": STR, "dataset": STR, "source": STR, "pretrained_id": STR,
     "revision": maybe(STR), "pretrained_commit": maybe(STR), "downsampling_factor": INT, "parameters": INT,
     "autoencoder_parameters": INT, "scaling_factor": maybe(NUM), "scheduler": STR, "noise_schedule": STR,
     "denoiser_architecture": STR, "x0_range": maybe(NUM), "unet_input": LIST, "finished_at": STR},
)  # fmt: skip

# What a sampler does to its predicted x0 (sampling.schedulers.x0_treatment).
X0_TREATMENT = nested({"kind": STR, "limit": maybe(NUM)}, optional={"ratio": NUM})

# What a sample set cost and how it was drawn; the shard's keys are summed or carried into the set's.
SAMPLING_COST = {"nfe_per_image": INT, "denoise_s": NUM, "decode_s": NUM, "unet_gflops_per_nfe": NUM,
                 "decoder_gflops": NUM, "nonfinite_images": INT, "num_images": INT,
                 "peak_host_rss_mb": NUM}  # fmt: skip
SAMPLER_SETTINGS = {"scheduler_class": STR, "scheduler_config": DICT, "timesteps": LIST, "x0_treatment": X0_TREATMENT,
                    "steps": INT, "seed_first": INT, "seed_last": INT, "batch_size": INT, "step_noise_on": STR,
                    "speedups": STR, "warmup_s": NUM, "precision": STR, "decoder_precision": maybe(STR)}  # fmt: skip
SAMPLING_SHARD = RecordKind(
    "sampling shard",
    {"sampler": DICT, **SAMPLER_SETTINGS, **SAMPLING_COST, "resumed_images": INT, "finished_at": STR, **DEVICE},
    optional={**GPU_MEMORY, **DEVICE_DETAILS},
)
SAMPLING = RecordKind(
    "sampling",
    {"model": STR, "sampler": STR, "sampler_type": STR, "sampler_options": DICT, **SAMPLER_SETTINGS,
     **SAMPLING_COST, "num_shards": INT, "total_s": NUM, "seconds_per_image": NUM, "images_per_s": NUM,
     "decode_share": NUM, "gflops_per_image": NUM, "devices": LIST,
     **{key: DEVICE[key] for key in ("device", "device_name", "device_setting", "cpu_fallback")}},
    optional=GPU_MEMORY,
)  # fmt: skip

THROUGHPUT = RecordKind(
    "sampling throughput",
    {"model": STR, "family": STR, "batch_sizes": LIST, "unet_s": LIST, "decode_s": LIST, "stopped": STR,
     "configured_batch": INT, "speedups": STR, "precision": STR, **DEVICE},
    optional=DEVICE_DETAILS,
)  # fmt: skip

# The run a metric belongs to (Experiment.run_key), and the feature settings (feature_settings).
RUN_KEY = {"dataset": STR, "model": STR, "family": STR, "sampler": STR, "sampler_type": STR, "steps": INT,
           "seed_first": INT, "seed_last": INT}  # fmt: skip
FEATURES = {"feature_extractor": STR, "resize": STR, "feature_channels_last": BOOL, "feature_fold_batch_norm": BOOL,
            "features_key": STR}  # fmt: skip
DISTRIBUTION = RecordKind(
    "distribution metrics",
    {**RUN_KEY, **FEATURES, "reference_set": STR, "n_generated": INT, "n_nonfinite_excluded": INT,
     "n_reference": INT, "feature_dim": INT, "fid": NUM, "fid_ci_low": maybe(NUM), "fid_ci_high": maybe(NUM),
     "fid_ci_level": maybe(NUM), "fid_ci_method": maybe(STR), "fid_ci_groups": maybe(INT), "fid_se": maybe(NUM),
     "fid_infinity": maybe(NUM), "fid_infinity_ci_low": maybe(NUM), "fid_infinity_ci_high": maybe(NUM),
     "fid_infinity_slope": maybe(NUM), "fid_infinity_sizes": maybe(LIST), "fid_infinity_values": maybe(LIST),
     "fid_infinity_hidden": maybe(STR), "fid_infinity_min_size": maybe(INT), "fid_sqrt_discarded": NUM,
     "kid": NUM, "kid_se": maybe(NUM), "kid_ci_low": maybe(NUM), "kid_ci_high": maybe(NUM), "kid_method": STR,
     "kid_jackknife_replicates": LIST, "precision": NUM, "recall": NUM, "f_score": NUM, "pr_k": INT, "pr_n": INT,
     "warnings": LIST},
    optional={"milestone_of": STR, "milestone": NUM},  # a training milestone's snapshot (Experiment.run_key)
)  # fmt: skip
COMPARISON = RecordKind(
    "paired comparison",
    {"dataset": STR, "model_a": STR, "family_a": STR, "model_b": STR, "family_b": STR,
     **{key: RUN_KEY[key] for key in ("sampler", "sampler_type", "steps", "seed_first", "seed_last")},
     **FEATURES, "reference_set": STR, "n_generated": INT, "n_reference": INT, "statistic": STR, "kid_a": NUM,
     "kid_b": NUM,
     "difference": NUM, "ci_low": NUM, "ci_high": NUM, "ci_level": NUM, "ci_method": STR, "ci_groups": INT,
     "se": NUM, "p_value": NUM, "jackknife_replicates": LIST, "better": maybe(STR), "fid_a": NUM, "fid_b": NUM,
     "fid_difference": NUM, "fid_ci_low": NUM, "fid_ci_high": NUM},
)  # fmt: skip
LPIPS = RecordKind(
    "LPIPS metrics",
    {**RUN_KEY, "lpips_net": STR, "lpips_side": INT, "lpips_diversity_mean": NUM, "lpips_diversity_std": NUM,
     "lpips_diversity_pairs": INT, "lpips_convergence_mean": maybe(NUM), "lpips_convergence_std": maybe(NUM),
     "lpips_convergence_pairs": maybe(INT),
     "convergence_reference_steps": maybe(INT), "n_nonfinite_excluded": INT},
)  # fmt: skip
RECONSTRUCTION = RecordKind(
    "reconstruction metrics",
    {"model": STR, **FEATURES, "autoencoder": STR, "psnr_db": NUM, "ssim": NUM, "ssim_window": INT, "num_images": INT,
     "lpips_net": STR, "lpips_side": INT,
     "lpips_mean": NUM, "rfid": NUM, "rfid_independent": maybe(NUM), "rkid": maybe(NUM), "rkid_ci_low": maybe(NUM),
     "rkid_ci_high": maybe(NUM), "independent_n": INT, "independent_set": STR, "warnings": LIST},
)  # fmt: skip

# Human evaluation (humaneval/): the study made by the DAG and the scores of its answer files.
HUMAN_STUDY = RecordKind(
    "human evaluation study",
    {"study": STR, "trials_sha256": STR, "trials": LIST, "truth": DICT, "runs": LIST, "settings": DICT,
     "reference_set": STR, "page": STR},
)  # fmt: skip
HUMAN_SCORES = RecordKind(
    "human evaluation scores",
    {"study": STR, "trials_sha256": STR, "runs": LIST, "differences": LIST, "raters": LIST, "raters_excluded": INT,
     "files_rejected": LIST, "agreement": DICT, "settings": DICT},
)  # fmt: skip
