"""The LDM first-stage loss (taming-transformers' LPIPSWithDiscriminator, for both autoencoder kinds).

    per pixel:  |x - x_hat| + perceptual_weight * LPIPS(x, x_hat)      (LPIPS is per image, broadcast)
    reduced as the kind does (KL: sum over each image, mean over the batch; VQ: mean), then
    + the kind's regulariser (weighted KL, plus the weighted scale-equivariance L1 where set, from
      its start step on; or the codebook loss)
    + adaptive_weight * discriminator.weight * (-mean D(x_hat))         from discriminator.start_step on

The adaptive weight (Esser et al. 2021, eq. 7) balances the adversarial gradient against the
reconstruction gradient at the decoder's last layer: ||grad nll|| / (||grad g|| + 1e-4), clamped to
[0, 1e4]. From the same step on, each optimiser step of the autoencoder is followed by one of the
PatchGAN on the hinge loss, with the real batch and the step's (detached) reconstructions.
"""

from __future__ import annotations

import dataclasses

import torch
from diffusers.models.modeling_utils import ModelMixin

from diffbench.metrics.lpips import lpips_range_input
from diffbench.models.autoencoders import AutoencoderKind, last_layer
from diffbench.models.discriminator import PatchDiscriminator, hinge_loss
from diffbench.runtime import autocast
from diffbench.specs import AutoencoderSpec


def adaptive_weight(nll: torch.Tensor, generator_loss: torch.Tensor, layer: torch.nn.Parameter) -> torch.Tensor:
    nll_grad = torch.autograd.grad(nll, layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(generator_loss, layer, retain_graph=True)[0]
    return (nll_grad.norm() / (g_grad.norm() + 1e-4)).clamp(0.0, 1e4).detach()


class FirstStageLoss:
    """Callable as the loop's loss (batch, step) and, after each optimiser step, `update(step)` trains
    the discriminator. Its state (discriminator, optimiser, scaler) is part of a checkpoint."""

    def __init__(
        self,
        autoencoder: ModelMixin,
        kind: AutoencoderKind,
        spec: AutoencoderSpec,
        *,
        image_channels: int,
        learning_rate: float,
        device: torch.device,
        precision: str,
        perceptual=None,
    ):
        self.autoencoder, self.kind, self.spec = autoencoder, kind, spec
        # before its start step the scale-equivariance term is off: the kind sees a weight of 0
        self.plain_spec = dataclasses.replace(spec, scale_equivariance_weight=0.0)
        self.device, self.precision = device, precision
        self.perceptual = perceptual  # a frozen lpips.LPIPS, or None when perceptual_weight is 0
        adversarial = spec.discriminator
        self.start = adversarial.start_step  # None: no discriminator
        self.discriminator = None
        self.pending: tuple[torch.Tensor, torch.Tensor] | None = None  # (real, reconstruction) for update()
        if self.start is not None:
            self.discriminator = PatchDiscriminator(image_channels, adversarial.channels, adversarial.layers)
            self.discriminator.to(device).train()
            # taming's discriminator optimiser: Adam, the autoencoder's learning rate, betas (0.5, 0.9)
            self.optimizer = torch.optim.Adam(self.discriminator.parameters(), lr=learning_rate, betas=(0.5, 0.9))
            self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")

    def adversarial(self, step: int) -> bool:
        """Whether the discriminator is on at `step` (the loop's phase: its steps cost more FLOPs)."""
        return self.start is not None and step >= self.start

    def equivariant(self, step: int) -> bool:
        """Whether the scale-equivariance term is on at `step`."""
        return bool(self.spec.scale_equivariance_weight) and step >= self.spec.scale_equivariance_start_step

    def phase(self, step: int) -> tuple[bool, bool]:
        """The loop's phase at `step`: a discriminator and the scale-equivariance term each add FLOPs
        from their start step on."""
        return self.adversarial(step), self.equivariant(step)

    def __call__(self, x: torch.Tensor, step: int) -> tuple[torch.Tensor, dict]:
        spec = self.spec if self.equivariant(step) else self.plain_spec
        reconstruction, regulariser, parts = self.kind.forward(self.autoencoder, x, spec)
        l1 = (x - reconstruction).abs()
        per_pixel = l1
        if self.perceptual is not None:
            side = self.spec.perceptual_min_side
            distance = self.perceptual(lpips_range_input(x, side), lpips_range_input(reconstruction, side))
            per_pixel = l1 + self.spec.perceptual_weight * distance
            parts["perceptual"] = distance.mean().detach()
        if self.kind.pixel_reduction == "sum":
            nll, parts["reconstruction"] = per_pixel.sum((1, 2, 3)).mean(), l1.sum((1, 2, 3)).mean().detach()
        else:
            nll, parts["reconstruction"] = per_pixel.mean(), l1.mean().detach()
        loss = nll + regulariser
        if self.adversarial(step):
            self.discriminator.requires_grad_(False)  # the autoencoder's step needs no discriminator gradients
            generator_loss = -self.discriminator(reconstruction).mean()
            self.discriminator.requires_grad_(True)
            weight = adaptive_weight(nll, generator_loss, last_layer(self.autoencoder))
            weight = weight * self.spec.discriminator.weight
            loss = loss + weight * generator_loss
            parts.update(generator=generator_loss.detach(), adaptive_weight=weight)
            self.pending = (x.detach(), reconstruction.detach())
        return loss, parts

    def update(self, step: int) -> dict:
        """One discriminator step on the batch of the autoencoder step just taken (none before the start)."""
        if self.pending is None:
            return {}
        real, fake = self.pending
        self.pending = None
        self.optimizer.zero_grad(set_to_none=True)
        with autocast(self.device, self.precision):
            loss = hinge_loss(self.discriminator(real), self.discriminator(fake))
        self.scaler.scale(loss).backward()
        self.scaler.step(self.optimizer)
        self.scaler.update()
        return {"discriminator": loss.detach()}

    def state_dict(self) -> dict:
        if self.discriminator is None:
            return {}
        return {
            "discriminator": self.discriminator.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
        }

    def load_state_dict(self, state: dict) -> None:
        if self.discriminator is not None:
            self.discriminator.load_state_dict(state["discriminator"])
            self.optimizer.load_state_dict(state["optimizer"])
            self.scaler.load_state_dict(state["scaler"])

    def describe(self) -> str:
        """The loss in words, for the record and the report."""
        terms = ["L1"]
        if self.perceptual is not None:
            terms.append(f"{self.spec.perceptual_weight:g} LPIPS-{self.spec.perceptual_net}")
        terms.append(f"{self.spec.kl_weight:g} KL" if self.kind.name == "kl" else "codebook")
        if self.kind.name == "kl" and self.spec.scale_equivariance_weight:
            start = self.spec.scale_equivariance_start_step
            terms.append(
                f"{self.spec.scale_equivariance_weight:g} scale equivariance (2x)"
                + (f" from step {start}" if start else "")
            )
        if self.start is not None:
            terms.append(f"{self.spec.discriminator.weight:g} adaptive PatchGAN from step {self.start}")
        return " + ".join(terms)
