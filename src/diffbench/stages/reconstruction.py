"""Reconstruction stage (workflow/rules/reconstruction.smk): a latent model's first stage on
held-out images, and on images independent of the reference scored exactly as samples are. The
only evaluation stage that loads a diffusers model, so the feature and LPIPS jobs (evaluate.py)
do not import diffusers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffbench.data.images import load_images
from diffbench.features import EXTRACTORS
from diffbench.io import write_npz
from diffbench.metrics.frechet import FeatureSet, frechet_of_features, frechet_of_sets_detailed, sample_size_warning
from diffbench.metrics.kid import kid
from diffbench.metrics.lpips import load_lpips, paired_distances
from diffbench.metrics.reconstruction import psnr_ssim
from diffbench.models.autoencoders import reconstruct
from diffbench.records import RECONSTRUCTION, feature_settings
from diffbench.runtime import resolve_device
from diffbench.sampling.pipeline_io import load_model
from diffbench.specs import EvaluationSpec
from diffbench.stages.evaluate import fetched_weights

EXAMPLES = 64  # reconstructions kept for the report's grids (report.grid_seeds columns of them)


def reconstruction_metrics(
    *,
    model_dir: str | Path,
    heldout_images: str | Path,
    heldout_features: str | Path,
    independent_images: str | Path | None,
    reference_features: str | Path,
    num_samples: int,
    seed: int,
    assets: str | Path,
    model: str,
    evaluation: EvaluationSpec | dict,
    device: str,
    out_record: str | Path,
    out_examples: str | Path | None = None,
) -> dict:
    """The first stage's quality on held-out images: LPIPS, PSNR, SSIM and rFID of x vs D(E(x)); and
    the bound it puts on samples: rFID and rKID of the reconstructions of `num_samples` images
    independent of the reference set, against it, as a sample set of that size is scored. (The
    paired rFID scores reconstructions of the very images it compares with, so the sets' noise
    cancels and it is not comparable with a sample set's FID.) `out_examples`: the reconstructions
    of the first EXAMPLES held-out images, which the report's sample grids show under the real row:
    the metrics alone cannot tell a reader whether a latent model's samples are limited by its first
    stage or by its denoiser."""
    evaluation = EvaluationSpec.of(evaluation)
    torch_device = resolve_device(device)
    autoencoder = load_model(model_dir).to(torch_device).autoencoder
    originals = load_images(heldout_images)
    rebuilt = reconstruct(autoencoder, originals, torch_device, evaluation.batch_size)
    lpips_model = load_lpips(evaluation.lpips_net, torch_device)
    distances = paired_distances(
        originals, rebuilt, lpips_model, torch_device, evaluation.batch_size, evaluation.lpips_min_side
    )
    extractor = EXTRACTORS[evaluation.feature_extractor]
    network = extractor.network(
        fetched_weights(assets, extractor.name),
        torch_device,
        channels_last=evaluation.channels_last,
        fold_batch_norm=evaluation.fold_batch_norm,
    )
    features = extractor.extract(rebuilt, network, torch_device, evaluation.batch_size, evaluation.resize)
    with np.load(heldout_features) as ref:
        heldout = FeatureSet(ref["features"])
    # From the features, as distribution_metrics: with fewer images than dimensions the exact n x m
    # form is far cheaper than the moments' 2048 x 2048 eigenproblem.
    rfid = frechet_of_sets_detailed(FeatureSet(features), heldout)
    bound = _independent_bound(
        autoencoder, independent_images, reference_features, num_samples, seed, extractor, network, torch_device,
        evaluation,
    )  # fmt: skip
    record = {
        "model": model,
        **feature_settings(evaluation),
        "autoencoder": type(autoencoder).__name__,
        **psnr_ssim(originals, rebuilt),
        "lpips_net": evaluation.lpips_net,
        "lpips_mean": float(distances.mean()),
        "lpips_side": evaluation.lpips_min_side,
        "rfid": rfid["fd"],
        **bound,
        "warnings": [w for w in [sample_size_warning(len(originals), len(originals), extractor.dim)] if w],
    }
    if out_examples is not None:
        write_npz(out_examples, images=rebuilt[:EXAMPLES])
    RECONSTRUCTION.write(out_record, record)
    return record


def _independent_bound(autoencoder, images, reference_features, num_samples, seed, extractor, network, device,
                       evaluation) -> dict:  # fmt: skip
    """rFID and rKID (with its interval) of reconstructions of a seeded draw of `num_samples`
    images independent of the reference; None with the reason when there are none."""
    if images is None:
        none = "none (evaluation.reference: full holds every image)"
        return {"rfid_independent": None, "rkid": None, "rkid_ci_low": None, "rkid_ci_high": None,
                "independent_n": 0, "independent_set": none}  # fmt: skip
    originals = load_images(images)
    chosen = np.sort(np.random.default_rng(seed).permutation(len(originals))[: min(num_samples, len(originals))])
    rebuilt = reconstruct(autoencoder, originals[chosen], device, evaluation.batch_size)
    features = extractor.extract(rebuilt, network, device, evaluation.batch_size, evaluation.resize)
    features = np.asarray(features, np.float64)
    with np.load(reference_features) as ref:
        reference = ref["features"].astype(np.float64)
    result = kid(features, reference, evaluation.confidence, evaluation.interval_groups)
    interval = result.interval
    return {
        "rfid_independent": frechet_of_features(features, reference),
        "rkid": result.estimate,
        "rkid_ci_low": interval.low if interval else None,
        "rkid_ci_high": interval.high if interval else None,
        "independent_n": int(len(chosen)),
        "independent_set": Path(images).stem,
    }
