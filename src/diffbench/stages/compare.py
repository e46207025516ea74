"""Paired comparison stage (workflow/rules/compare.smk): KID(a) - KID(b), the verdict's statistic,
and FID(a) - FID(b) of two runs with the same seeds, from their stored features. numpy and scipy
only: the job never imports torch."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffbench.errors import ResultError
from diffbench.metrics.intervals import fid_difference
from diffbench.metrics.kid import PAIRED_METHOD as KID_METHOD
from diffbench.metrics.kid import kid_difference
from diffbench.records import COMPARISON, feature_settings
from diffbench.specs import EvaluationSpec


def compare_runs(
    *,
    features_a: str | Path,
    features_b: str | Path,
    reference_features: str | Path,
    run_a: dict,
    run_b: dict,
    evaluation: EvaluationSpec | dict,
    out_record: str | Path,
) -> dict:
    """KID(a) - KID(b) and FID(a) - FID(b) for two runs with the same seeds against one reference,
    each with a paired interval. The verdict (`better`) is KID's: its estimator is unbiased for the
    squared MMD at every n, while FID at n carries a bias that depends on each model's covariance
    and can put two models in the wrong order (benchmarks/verdict_truth.py).

    Images are paired by seed; a seed whose image is NaN/inf in either run is left out of both, so
    the two FIDs here can differ slightly from each run's own when some images were excluded.
    """
    evaluation = EvaluationSpec.of(evaluation)
    features, finite = [], []
    for path in (features_a, features_b):
        with np.load(path) as data:
            if "finite" not in data:
                raise ResultError(
                    f"{path} has no per-seed 'finite' mask (written by an older diffbench), so its images cannot be "
                    "paired by seed; delete it and rerun the sample_features rule."
                )
            features.append(data["features"].astype(np.float64))
            finite.append(data["finite"])
    if len(finite[0]) != len(finite[1]):
        raise ResultError(f"{features_a} and {features_b} come from different numbers of seeds; rerun the sampling.")
    with np.load(reference_features) as ref:
        reference = ref["features"].astype(np.float64)
    both = finite[0] & finite[1]
    # Rows of each feature array are the finite images in seed order: keep those finite in both runs.
    generated_a, generated_b = (x[both[mask]] for x, mask in zip(features, finite, strict=True))
    level, groups = evaluation.confidence, evaluation.interval_groups
    fid = fid_difference(generated_a, generated_b, reference, level, groups)
    kid = kid_difference(generated_a, generated_b, reference, level, groups)
    interval = kid.interval
    record = {
        "dataset": run_a["dataset"],
        "model_a": run_a["model"],
        "family_a": run_a["family"],
        "model_b": run_b["model"],
        "family_b": run_b["family"],
        **{key: run_a[key] for key in ("sampler", "sampler_type", "steps", "seed_first", "seed_last")},
        **feature_settings(evaluation),
        "reference_set": evaluation.reference,
        "n_generated": len(generated_a),
        "n_reference": len(reference),
        "statistic": "KID",
        "kid_a": kid.kid_a,
        "kid_b": kid.kid_b,
        "difference": interval.estimate,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "ci_level": interval.level,
        "ci_method": KID_METHOD,
        "ci_groups": interval.groups,
        "se": interval.se,
        "p_value": interval.p_value(),
        "jackknife_replicates": list(kid.replicates),
        "better": interval.better(run_a["model"], run_b["model"]),
        "fid_a": fid.fid_a,
        "fid_b": fid.fid_b,
        "fid_difference": fid.interval.estimate,
        "fid_ci_low": fid.interval.low,
        "fid_ci_high": fid.interval.high,
    }
    COMPARISON.write(out_record, record)
    return record
