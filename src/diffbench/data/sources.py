"""Image sources, selected by the dataset's `source` key.

Every source exposes the same two calls: `len(source)` and `source.load(indices)`, which
returns uint8 images (N, H, W, C) at the configured resolution and channels. Indices make the
train/held-out split independent of the source.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np
from PIL import Image, UnidentifiedImageError

from diffbench.data.images import to_array
from diffbench.data.synthetic import render_shapes
from diffbench.errors import DataError
from diffbench.specs import DatasetSpec


class ImageSource(Protocol):
    def __len__(self) -> int: ...

    def load(self, indices: np.ndarray) -> np.ndarray: ...


class SyntheticSource:
    """Deterministic coloured shapes: image i depends only on (seed, i), never on how many are drawn."""

    def __init__(self, name: str, spec: DatasetSpec, allow_download: bool = False):  # nothing to download
        self.spec = spec
        self.size = spec.num_train + spec.num_reference

    def __len__(self) -> int:
        return self.size

    def load(self, indices: np.ndarray) -> np.ndarray:
        spec, res, ch = self.spec, self.spec.resolution, self.spec.channels
        rgb = [render_shapes(spec.seed, int(i), res, spec.max_shapes, spec.shape_radius) for i in indices]
        return _stack(rgb if ch == 3 else [to_array(Image.fromarray(a), res, 1) for a in rgb], res, ch)


class TorchvisionSource:
    """MNIST or CIFAR-10 through torchvision, read from `root`; downloaded there only when allowed.

    In the workflow only the fetch_dataset rule (on the submitting machine) may download; the
    prepare_data job on a compute node reads the root it left.
    """

    def __init__(self, name: str, spec: DatasetSpec, allow_download: bool = False):
        from torchvision import datasets

        self.spec = spec
        cls = {"mnist": datasets.MNIST, "cifar10": datasets.CIFAR10}[spec.source]
        root = Path(spec.root).expanduser()
        try:
            self.dataset = cls(str(root), train=spec.split == "train", download=allow_download)
        except (RuntimeError, OSError) as err:  # torchvision: "Dataset not found"; network errors are OSError
            if allow_download:
                hint = (
                    "the download failed; check the network, or populate the root on a machine with internet "
                    "(docs/running.md, 'Running offline')"
                )
            elif spec.download:
                hint = (
                    "the fetch_dataset rule downloads it on the machine that runs snakemake; this job cannot see "
                    "it there, so the root must be on a filesystem shared with the compute nodes"
                )
            else:
                hint = "set download: true, or populate the root with the torchvision files"
            raise DataError(
                f"datasets.{name}: cannot load {spec.source} ({spec.split} split) from root "
                f"'{root.resolve()}' (config key 'datasets.{name}.root'): {str(err).strip()}. {hint}."
            ) from err

    def __len__(self) -> int:
        return len(self.dataset.data)

    def load(self, indices: np.ndarray) -> np.ndarray:
        data = np.asarray(self.dataset.data)  # MNIST: (N, 28, 28) tensor; CIFAR-10: (N, 32, 32, 3) array
        res, ch = self.spec.resolution, self.spec.channels
        return _stack([to_array(Image.fromarray(data[int(i)]), res, ch) for i in indices], res, ch)


class ImageFolderSource:
    """Every readable image file under `root` (recursive, sorted paths, so the order is stable)."""

    def __init__(self, name: str, spec: DatasetSpec, allow_download: bool = False):  # nothing to download
        self.name, self.spec = name, spec
        root = Path(spec.root).expanduser()
        if not root.is_dir():
            raise DataError(
                f"datasets.{name}: image folder '{root}' does not exist (config key 'datasets.{name}.root')."
            )
        extensions = {ext for ext, fmt in Image.registered_extensions().items() if fmt in Image.OPEN}
        self.paths = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in extensions)
        if not self.paths:
            raise DataError(
                f"datasets.{name}: no image files under '{root}' (config key 'datasets.{name}.root'); "
                f"looked for {sorted(extensions)[:8]}..."
            )
        self.skipped: list[str] = []  # "path: reason" of unreadable files left out (unreadable_files: skip)
        if spec.unreadable_files == "skip":
            readable = []
            for path in self.paths:
                try:
                    self._read(path)
                    readable.append(path)
                except DataError as err:
                    self.skipped.append(f"{path}: {err.__cause__}")
            self.paths = readable
            if not readable:
                raise DataError(
                    f"datasets.{name}: none of the image files under '{root}' can be read: {self.skipped[:3]}"
                )

    def __len__(self) -> int:
        return len(self.paths)

    def load(self, indices: np.ndarray) -> np.ndarray:
        res, ch = self.spec.resolution, self.spec.channels
        return _stack([self._read(self.paths[int(i)]) for i in indices], res, ch)

    def _read(self, path: Path) -> np.ndarray:
        try:
            with Image.open(path) as image:
                image.load()  # decode now, so a truncated file fails here, naming it
                return to_array(image, self.spec.resolution, self.spec.channels)
        except (UnidentifiedImageError, OSError, ValueError) as err:
            raise DataError(f"datasets.{self.name}: cannot read image file '{path}': {err}") from err


def _stack(arrays: list[np.ndarray], resolution: int, channels: int) -> np.ndarray:
    if not arrays:
        return np.zeros((0, resolution, resolution, channels), np.uint8)
    return np.stack(arrays)


# Every source is built as cls(name, spec, allow_download); only torchvision sources download.
SOURCES: dict[str, Callable[[str, DatasetSpec, bool], ImageSource]] = {
    "synthetic": SyntheticSource,
    "mnist": TorchvisionSource,
    "cifar10": TorchvisionSource,
    "imagefolder": ImageFolderSource,
}


TORCHVISION_SOURCES = tuple(name for name, cls in SOURCES.items() if cls is TorchvisionSource)


def open_source(name: str, spec: DatasetSpec, allow_download: bool = False) -> ImageSource:
    """The dataset's images; `allow_download` lets a torchvision source download into its root."""
    return SOURCES[spec.source](name, spec, allow_download)
