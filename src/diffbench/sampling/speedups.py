"""Options that make sampling faster without changing what is computed (config sampling.speedups).

Each is off by default: it becomes a default only when benchmarks/sampling.py shows a gain with
identical images on the machines the figures are for. Every sampling and throughput result
records which were on (`speedups`), and the report flags compared runs that differ in them.
"""

from __future__ import annotations

import torch

from diffbench.errors import ConfigError
from diffbench.models.attention import set_attention
from diffbench.models.diffusion_model import DiffusionModel
from diffbench.sampling.options import CUDA_GRAPHS_NEED
from diffbench.specs import SpeedupsSpec

# In the order results name them.
SPEEDUPS = ("channels_last", "compile", "fused_attention", "cuda_graphs")
NONE = "none"


def speedups_label(speedups: SpeedupsSpec) -> str:
    """'none', or the options that are on joined by '+' (as results record them)."""
    return "+".join(name for name in SPEEDUPS if getattr(speedups, name)) or NONE


def apply_speedups(model: DiffusionModel, speedups: SpeedupsSpec) -> str:
    """Apply the options that are on to `model` in place; returns their label.

    channels_last: the UNet's and the autoencoder's weights in NHWC layout, so their convolutions
    run on NHWC kernels (the arithmetic is the same, the summation order may differ slightly).
    compile: torch.compile of the UNet's forward, the cost paid at every step (the decoder runs
    once per image); compilation happens at the first call, the untimed warm-up.
    fused_attention: self-attention on torch's fused scaled_dot_product_attention kernels; off,
    on diffusers' classic processor (models/attention.py). Set first, so compile traces it.
    cuda_graphs: compile in mode "reduce-overhead" instead (CUDA only; see _graph_unet).
    """
    label = speedups_label(speedups)
    for module in (model.unet, model.autoencoder):
        if module is not None:
            set_attention(module, fused=speedups.fused_attention)
    if speedups.channels_last:
        for module in (model.unet, model.autoencoder):
            if module is not None:
                module.to(memory_format=torch.channels_last)
    if speedups.cuda_graphs:
        device = next(model.unet.parameters()).device
        if device.type != "cuda":
            raise ConfigError(f"config key 'sampling.speedups.cuda_graphs' (running on {device}): {CUDA_GRAPHS_NEED}.")
        _graph_unet(model.unet)
    elif speedups.compile:
        model.unet.compile()
    return label


def warm_up_calls(speedups: SpeedupsSpec) -> int:
    """UNet calls per batch size the untimed warm-up makes: CUDA graph trees run a function eagerly
    at its first call and record the graph at the second; anything else is ready after one."""
    return 2 if speedups.cuda_graphs else 1


def _graph_unet(unet: torch.nn.Module) -> None:
    """torch.compile the UNet's forward in mode "reduce-overhead": inductor's kernels replayed as a
    CUDA graph, one launch per UNet evaluation instead of one per kernel (small UNets on a GPU are
    bound by launches). A replay overwrites the previous one's outputs, and samplers keep outputs
    across steps (DPM-Solver++'s history), so each output is cloned; each call begins a new step of
    torch's CUDA graph trees. Graphs are recorded in the untimed warm-up (sampler.warm_up)."""
    compiled = torch.compile(unet.forward, mode="reduce-overhead")

    def forward(*args, **kwargs):
        torch.compiler.cudagraph_mark_step_begin()
        out = compiled(*args, **kwargs)
        if isinstance(out, tuple):
            return tuple(value.clone() for value in out)
        out.sample = out.sample.clone()
        return out

    unet.forward = forward
