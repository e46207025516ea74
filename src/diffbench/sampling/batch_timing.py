"""Batch timings of the throughput sweep and the arithmetic on them (sampling/throughput.py
measures them). Apart from the sweep so that the report, which reads recorded timings, imports
no torch."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BatchTiming:
    batch_size: int
    unet_s: float  # one UNet evaluation of the whole batch
    decode_s: float  # decoding the whole batch (0 for pixel models)

    def images_per_s(self, nfe: int) -> float:
        return self.batch_size / (nfe * self.unet_s + self.decode_s)


def batch_sizes(max_batch: int) -> list[int]:
    """1, 2, 4, ... below `max_batch`, then `max_batch` itself."""
    sizes = [1 << k for k in range(max_batch.bit_length()) if 1 << k < max_batch]
    return sizes + [max_batch]


def best(timings: list[BatchTiming], nfe: int) -> BatchTiming:
    """The batch size that samples fastest at `nfe` UNet evaluations per image."""
    return max(timings, key=lambda timing: timing.images_per_s(nfe))
