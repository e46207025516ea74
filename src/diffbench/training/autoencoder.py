"""Train the first-stage autoencoder of a latent model, then fix its latent scaling factor."""

from __future__ import annotations

from pathlib import Path

import torch

from diffbench.data.prepare import load_images, to_model_range
from diffbench.io import atomic_dir, fingerprint
from diffbench.models.autoencoders import AUTOENCODERS
from diffbench.runtime import reset_peak_memory, resolve_device
from diffbench.training.checkpoint import Checkpointing
from diffbench.training.loop import fit
from diffbench.training.records import count_parameters, write_training_outputs


@torch.no_grad()
def latent_std(autoencoder, kind, images: torch.Tensor, generator: torch.Generator, batch_size: int = 256) -> float:
    """Standard deviation of latents z ~ q(z|x) over `images` (float64 accumulation)."""
    total, total_sq, count = 0.0, 0.0, 0
    for start in range(0, len(images), batch_size):
        mean, std = kind.encode(autoencoder, images[start : start + batch_size])
        z = (mean + std * torch.randn(mean.shape, generator=generator).to(mean.device)).double()
        total, total_sq, count = total + z.sum().item(), total_sq + (z * z).sum().item(), count + z.numel()
    variance = total_sq / count - (total / count) ** 2
    return max(variance, 1e-12) ** 0.5


def train_autoencoder(
    *,
    name: str,
    model_spec: dict,
    dataset_spec: dict,
    train_images: str | Path,
    device: str,
    precision: str,
    out_dir: str | Path,
    out_record: str | Path,
    out_loss: str | Path,
    max_scaling_images: int = 4096,
    checkpoint: str | Path | None = None,
) -> dict:
    """`checkpoint`: as for train_diffusion."""
    spec = model_spec["autoencoder"]
    torch_device = resolve_device(device)
    kind = AUTOENCODERS[spec["type"]]
    torch.manual_seed(spec["training"]["seed"])
    autoencoder = kind.build(spec, dataset_spec["channels"], dataset_spec["resolution"]).to(torch_device).train()
    data = torch.from_numpy(load_images(train_images)).to(torch_device)  # uint8 on the device; converted per batch

    def loss_fn(indices, generator):
        x = to_model_range(data[indices.to(torch_device)])
        return kind.loss(autoencoder, x, spec)

    checkpointing = None
    if checkpoint is not None:
        checkpointing = Checkpointing(
            path=Path(checkpoint),
            every=spec["training"]["checkpoint_every"],
            modules={"autoencoder": autoencoder},
            fingerprint=fingerprint("autoencoder", spec, dataset_spec, precision, files=(train_images,)),
        )
    reset_peak_memory(torch_device)
    table, summary = fit(
        parameters=list(autoencoder.parameters()),
        loss_fn=loss_fn,
        num_images=len(data),
        spec=spec["training"],
        device=torch_device,
        precision=precision,
        description=f"{name} autoencoder",
        checkpointing=checkpointing,
    )
    autoencoder.eval()
    # The LDM paper scales latents to unit variance: s = 1 / std(z), estimated on training data.
    subset = to_model_range(data[:max_scaling_images])
    generator = torch.Generator("cpu").manual_seed(spec["training"]["seed"])
    scaling_factor = 1.0 / latent_std(autoencoder, kind, subset, generator)
    autoencoder.register_to_config(scaling_factor=scaling_factor)
    with atomic_dir(out_dir) as tmp:
        autoencoder.save_pretrained(tmp, safe_serialization=True)
    extra = {
        "model": name,
        "stage": "autoencoder",
        "autoencoder_type": spec["type"],
        "downsampling_factor": spec["downsampling_factor"],
        "latent_channels": spec["latent_channels"],
        "parameters": count_parameters(autoencoder),
        "scaling_factor": scaling_factor,
        "precision": precision,
    }
    record = write_training_outputs(
        table=table,
        summary=summary,
        extra=extra,
        device=torch_device,
        device_setting=device,
        out_record=out_record,
        out_loss=out_loss,
    )
    if checkpointing is not None:
        checkpointing.remove()
    return record
