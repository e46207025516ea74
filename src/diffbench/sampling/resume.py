"""Finished sampling batches, kept as they complete, so a killed sampling job resumes.

Each batch is written atomically (images, seeds and its timings) into a folder beside the
shard's outputs, which Snakemake does not delete when the job fails. Because every image has its
own seed, a batch computed before the kill equals the one an uninterrupted run computes, so the
resumed shard is identical. A fingerprint of the model files and settings keeps batches of other
settings from being reused; the folder is removed once the shard is written.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

import numpy as np

from diffbench.io import atomic_path, write_npz

log = logging.getLogger(__name__)


class BatchStore:
    def __init__(self, folder: str | Path, fingerprint: str):
        self.folder = Path(folder)
        marker = self.folder / "fingerprint"
        if marker.is_file() and marker.read_text() != fingerprint:
            log.warning("%s holds batches of other settings; sampling them again.", self.folder)
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(marker) as tmp:
            tmp.write_text(fingerprint)

    def _path(self, seeds: list[int]) -> Path:
        return self.folder / f"{seeds[0]:06d}-{len(seeds)}.npz"

    def load(self, seeds: list[int]) -> tuple[np.ndarray, dict] | None:
        """(uint8 images, timings) of a finished batch with exactly these seeds, else None."""
        path = self._path(seeds)
        if not path.is_file():
            return None
        with np.load(path) as data:
            if data["seeds"].tolist() != list(seeds):
                return None
            return data["images"], json.loads(str(data["stats"]))

    def save(self, seeds: list[int], images: np.ndarray, stats: dict) -> None:
        write_npz(
            self._path(seeds),
            images=images,
            seeds=np.asarray(seeds, dtype=np.int64),
            stats=np.asarray(json.dumps(stats)),
        )

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)
