"""Inception features and FID: diffbench against torch-fidelity's own extraction, in one process.

The reference is what a user would call: `torch_fidelity.calculate_metrics(fid=True)` on two sets
of uint8 images (its DataLoader, its Inception-v3 with the TF-ported weights, its FID). Ours is
`diffbench.features.inception.inception_features` on both sets and `frechet_of_features`, the
path the workflow's feature and metric jobs take. Images: the default experiment's synthetic
shapes (two disjoint sets). Prints images/s of both, the ratio, and the relative FID difference.

    .venv/bin/python benchmarks/features.py [--device cuda] [--images 512] [--side 32] [--channels-last]
        [--fold-batch-norm]

--channels-last runs ours as the workflow does with evaluation.channels_last: true (the network's
convolutions on NHWC kernels), --fold-batch-norm as with evaluation.fold_batch_norm: true (each batch
norm folded into its convolution); the workflow's default is both. The reference always runs the
network as torch-fidelity builds it.

The Inception weights come from the torch hub cache (TORCH_HOME), as in the workflow.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time

import numpy as np
import torch
import torch_fidelity

from diffbench.data.synthetic import render_shapes
from diffbench.errors import UserError
from diffbench.features import EXTRACTORS
from diffbench.features.inception import inception_features, resolve_weights
from diffbench.metrics.frechet import frechet_of_features
from diffbench.runtime import allow_tf32


class UInt8Images(torch.utils.data.Dataset):
    """uint8 NHWC images as torch-fidelity takes them: one uint8 CHW tensor per item."""

    def __init__(self, images: np.ndarray):
        self.images = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.images[index]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--channels-last", action="store_true", help="ours with evaluation.channels_last: true")
    parser.add_argument("--fold-batch-norm", action="store_true", help="ours with evaluation.fold_batch_norm: true")
    args = parser.parse_args()
    device = torch.device(args.device)
    allow_tf32(False)  # strict float32 for both, as the workflow's feature jobs run
    weights = resolve_weights(None)  # the torch hub cache (TORCH_HOME); says how to fetch them when absent
    a = np.stack([render_shapes(0, i, args.side) for i in range(args.images)])
    b = np.stack([render_shapes(1, i, args.side) for i in range(args.images)])
    model = EXTRACTORS["inception-v3-compat"].network(
        weights, device, channels_last=args.channels_last, fold_batch_norm=args.fold_batch_norm
    )

    def ours() -> float:
        fa = inception_features(a, model, device, args.batch_size)
        fb = inception_features(b, model, device, args.batch_size)
        return frechet_of_features(fa, fb)

    def reference() -> float:
        metrics = torch_fidelity.calculate_metrics(
            input1=UInt8Images(a),
            input2=UInt8Images(b),
            fid=True,
            cuda=device.type == "cuda",
            batch_size=args.batch_size,
            feature_extractor_weights_path=str(weights),
            cache=False,
            verbose=False,
        )
        return metrics["frechet_inception_distance"]

    ours(), reference()  # warm-up: weights read, kernels, allocator
    times = {"reference": [], "ours": []}
    for _ in range(args.repeats):
        for name, fn in (("reference", reference), ("ours", ours)):
            start = time.perf_counter()
            fid = fn()
            times[name].append(time.perf_counter() - start)
            times[f"{name}_fid"] = fid
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor() or platform.machine()
    print(f"device {device.type} ({name}), {torch.get_num_threads()} CPU threads; torch {torch.__version__}, "
          f"torch-fidelity {torch_fidelity.__version__}; 2 x {args.images} images of {args.side}x{args.side}, "
          f"batch {args.batch_size}, best of {args.repeats}; ours channels_last={args.channels_last} "
          f"fold_batch_norm={args.fold_batch_norm}")  # fmt: skip
    ref_s, ours_s = min(times["reference"]), min(times["ours"])
    n = 2 * args.images
    relative = abs(times["ours_fid"] - times["reference_fid"]) / abs(times["reference_fid"])
    print(
        f"{'reference img/s':>16}{'ours img/s':>12}{'ours / ref':>12}{'FID ref':>12}{'FID ours':>12}{'rel. diff':>12}"
    )
    print(f"{n / ref_s:>16.1f}{n / ours_s:>12.1f}{ref_s / ours_s:>12.2f}{times['reference_fid']:>12.4f}"
          f"{times['ours_fid']:>12.4f}{relative:>12.1e}")  # fmt: skip


if __name__ == "__main__":
    try:
        main()
    except UserError as err:  # e.g. the weights not fetched: one line, as the CLI says it
        sys.exit(f"error: {err}")
