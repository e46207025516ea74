"""The PatchGAN discriminator of pix2pix, as the LDM/taming first stage uses it.

Written here: no maintained library ships it (diffusers has none; taming-transformers is not a
maintained package). A stack of stride-2 4x4 convolutions with BatchNorm and LeakyReLU(0.2), then
two stride-1 ones, scores overlapping patches of the image as real or reconstructed.
"""

from __future__ import annotations

import torch
from torch import nn


def min_side(layers: int) -> int:
    """The smallest image side that leaves a patch map of at least 1x1 (each stride-1 4x4 conv with
    padding 1 takes one pixel off the side)."""
    return 3 * 2**layers


class PatchDiscriminator(nn.Sequential):
    def __init__(self, image_channels: int, channels: int = 64, layers: int = 3):
        widths = [channels * min(2**i, 8) for i in range(layers + 1)]
        blocks: list[nn.Module] = [nn.Conv2d(image_channels, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for i in range(1, layers + 1):
            stride = 2 if i < layers else 1
            blocks += [
                nn.Conv2d(widths[i - 1], widths[i], 4, stride, 1, bias=False),
                nn.BatchNorm2d(widths[i]),
                nn.LeakyReLU(0.2),
            ]
        blocks.append(nn.Conv2d(widths[-1], 1, 4, 1, 1))
        super().__init__(*blocks)
        for module in self.modules():  # pix2pix's initialisation
            if isinstance(module, nn.Conv2d):
                nn.init.normal_(module.weight, 0.0, 0.02)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.normal_(module.weight, 1.0, 0.02)
                nn.init.zeros_(module.bias)


def hinge_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """The discriminator's hinge loss (taming's default)."""
    return 0.5 * (torch.relu(1.0 - logits_real).mean() + torch.relu(1.0 + logits_fake).mean())
