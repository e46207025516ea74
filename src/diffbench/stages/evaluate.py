"""Evaluation stages (workflow/rules/evaluate.smk): features, FID/KID/precision-recall, LPIPS, reconstruction.

Each stage reads and writes files; the numbers come from the pure functions in
diffbench.metrics. Every result JSON carries the settings that define it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffbench.data.images import load_images
from diffbench.errors import MissingWeights, ResultError
from diffbench.features import EXTRACTORS, features_key
from diffbench.io import write_npz
from diffbench.metrics.frechet import Moments, frechet_distance, sample_size_warning
from diffbench.metrics.intervals import (
    METHOD,
    fid_difference,
    fid_infinity,
    fid_interval,
)
from diffbench.metrics.kid import kernel_distance
from diffbench.metrics.lpips import convergence, diversity, load_lpips, paired_distances
from diffbench.metrics.precision_recall import equal_sizes, precision_recall
from diffbench.metrics.reconstruction import psnr_ssim
from diffbench.models.autoencoders import reconstruct
from diffbench.records import COMPARISON, DISTRIBUTION, EVALUATION_ASSETS, LPIPS, RECONSTRUCTION
from diffbench.runtime import device_info, resolve_device


def _fetched_weights(assets: str | Path, extractor: str) -> Path:
    """The weights file fetch_assets recorded for `extractor`; it must still be there."""
    record = EVALUATION_ASSETS.read(assets)
    path = Path(record["feature_weights"])
    if record["feature_extractor"] != extractor or not path.is_file():
        raise MissingWeights(
            f"{assets} records {record['feature_extractor']} weights at {path}, but {extractor} is configured or the "
            "file is gone; rerun the fetch_assets rule (`diffbench fetch-assets`)."
        )
    return path


def _extract_features(
    *, images: str | Path, assets: str | Path, evaluation: dict, device: str, out_features: str | Path
) -> dict:
    """float32 features of a set of images plus their exact float64 moments.

    Generated images that had NaN/inf values (stored as zeros, marked in `finite`) are left out,
    so they never enter FID; their count is kept as `nonfinite_excluded`.
    """
    extractor = EXTRACTORS[evaluation["feature_extractor"]]
    torch_device = resolve_device(device)
    network = extractor.load(_fetched_weights(assets, extractor.name), torch_device)
    pixels, _, finite = _load_samples(images)
    features = extractor.extract(pixels[finite], network, torch_device, evaluation["batch_size"], evaluation["resize"])
    excluded = int((~finite).sum())
    write_npz(
        out_features,
        features=features.astype(np.float32),
        finite=finite,
        nonfinite_excluded=excluded,
        **Moments.of(features).to_npz(),
    )
    return {
        "num_images": len(features),
        "dim": features.shape[1],
        "nonfinite_excluded": excluded,
        **device_info(torch_device),
    }


def reference_features(
    *, images: str | Path, assets: str | Path, evaluation: dict, device: str, out_features: str | Path
) -> dict:
    """Features of a dataset's reference set (evaluation.reference), shared by every model evaluated on
    it; reconstruction metrics also use the held-out set's."""
    return _extract_features(
        images=images, assets=assets, evaluation=evaluation, device=device, out_features=out_features
    )


def sample_feature_shard(
    *, images: str | Path, assets: str | Path, evaluation: dict, device: str, out_features: str | Path
) -> dict:
    """Features of one sampling shard, on the node that sampled it; merged by sample_features."""
    return _extract_features(
        images=images, assets=assets, evaluation=evaluation, device=device, out_features=out_features
    )


def _load_samples(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Images, their seeds (None for data sets) and finite mask (all True for data sets)."""
    with np.load(path) as data:
        images = data["images"]
        seeds = data["seeds"] if "seeds" in data else None
        finite = data["finite"] if "finite" in data else np.ones(len(images), dtype=bool)
    return images, seeds, finite


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


def _settings(evaluation: dict) -> dict:
    return {
        "feature_extractor": evaluation["feature_extractor"],
        "resize": evaluation["resize"],
        "features_key": features_key(evaluation),
    }


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
        **_settings(evaluation),
        "reference_set": evaluation["reference"],
        "n_generated": int(len(generated)),
        "n_nonfinite_excluded": excluded,
        "n_reference": int(len(reference)),
        "fid": fd["fd"],
        **_fid_uncertainty(generated.astype(np.float64), reference.astype(np.float64), evaluation),
        "fid_sqrt_discarded": fd["sqrt_discarded"],
        **kernel_distance(generated, reference, evaluation["kid_subsets"], evaluation["kid_subset_size"]),
        **precision_recall(*equal_sizes(generated, reference, run["seed_first"]), evaluation["pr_neighborhood"]),
        "warnings": warnings,
    }
    DISTRIBUTION.write(out_record, record)
    return record


def compare_runs(
    *,
    features_a: str | Path,
    features_b: str | Path,
    reference_features: str | Path,
    run_a: dict,
    run_b: dict,
    evaluation: dict,
    out_record: str | Path,
) -> dict:
    """FID(a) - FID(b) for two runs with the same seeds against one reference, with a paired interval.

    Images are paired by seed; a seed whose image is NaN/inf in either run is left out of both, so
    the two FIDs here can differ slightly from each run's own when some images were excluded.
    """
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
    paired = fid_difference(
        generated_a, generated_b, reference, evaluation["confidence"], evaluation["interval_groups"]
    )
    interval = paired.interval
    record = {
        "dataset": run_a["dataset"],
        "model_a": run_a["model"],
        "family_a": run_a["family"],
        "model_b": run_b["model"],
        "family_b": run_b["family"],
        **{key: run_a[key] for key in ("sampler", "sampler_type", "steps", "seed_first", "seed_last")},
        **_settings(evaluation),
        "reference_set": evaluation["reference"],
        "n_generated": len(generated_a),
        "n_reference": len(reference),
        "fid_a": paired.fid_a,
        "fid_b": paired.fid_b,
        "difference": interval.estimate,
        "ci_low": interval.low,
        "ci_high": interval.high,
        "ci_level": interval.level,
        "ci_method": METHOD,
        "ci_groups": interval.groups,
        "se": interval.se,
        "better": interval.better(run_a["model"], run_b["model"]),
    }
    COMPARISON.write(out_record, record)
    return record


def lpips_metrics(
    *,
    images: str | Path,
    reference_run_images: str | Path,
    reference_steps: int,
    assets: str | Path,
    run: dict,
    evaluation: dict,
    device: str,
    out_record: str | Path,
) -> dict:
    """LPIPS diversity of one sample set and its convergence towards the same seeds at `reference_steps`."""
    EVALUATION_ASSETS.read(assets)  # the backbone must have been fetched
    torch_device = resolve_device(device)
    model = load_lpips(evaluation["lpips_net"], torch_device)
    these, seeds, finite = _load_samples(images)
    reference, reference_seeds, reference_finite = _load_samples(reference_run_images)
    if seeds.tolist() != reference_seeds.tolist():
        raise ResultError(f"{images} and {reference_run_images} hold different seeds; rerun the sampling")
    both = finite & reference_finite  # NaN/inf images (stored as zeros) are left out, as for FID
    side = evaluation["lpips_min_side"]
    record = {
        **run,
        "lpips_net": evaluation["lpips_net"],
        **diversity(these[finite], model, torch_device, evaluation["diversity_pairs"], min_side=side),
        **convergence(these[both], reference[both], model, torch_device, min_side=side),
        "convergence_reference_steps": reference_steps,
        "n_nonfinite_excluded": int((~finite).sum()),
    }
    LPIPS.write(out_record, record)
    return record


def reconstruction_metrics(
    *,
    model_dir: str | Path,
    heldout_images: str | Path,
    heldout_features: str | Path,
    assets: str | Path,
    model: str,
    evaluation: dict,
    device: str,
    out_record: str | Path,
) -> dict:
    """The first stage's quality on held-out images: LPIPS, PSNR, SSIM and rFID of x vs D(E(x))."""
    from diffbench.models.pipelines import load_model

    torch_device = resolve_device(device)
    autoencoder = load_model(model_dir).to(torch_device).autoencoder
    originals = load_images(heldout_images)
    rebuilt = reconstruct(autoencoder, originals, torch_device, evaluation["batch_size"])
    lpips_model = load_lpips(evaluation["lpips_net"], torch_device)
    distances = paired_distances(
        originals, rebuilt, lpips_model, torch_device, evaluation["batch_size"], evaluation["lpips_min_side"]
    )
    extractor = EXTRACTORS[evaluation["feature_extractor"]]
    network = extractor.load(_fetched_weights(assets, extractor.name), torch_device)
    features = extractor.extract(rebuilt, network, torch_device, evaluation["batch_size"], evaluation["resize"])
    with np.load(heldout_features) as ref:
        ref_stats = Moments.from_npz(ref).statistics()
    rec_stats = Moments.of(features).statistics()
    rfid = frechet_distance(rec_stats["mu"], rec_stats["sigma"], ref_stats["mu"], ref_stats["sigma"])
    record = {
        "model": model,
        **_settings(evaluation),
        "autoencoder": type(autoencoder).__name__,
        **psnr_ssim(originals, rebuilt),
        "lpips_net": evaluation["lpips_net"],
        "lpips_mean": float(distances.mean()),
        "lpips_side": evaluation["lpips_min_side"],
        "rfid": rfid["fd"],
        "warnings": [w for w in [sample_size_warning(len(originals), len(originals), extractor.dim)] if w],
    }
    RECONSTRUCTION.write(out_record, record)
    return record
