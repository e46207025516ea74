"""Device, precision, timing and peak-memory helpers shared by training and sampling."""

from __future__ import annotations

import logging
import os
import platform
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import torch

from diffbench.errors import ConfigError
from diffbench.precisions import CUDA_ONLY_PRECISIONS

# tf32: float32 weights and activations whose matmuls and convolutions may run on TF32 tensor
# cores (10-bit mantissa, CUDA only); fp32 is strict float32 everywhere (allow_tf32 below).
DTYPES = {"fp32": torch.float32, "tf32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}


def _visible_devices() -> str:
    return os.environ.get("CUDA_VISIBLE_DEVICES", "unset")


def resolve_device(setting: str) -> torch.device:
    """The config's device; torch sees only the GPUs in CUDA_VISIBLE_DEVICES (what SLURM grants)."""
    if setting == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        logging.getLogger(__name__).warning(
            "device: auto found no CUDA GPU (CUDA_VISIBLE_DEVICES=%s); running on the CPU, as recorded.",
            _visible_devices(),
        )
        return torch.device("cpu")
    if setting == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            f"config key 'device' is cuda, but no CUDA GPU is visible (CUDA_VISIBLE_DEVICES={_visible_devices()}; "
            "check the driver and the job's GPU request); set device: auto or cpu to allow the CPU."
        )
    return torch.device(setting)


def allow_tf32(allowed: bool) -> None:
    """Whether float32 matmuls and cuDNN convolutions may use TF32 on Ampere and later GPUs.

    torch's default lets cuDNN convolutions use TF32 while matmuls stay float32, so a run recorded
    as fp32 would be neither; every job starts strict (jobs.job) and only precision tf32 allows
    it, for both, as NVlabs/edm makes its float32 strict. No effect on a CPU.
    """
    torch.backends.cuda.matmul.allow_tf32 = allowed
    torch.backends.cudnn.allow_tf32 = allowed


def use_precision(precision: str, device: torch.device) -> torch.dtype:
    """Check `precision` against the device, set TF32 accordingly, and return the dtype that
    sampling casts the model to (training keeps float32 weights under autocast)."""
    if precision in CUDA_ONLY_PRECISIONS and device.type != "cuda":
        raise ConfigError(
            f"config key 'precision' is {precision}, which needs a CUDA device (running on {device}); "
            f"{CUDA_ONLY_PRECISIONS[precision]}."
        )
    allow_tf32(precision == "tf32")
    return DTYPES[precision]


def autocast(device: torch.device, precision: str):
    """Mixed-precision context for training (weights stay fp32); fp32 and tf32 = no autocast."""
    if DTYPES[precision] == torch.float32:
        return nullcontext()
    return torch.autocast(device_type=device.type, dtype=DTYPES[precision])


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def device_info(device: torch.device, setting: str | None = None) -> dict:
    """What ran the job. With the config's `setting`, also whether it fell back to the CPU."""
    info = {
        "device": device.type,
        "torch": torch.__version__,
        "host": platform.node(),
        "cuda_visible_devices": _visible_devices(),
    }
    if setting is not None:
        info.update(device_setting=setting, cpu_fallback=setting == "auto" and device.type == "cpu")
    if device.type == "cuda":
        info["device_name"] = torch.cuda.get_device_name(device)
        info["cuda"] = torch.version.cuda
    else:
        info["device_name"] = platform.processor() or platform.machine()
        info["cpu_threads"] = torch.get_num_threads()
    return info


@dataclass
class Stopwatch:
    """Accumulates wall time of named phases, synchronising CUDA so GPU work is counted."""

    device: torch.device
    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        synchronize(self.device)
        start = time.perf_counter()
        try:
            yield
        finally:
            synchronize(self.device)
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start


def reset_peak_memory(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)


def peak_memory(device: torch.device) -> dict:
    """Peak GPU memory since the last reset, allocated to tensors and reserved by torch's caching
    allocator (what the device had to hold: allocated plus the cache), and the process's peak RSS."""
    # ru_maxrss is in KiB on Linux; it is the whole process's peak, baseline included.
    out = {"peak_host_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    if device.type == "cuda":
        out["peak_gpu_memory_mb"] = torch.cuda.max_memory_allocated(device) / 2**20
        out["peak_gpu_reserved_mb"] = torch.cuda.max_memory_reserved(device) / 2**20
    return out
