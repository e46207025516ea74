"""Evaluation stages that run a network (workflow/rules/evaluate.smk): Inception/DINOv2 features of
reference and sample sets, LPIPS. The stages that only read stored features are in merge.py,
distribution.py and compare.py; reconstruction.py loads the autoencoder.

Each stage reads and writes files; the numbers come from the pure functions in
diffbench.metrics. Every result JSON carries the settings that define it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from diffbench.errors import MissingWeights, ResultError
from diffbench.features import EXTRACTORS
from diffbench.io import write_npz
from diffbench.metrics.frechet import Moments
from diffbench.metrics.lpips import convergence, diversity, load_lpips
from diffbench.records import EVALUATION_ASSETS, LPIPS
from diffbench.runtime import device_info, resolve_device
from diffbench.specs import EvaluationSpec


def fetched_weights(assets: str | Path, extractor: str) -> Path:
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
    *, images: str | Path, assets: str | Path, evaluation: EvaluationSpec | dict, device: str, out_features: str | Path
) -> dict:
    """float32 features of a set of images plus their exact float64 moments.

    Generated images that had NaN/inf values (stored as zeros, marked in `finite`) are left out,
    so they never enter FID; their count is kept as `nonfinite_excluded`.
    """
    evaluation = EvaluationSpec.of(evaluation)
    extractor = EXTRACTORS[evaluation.feature_extractor]
    torch_device = resolve_device(device)
    network = extractor.network(
        fetched_weights(assets, extractor.name),
        torch_device,
        channels_last=evaluation.channels_last,
        fold_batch_norm=evaluation.fold_batch_norm,
    )
    pixels, _, finite = load_samples(images)
    features = extractor.extract(pixels[finite], network, torch_device, evaluation.batch_size, evaluation.resize)
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
    *, images: str | Path, assets: str | Path, evaluation: EvaluationSpec | dict, device: str, out_features: str | Path
) -> dict:
    """Features of a dataset's reference set (evaluation.reference), shared by every model evaluated on
    it; reconstruction metrics also use the held-out set's."""
    return _extract_features(
        images=images, assets=assets, evaluation=evaluation, device=device, out_features=out_features
    )


def sample_feature_shard(
    *, images: str | Path, assets: str | Path, evaluation: EvaluationSpec | dict, device: str, out_features: str | Path
) -> dict:
    """Features of one sampling shard, on the node that sampled it; merged by sample_features."""
    return _extract_features(
        images=images, assets=assets, evaluation=evaluation, device=device, out_features=out_features
    )


def load_samples(path: str | Path) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """Images, their seeds (None for data sets) and finite mask (all True for data sets)."""
    with np.load(path) as data:
        images = data["images"]
        seeds = data["seeds"] if "seeds" in data else None
        finite = data["finite"] if "finite" in data else np.ones(len(images), dtype=bool)
    return images, seeds, finite


def lpips_metrics(
    *,
    images: str | Path,
    reference_run_images: str | Path,
    reference_steps: int,
    assets: str | Path,
    run: dict,
    evaluation: EvaluationSpec | dict,
    device: str,
    out_record: str | Path,
) -> dict:
    """LPIPS diversity of one sample set and its convergence towards the same seeds at `reference_steps`."""
    evaluation = EvaluationSpec.of(evaluation)
    EVALUATION_ASSETS.read(assets)  # the backbone must have been fetched
    torch_device = resolve_device(device)
    model = load_lpips(evaluation.lpips_net, torch_device)
    these, seeds, finite = load_samples(images)
    reference, reference_seeds, reference_finite = load_samples(reference_run_images)
    if seeds.tolist() != reference_seeds.tolist():
        raise ResultError(f"{images} and {reference_run_images} hold different seeds; rerun the sampling")
    both = finite & reference_finite  # NaN/inf images (stored as zeros) are left out, as for FID
    side = evaluation.lpips_min_side
    record = {
        **run,
        "lpips_net": evaluation.lpips_net,
        **diversity(these[finite], model, torch_device, evaluation.diversity_pairs, min_side=side),
        **convergence(these[both], reference[both], model, torch_device, min_side=side),
        "convergence_reference_steps": reference_steps,
        "n_nonfinite_excluded": int((~finite).sum()),
    }
    LPIPS.write(out_record, record)
    return record
