"""Distribution-metric stage (workflow/rules/distribution.smk): FID with its interval and FID
at infinity, KID and precision/recall of one run, from stored features. KID and precision/recall
come from torch-fidelity (which imports torch); no network is loaded."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffbench.errors import ResultError
from diffbench.metrics.frechet import Moments, frechet_distance, sample_size_warning
from diffbench.metrics.intervals import METHOD, fid_infinity, fid_interval
from diffbench.metrics.kid import kernel_distance
from diffbench.metrics.precision_recall import equal_sizes, precision_recall
from diffbench.records import DISTRIBUTION, feature_settings


def _fid_uncertainty(generated: np.ndarray, reference: np.ndarray, evaluation: dict) -> dict:
    """The jackknife interval of FID at this n and FID at infinity (None where switched off)."""
    groups, level = evaluation["interval_groups"], evaluation["confidence"]
    fractions = evaluation["fid_infinity_fractions"]
    interval = fid_interval(generated, reference, level, groups) if groups else None
    fit = fid_infinity(generated, reference, fractions, level, groups) if fractions else None
    fit_interval = fit.interval if fit else None
    return {
        "fid_ci_low": interval.low if interval else None,
        "fid_ci_high": interval.high if interval else None,
        "fid_ci_level": level if interval else None,
        "fid_ci_method": METHOD if interval else None,
        "fid_ci_groups": groups,
        "fid_se": interval.se if interval else None,
        "fid_infinity": fit.estimate if fit else None,
        "fid_infinity_ci_low": fit_interval.low if fit_interval else None,
        "fid_infinity_ci_high": fit_interval.high if fit_interval else None,
        "fid_infinity_slope": fit.slope if fit else None,
        "fid_infinity_sizes": fit.sizes if fit else None,
        "fid_infinity_values": fit.values if fit else None,
    }


def distribution_metrics(
    *,
    sample_features: str | Path,
    reference_features: str | Path,
    run: dict,
    evaluation: dict,
    out_record: str | Path,
) -> dict:
    """FID (with its interval and FID at infinity), KID and precision/recall of a sample set against the reference."""
    with np.load(sample_features) as gen, np.load(reference_features) as ref:
        generated, reference = gen["features"], ref["features"]
        excluded = int(gen["nonfinite_excluded"])
        if len(generated) < 2:
            raise ResultError(
                f"{run}: only {len(generated)} of the generated images are finite ({excluded} had NaN/inf values); "
                "no distribution metric can be computed. Check the model and sampler (precision: fp32 helps)."
            )
        gen_stats, ref_stats = Moments.from_npz(gen).statistics(), Moments.from_npz(ref).statistics()
    fd = frechet_distance(gen_stats["mu"], gen_stats["sigma"], ref_stats["mu"], ref_stats["sigma"])
    warnings = [w for w in [sample_size_warning(len(generated), len(reference), generated.shape[1])] if w]
    if excluded:
        warnings.append(f"{excluded} generated images had NaN/inf values and were left out of every metric here")
    if fd["sqrt_fixup"]:
        warnings.append(
            f"the matrix square root discarded {fd['sqrt_discarded']:.2e} of its trace (round-off or rank deficiency)"
        )
    record = {
        **run,
        **feature_settings(evaluation),
        "reference_set": evaluation["reference"],
        "n_generated": int(len(generated)),
        "n_nonfinite_excluded": excluded,
        "n_reference": int(len(reference)),
        "feature_dim": int(generated.shape[1]),
        "fid": fd["fd"],
        **_fid_uncertainty(generated.astype(np.float64), reference.astype(np.float64), evaluation),
        "fid_sqrt_discarded": fd["sqrt_discarded"],
        **kernel_distance(generated, reference, evaluation["kid_subsets"], evaluation["kid_subset_size"]),
        **precision_recall(*equal_sizes(generated, reference, run["seed_first"]), evaluation["pr_neighborhood"]),
        "warnings": warnings,
    }
    DISTRIBUTION.write(out_record, record)
    return record
