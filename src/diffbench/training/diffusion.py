"""Train the diffusion UNet, in pixel space or in the latent space of a frozen autoencoder."""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.training_utils import EMAModel

from diffbench.data.prepare import load_images, to_model_range
from diffbench.errors import ModelError
from diffbench.io import fingerprint, read_json
from diffbench.models.autoencoders import AUTOENCODERS
from diffbench.models.build import build_noise_scheduler, build_unet, unet_input
from diffbench.models.pipelines import DiffusionModel, save_model
from diffbench.runtime import reset_peak_memory, resolve_device
from diffbench.training.checkpoint import Checkpointing
from diffbench.training.loop import fit
from diffbench.training.records import count_parameters, write_training_outputs


@torch.no_grad()
def encode_dataset(autoencoder, kind, data: torch.Tensor, batch_size: int = 256):
    """(mean, std) of q(z|x) for every training image, computed once: the autoencoder is frozen."""
    means, stds = [], []
    for start in range(0, len(data), batch_size):
        mean, std = kind.encode(autoencoder, to_model_range(data[start : start + batch_size]))
        means.append(mean)
        stds.append(std)
    return torch.cat(means), torch.cat(stds)


def train_diffusion(
    *,
    name: str,
    model_spec: dict,
    dataset_spec: dict,
    train_images: str | Path,
    autoencoder_dir: str | Path | None,
    device: str,
    precision: str,
    out_dir: str | Path,
    out_record: str | Path,
    out_loss: str | Path,
    checkpoint: str | Path | None = None,
) -> dict:
    """`checkpoint`: where the training state is saved every `training.checkpoint_every` steps and
    resumed from (None: not checkpointed)."""
    spec = model_spec["training"]
    torch_device = resolve_device(device)
    torch.manual_seed(spec["seed"])
    channels, side = unet_input(model_spec, dataset_spec)
    unet = build_unet(model_spec["unet"], channels, side).to(torch_device).train()
    noise_scheduler = build_noise_scheduler(model_spec["diffusion"], model_spec["family"])
    data = torch.from_numpy(load_images(train_images)).to(torch_device)

    autoencoder = None
    if model_spec["family"] == "latent":
        kind = AUTOENCODERS[model_spec["autoencoder"]["type"]]
        found = read_json(Path(autoencoder_dir) / "config.json").get("_class_name")
        if found != kind.model_class.__name__:
            raise ModelError(
                f"models.{name}: {autoencoder_dir} holds a {found}, but 'models.{name}.autoencoder.type' is "
                f"{model_spec['autoencoder']['type']} ({kind.model_class.__name__}); train the autoencoder again "
                "(the train_autoencoder rule, or `diffbench train-autoencoder`)."
            )
        autoencoder = kind.model_class.from_pretrained(autoencoder_dir).to(torch_device).eval()
        latent_mean, latent_std = encode_dataset(autoencoder, kind, data)
        scale = float(autoencoder.config.scaling_factor)

    def clean_batch(indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        indices = indices.to(torch_device)
        if autoencoder is None:
            return to_model_range(data[indices])
        # A fresh z ~ q(z|x) every step, as LDM trains on posterior samples.
        eps = torch.randn(latent_mean[indices].shape, generator=generator).to(torch_device)
        return (latent_mean[indices] + latent_std[indices] * eps) * scale

    prediction_type = model_spec["diffusion"]["prediction_type"]

    def loss_fn(indices, generator):
        x0 = clean_batch(indices, generator)
        noise = torch.randn(x0.shape, generator=generator).to(torch_device)
        t = torch.randint(0, noise_scheduler.config.num_train_timesteps, (len(x0),), generator=generator).to(
            torch_device
        )
        noisy = noise_scheduler.add_noise(x0, noise, t)
        if prediction_type == "epsilon":
            target = noise
        elif prediction_type == "v_prediction":
            target = noise_scheduler.get_velocity(x0, noise, t)
        else:
            target = x0
        return F.mse_loss(unet(noisy, t).sample.float(), target.float()), {}

    ema = None
    if spec["ema_decay"] is not None:
        # Warm-up (power 3/4, for runs shorter than ~100k steps) keeps early EMA weights close to the model.
        ema = EMAModel(unet.parameters(), decay=spec["ema_decay"], use_ema_warmup=True, power=3 / 4)

    checkpointing = None
    if checkpoint is not None:
        inputs = (train_images, *(sorted(Path(autoencoder_dir).glob("*.safetensors")) if autoencoder_dir else []))
        checkpointing = Checkpointing(
            path=Path(checkpoint),
            every=spec["checkpoint_every"],
            modules={"unet": unet},
            ema=ema,
            fingerprint=fingerprint("diffusion", model_spec, dataset_spec, precision, files=inputs),
        )
    reset_peak_memory(torch_device)
    table, summary = fit(
        parameters=list(unet.parameters()),
        loss_fn=loss_fn,
        num_images=len(data),
        spec=spec,
        device=torch_device,
        precision=precision,
        description=f"{name} diffusion",
        after_step=(lambda: ema.step(unet.parameters())) if ema else None,
        checkpointing=checkpointing,
    )
    if ema is not None:
        ema.copy_to(unet.parameters())
    unet.eval()
    save_model(DiffusionModel(unet.cpu(), noise_scheduler, autoencoder.cpu() if autoencoder else None), out_dir)
    extra = {
        "model": name,
        "stage": "diffusion",
        "family": model_spec["family"],
        "dataset": model_spec["dataset"],
        "source": "train",
        "downsampling_factor": model_spec["autoencoder"]["downsampling_factor"] if autoencoder else 1,
        "parameters": count_parameters(unet),
        "autoencoder_parameters": count_parameters(autoencoder) if autoencoder else 0,
        "unet_input": [channels, side, side],
        "ema_decay": spec["ema_decay"],
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
        checkpointing.remove()  # the outputs hold everything now
    return record
