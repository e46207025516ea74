"""Reconstruction stage (workflow/rules/reconstruction.smk): a latent model's first stage on
held-out images. The only evaluation stage that loads a diffusers model, so the feature and LPIPS
jobs (evaluate.py) do not import diffusers."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffbench.data.images import load_images
from diffbench.features import EXTRACTORS
from diffbench.metrics.frechet import Moments, frechet_distance, sample_size_warning
from diffbench.metrics.lpips import load_lpips, paired_distances
from diffbench.metrics.reconstruction import psnr_ssim
from diffbench.models.autoencoders import reconstruct
from diffbench.models.pipelines import load_model
from diffbench.records import RECONSTRUCTION, feature_settings
from diffbench.runtime import resolve_device
from diffbench.stages.evaluate import fetched_weights


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
    torch_device = resolve_device(device)
    autoencoder = load_model(model_dir).to(torch_device).autoencoder
    originals = load_images(heldout_images)
    rebuilt = reconstruct(autoencoder, originals, torch_device, evaluation["batch_size"])
    lpips_model = load_lpips(evaluation["lpips_net"], torch_device)
    distances = paired_distances(
        originals, rebuilt, lpips_model, torch_device, evaluation["batch_size"], evaluation["lpips_min_side"]
    )
    extractor = EXTRACTORS[evaluation["feature_extractor"]]
    network = extractor.network(fetched_weights(assets, extractor.name), torch_device, evaluation["channels_last"])
    features = extractor.extract(rebuilt, network, torch_device, evaluation["batch_size"], evaluation["resize"])
    with np.load(heldout_features) as ref:
        ref_stats = Moments.from_npz(ref).statistics()
    rec_stats = Moments.of(features).statistics()
    rfid = frechet_distance(rec_stats["mu"], rec_stats["sigma"], ref_stats["mu"], ref_stats["sigma"])
    record = {
        "model": model,
        **feature_settings(evaluation),
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
