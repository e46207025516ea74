"""Training stages (workflow/rules/train.smk): train_autoencoder, train_diffusion, import_pretrained.

Each reads its rule's inputs, trains or loads, and writes the model folder and its record."""

from __future__ import annotations

import time
from pathlib import Path

import torch
import torch.nn.functional as F
from diffusers.training_utils import EMAModel

from diffbench.config import first_stage_training
from diffbench.data.images import load_images
from diffbench.data.tensors import to_model_range
from diffbench.errors import ModelError
from diffbench.io import atomic_dir, fingerprint, read_json
from diffbench.metrics.lpips import load_lpips
from diffbench.models.autoencoders import AUTOENCODERS
from diffbench.models.build import build_noise_scheduler, build_unet, unet_input
from diffbench.models.diffusion_model import DiffusionModel, denoiser_architecture, noise_schedule
from diffbench.records import AUTOENCODER_TRAINING, MODEL_ASSETS, PRETRAINED, TRAINING
from diffbench.runtime import Stopwatch, reset_peak_memory, resolve_device, use_precision
from diffbench.sampling.pipeline_io import load_model, save_model
from diffbench.specs import DatasetSpec, ModelSpec, TrainingSpec
from diffbench.training.budget import Budget
from diffbench.training.checkpoint import Checkpointing
from diffbench.training.first_stage import FirstStageLoss
from diffbench.training.latents import encode_dataset, encode_gflops_per_image, latent_std
from diffbench.training.loop import fit
from diffbench.training.outputs import count_parameters, write_training_outputs


def train_autoencoder(
    *,
    name: str,
    model_spec: ModelSpec | dict,
    dataset_spec: DatasetSpec | dict,
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
    model, dataset = ModelSpec.of(model_spec), DatasetSpec.of(dataset_spec)
    spec = model.autoencoder
    # budget_share resolved against the model's total
    training = TrainingSpec.of(first_stage_training(model.as_dict()))
    torch_device = resolve_device(device)
    use_precision(precision, torch_device)  # weights stay float32: autocast casts per op
    kind = AUTOENCODERS[spec.type]
    torch.manual_seed(spec.training.seed)
    autoencoder = kind.build(spec, dataset.channels, dataset.resolution).to(torch_device).train()
    data = torch.from_numpy(load_images(train_images)).to(torch_device)  # uint8 on the device; converted per batch
    perceptual = None
    if spec.perceptual_weight > 0:
        perceptual = load_lpips(spec.perceptual_net, torch_device, f"models.{name}.autoencoder.perceptual_net")
    first_stage_loss = FirstStageLoss(
        autoencoder,
        kind,
        spec,
        image_channels=dataset.channels,
        learning_rate=spec.training.learning_rate,
        device=torch_device,
        precision=precision,
        perceptual=perceptual,
    )

    def loss_fn(indices, generator, step):
        return first_stage_loss(to_model_range(data[indices.to(torch_device)]), step)

    checkpointing = None
    if checkpoint is not None:
        checkpointing = Checkpointing(
            path=Path(checkpoint),
            every=spec.training.checkpoint_every,
            modules={"autoencoder": autoencoder, "first_stage_loss": first_stage_loss},
            fingerprint=fingerprint(
                "autoencoder", spec.as_dict(), training.as_dict(), dataset.as_dict(), precision, files=(train_images,)
            ),
        )
    budget = Budget.of(training)  # budget_share resolved against the model's total
    reset_peak_memory(torch_device)
    table, summary = fit(
        parameters=list(autoencoder.parameters()),
        loss_fn=loss_fn,
        num_images=len(data),
        spec=training,
        device=torch_device,
        precision=precision,
        description=f"{name} autoencoder",
        update=first_stage_loss.update,
        phase=first_stage_loss.adversarial,
        checkpointing=checkpointing,
        budget=budget,
    )
    autoencoder.eval()
    # The LDM paper scales latents to unit variance: s = 1 / std(z), estimated on training data.
    # Its cost is part of the first stage's (budget_scope: total charges it to the model).
    clock = Stopwatch(torch_device)
    with clock.phase("scaling"):
        subset = to_model_range(data[:max_scaling_images])
        generator = torch.Generator("cpu").manual_seed(spec.training.seed)
        scaling_factor = 1.0 / latent_std(autoencoder, kind, subset, generator)
    scaling_gflops = encode_gflops_per_image(autoencoder, kind, data) * len(subset)
    autoencoder.register_to_config(scaling_factor=scaling_factor)
    with atomic_dir(out_dir) as tmp:
        autoencoder.save_pretrained(tmp, safe_serialization=True)
    extra = {
        "model": name,
        "stage": "autoencoder",
        "autoencoder_type": spec.type,
        "first_stage_loss": first_stage_loss.describe(),
        "downsampling_factor": spec.downsampling_factor,
        "latent_channels": spec.latent_channels,
        "parameters": count_parameters(autoencoder),
        "scaling_factor": scaling_factor,
        "scaling_s": clock.seconds["scaling"],
        "scaling_gflops": scaling_gflops,
        "precision": precision,
        "budget_share": training.budget_share,
        "budget": budget.describe(),  # the limits it trained under (budget_share resolved)
    }
    return write_training_outputs(
        table=table,
        summary=summary,
        extra=extra,
        device=torch_device,
        device_setting=device,
        out_record=out_record,
        out_loss=out_loss,
        kind=AUTOENCODER_TRAINING,
        checkpointing=checkpointing,
    )


def train_diffusion(
    *,
    name: str,
    model_spec: ModelSpec | dict,
    dataset_spec: DatasetSpec | dict,
    train_images: str | Path,
    autoencoder_dir: str | Path | None,
    device: str,
    precision: str,
    out_dir: str | Path,
    out_record: str | Path,
    out_loss: str | Path,
    checkpoint: str | Path | None = None,
    autoencoder_record: str | Path | None = None,
) -> dict:
    """`checkpoint`: where the training state is saved every `training.checkpoint_every` steps and
    resumed from (None: not checkpointed). `autoencoder_record`: a latent model's first-stage
    record, whose seconds and GFLOPs are part of the model's training cost."""
    model, dataset = ModelSpec.of(model_spec), DatasetSpec.of(dataset_spec)
    spec = model.training
    torch_device = resolve_device(device)
    use_precision(precision, torch_device)  # weights stay float32: autocast casts per op
    torch.manual_seed(spec.seed)
    channels, side = unet_input(model, dataset)
    unet = build_unet(model.unet, channels, side).to(torch_device).train()
    data = torch.from_numpy(load_images(train_images)).to(torch_device)
    x0_range = 1.0  # pixels in [-1, 1]; a latent model's: its scaled training latents' (below)

    autoencoder = None
    clock = Stopwatch(torch_device)
    stage_seconds: dict[str, float] = {}  # every training stage of this model, in order
    stage_gflops: dict[str, float] = {}
    if model.latent:
        kind = AUTOENCODERS[model.autoencoder.type]
        found = read_json(Path(autoencoder_dir) / "config.json").get("_class_name")
        if found != kind.model_class.__name__:
            raise ModelError(
                f"models.{name}: {autoencoder_dir} holds a {found}, but 'models.{name}.autoencoder.type' is "
                f"{model.autoencoder.type} ({kind.model_class.__name__}); train the autoencoder again "
                "(the train_autoencoder rule)."
            )
        autoencoder = kind.model_class.from_pretrained(autoencoder_dir).to(torch_device).eval()
        first_stage = AUTOENCODER_TRAINING.read(autoencoder_record)
        with clock.phase("encoding"):
            latent_mean, latent_std = encode_dataset(autoencoder, kind, data)
        scale = float(autoencoder.config.scaling_factor)
        # What the denoiser learns spans +-x0_range; samplers clamp x0 there (diffusion.x0_clamp), as pixels at 1.
        x0_range = float(latent_mean.abs().max()) * scale
        stage_seconds.update(
            autoencoder=first_stage["wall_time_s"], scaling_factor=first_stage["scaling_s"],
            encoding=clock.seconds["encoding"],
        )  # fmt: skip
        stage_gflops.update(
            autoencoder=first_stage["train_gflops"], scaling_factor=first_stage["scaling_gflops"],
            encoding=encode_gflops_per_image(autoencoder, kind, data) * len(data),
        )  # fmt: skip
    noise_scheduler = build_noise_scheduler(model.diffusion, x0_range)
    # budget_scope total: the first stage's cost comes out of the model's seconds and GFLOPs.
    scope = model.budget_scope
    budget = Budget.for_denoiser(spec, scope, sum(stage_seconds.values()), sum(stage_gflops.values()))
    if budget.nothing_left() is not None:
        raise ModelError(
            f"models.{name}: its first stage already used {budget.spent_seconds:.1f} s and "
            f"{budget.spent_gflops:.4g} GFLOPs of the model's budget ('models.{name}.training' max_seconds "
            f"{spec.max_seconds}, max_gflops {spec.max_gflops}; budget_scope: total), leaving nothing for "
            f"the denoiser. Raise the budget, lower 'models.{name}.autoencoder.training', or set budget_scope: "
            "denoiser (first stage amortised)."
        )

    def clean_batch(indices: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        indices = indices.to(torch_device)
        if autoencoder is None:
            return to_model_range(data[indices])
        # A fresh z ~ q(z|x) every step, as LDM trains on posterior samples.
        eps = torch.randn(latent_mean[indices].shape, generator=generator, device=generator.device)
        return (latent_mean[indices] + latent_std[indices] * eps) * scale

    prediction_type = model.diffusion.prediction_type

    def loss_fn(indices, generator, step):
        x0 = clean_batch(indices, generator)
        noise = torch.randn(x0.shape, generator=generator, device=generator.device)
        t = torch.randint(
            0, noise_scheduler.config.num_train_timesteps, (len(x0),), generator=generator, device=generator.device
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
    if spec.ema_decay is not None:
        # Warm-up (power 3/4, for runs shorter than ~100k steps) keeps early EMA weights close to the model.
        # foreach: one multi-tensor update instead of a Python loop over the parameters.
        ema = EMAModel(unet.parameters(), decay=spec.ema_decay, use_ema_warmup=True, power=3 / 4, foreach=True)

    checkpointing = None
    if checkpoint is not None:
        inputs = (train_images, *(sorted(Path(autoencoder_dir).glob("*.safetensors")) if autoencoder_dir else []))
        checkpointing = Checkpointing(
            path=Path(checkpoint),
            every=spec.checkpoint_every,
            modules={"unet": unet},
            ema=ema,
            fingerprint=fingerprint("diffusion", model.as_dict(), dataset.as_dict(), precision, files=inputs),
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
        budget=budget,
    )
    stage_seconds["denoiser"], stage_gflops["denoiser"] = summary["wall_time_s"], summary["train_gflops"]
    if ema is not None:
        ema.copy_to(unet.parameters())
    unet.eval()
    save_model(DiffusionModel(unet.cpu(), noise_scheduler, autoencoder.cpu() if autoencoder else None), out_dir)
    extra = {
        "model": name,
        "stage": "diffusion",
        "family": model.family,
        "dataset": model.dataset,
        "source": "train",
        "downsampling_factor": model.downsampling_factor,
        "parameters": count_parameters(unet),
        "autoencoder_parameters": count_parameters(autoencoder) if autoencoder else 0,
        "unet_input": [channels, side, side],
        "noise_schedule": noise_schedule(noise_scheduler),
        "denoiser_architecture": denoiser_architecture(unet),
        "x0_range": x0_range,
        "ema_decay": spec.ema_decay,
        "precision": precision,
        "budget_scope": scope,
        "budget": budget.describe(),
        "stage_seconds": stage_seconds,
        "stage_gflops": stage_gflops,
        "total_train_s": sum(stage_seconds.values()),
        "total_train_gflops": sum(stage_gflops.values()),
    }
    return write_training_outputs(
        table=table,
        summary=summary,
        extra=extra,
        device=torch_device,
        device_setting=device,
        out_record=out_record,
        out_loss=out_loss,
        kind=TRAINING,
        checkpointing=checkpointing,
    )


def import_pretrained(
    *,
    name: str,
    model_spec: ModelSpec | dict,
    dataset_spec: DatasetSpec | dict,
    out_dir: str | Path,
    out_record: str | Path,
    fetched: str | Path | None = None,
) -> dict:
    """`fetched`: the fetch_pretrained record, whose hub commit is recorded (a branch name moves)."""
    spec, dataset = ModelSpec.of(model_spec), DatasetSpec.of(dataset_spec)
    source = spec.pretrained
    key = f"models.{name}.pretrained.id"
    try:
        model = load_model(source.id, revision=source.revision)
    except (OSError, ValueError) as err:
        raise ModelError(
            f"models.{name}: cannot load pretrained model {source.id!r} (config key '{key}'): {err}\n"
            "Use an existing hub id or a local diffusers folder; on an offline machine, fetch it first "
            "into HF_HOME and set HF_HUB_OFFLINE=1 (docs/running.md, 'Running offline')."
        ) from err
    if model.family != spec.family:
        raise ModelError(
            f"models.{name}: {source.id!r} is a {model.family} model (autoencoder: "
            f"{type(model.autoencoder).__name__ if model.autoencoder else 'none'}) but the config says "
            f"family: {spec.family}; fix 'models.{name}.family'."
        )
    expected_channels = dataset.channels
    out_channels = (model.autoencoder or model.unet).config.out_channels
    if out_channels != expected_channels:
        raise ModelError(
            f"models.{name}: {source.id!r} makes {out_channels}-channel images but dataset "
            f"{spec.dataset!r} has channels: {expected_channels}; "
            f"fix 'datasets.{spec.dataset}.channels'."
        )
    side = model.unet.config.sample_size
    if model.autoencoder is not None:
        side *= 2 ** (len(model.autoencoder.config.block_out_channels) - 1)
    if side != dataset.resolution:
        raise ModelError(
            f"models.{name}: {source.id!r} makes {side}x{side} images but dataset {spec.dataset!r} "
            f"has resolution: {dataset.resolution}; fix 'datasets.{spec.dataset}.resolution'."
        )
    if source.latent_scaling_factor is not None:
        model.autoencoder.register_to_config(scaling_factor=source.latent_scaling_factor)
    elif model.autoencoder is not None and "scaling_factor" in model.autoencoder.config.get("_use_default_values", []):
        # diffusers would fill in its class default (0.18215, Stable Diffusion's), which scales every latent
        raise ModelError(
            f"models.{name}: the autoencoder of {source.id!r} has no scaling_factor in its config, and "
            f"'models.{name}.pretrained.latent_scaling_factor' is null; set it (1.0 for CompVis/ldm-celebahq-256, "
            "whose UNet was trained on unscaled latents) rather than take diffusers' default of "
            f"{model.autoencoder.config.scaling_factor}."
        )
    save_model(model, out_dir)
    record = {
        "model": name,
        "stage": "diffusion",
        "family": model.family,
        "dataset": spec.dataset,
        "source": "pretrained",
        "pretrained_id": source.id,
        "revision": source.revision,
        "pretrained_commit": MODEL_ASSETS.read(fetched).get("commit") if fetched else None,
        "downsampling_factor": side // model.unet.config.sample_size,
        "parameters": count_parameters(model.unet),
        "autoencoder_parameters": count_parameters(model.autoencoder) if model.autoencoder else 0,
        "scaling_factor": model.scaling_factor if model.autoencoder else None,
        "scheduler": type(model.scheduler).__name__,
        "noise_schedule": noise_schedule(model.scheduler),
        "denoiser_architecture": denoiser_architecture(model.unet),
        "x0_range": 1.0 if model.autoencoder is None else None,  # a checkpoint's latents' range is not known
        "unet_input": [model.unet.config.in_channels, model.unet.config.sample_size, model.unet.config.sample_size],
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    PRETRAINED.write(out_record, record)
    return record
