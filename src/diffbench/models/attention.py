"""Which kernel the self-attention layers of a UNet or autoencoder run (sampling.speedups.fused_attention).

diffusers gives every attention layer torch's scaled_dot_product_attention (AttnProcessor2_0:
flash or memory-efficient fused kernels on GPUs, a fused kernel on CPUs) whenever torch has it;
its "default" processor (AttnProcessor, what set_default_attn_processor restores) is the classic
arithmetic: scores by matmul, softmax, weighted sum by matmul, as in the LDM code. The two round
differently, so the fused one is a speed option like the others: chosen in the config, recorded.
UNet2DModel and VQModel have no set_attn_processor, so each layer is set here.
"""

from __future__ import annotations

import torch
from diffusers.models.attention_processor import Attention, AttnProcessor, AttnProcessor2_0

PLAIN_PROCESSORS = (AttnProcessor, AttnProcessor2_0)


def set_attention(module: torch.nn.Module, fused: bool) -> None:
    """Every self-attention layer of `module` on the fused (True) or the classic (False) kernel.
    Layers with another kind of processor (cross-attention, added key/values) are not ours to
    switch: an error names them."""
    layers = [layer for layer in module.modules() if isinstance(layer, Attention)]
    processors = [layer.processor for layer in layers]
    other = sorted({type(p).__name__ for p in processors if not isinstance(p, PLAIN_PROCESSORS)})
    if other:
        raise ValueError(f"{type(module).__name__} has attention processors {other}: only plain self-attention is set")
    processor = AttnProcessor2_0() if fused else AttnProcessor()
    for layer in layers:
        layer.set_processor(processor)
