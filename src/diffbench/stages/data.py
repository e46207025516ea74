"""Data stage (workflow/rules/data.smk): prepare_data splits a dataset deterministically into uint8
training and held-out arrays; prepare_full_data keeps every image (evaluation.reference: full)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from diffbench.data.sources import open_source
from diffbench.errors import DataError
from diffbench.io import write_npz
from diffbench.records import DATA_INFO
from diffbench.specs import DatasetSpec

# Pixel values are mapped to [-1, 1]: the convention of diffusers' pipelines and schedulers
# (clip_sample, DDPMPipeline's output mapping), so trained and pretrained models agree.


def split_indices(size: int, num_reference: int, num_train: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint held-out and train indices from a seeded permutation of the source."""
    order = np.random.default_rng(seed).permutation(size)
    return np.sort(order[:num_reference]), np.sort(order[num_reference : num_reference + num_train])


def prepare_data(
    name: str,
    spec: DatasetSpec | dict,
    train_path: Path,
    heldout_path: Path,
    info_path: Path,
    allow_download: bool = False,
) -> dict:
    spec = DatasetSpec.of(spec)
    source = open_source(name, spec, allow_download)
    needed = spec.num_reference + spec.num_train
    if len(source) < needed:
        raise DataError(
            f"datasets.{name}: the source has {len(source)} images but num_reference + num_train = "
            f"{spec.num_reference} + {spec.num_train} = {needed}; lower them "
            f"(config keys 'datasets.{name}.num_reference' / 'num_train')."
        )
    reference_idx, train_idx = split_indices(len(source), spec.num_reference, spec.num_train, spec.seed)
    skipped = getattr(source, "skipped", [])
    info = {"dataset": name, "spec": spec.as_dict(), "source_size": len(source), "skipped_files": skipped}
    for split, indices, path in (("heldout", reference_idx, heldout_path), ("train", train_idx, train_path)):
        info[split] = _write_images(source, indices, path)
    DATA_INFO.write(info_path, info)
    return info


def prepare_full_data(name: str, spec: DatasetSpec | dict, out_path: Path) -> dict:
    """Every image of the source, in source order: the reference of evaluation.reference: full."""
    source = open_source(name, DatasetSpec.of(spec))
    return _write_images(source, np.arange(len(source)), out_path)


def _write_images(source, indices: np.ndarray, path: Path) -> dict:
    images = source.load(indices)
    write_npz(path, images=images, source_indices=indices)
    return {
        "count": int(len(images)),
        "shape": list(images.shape),
        "sha256": hashlib.sha256(images.tobytes()).hexdigest(),
        "mean_pixel": float(images.mean()) if len(images) else None,
    }
