"""Training stages (workflow/rules/train.smk): train_autoencoder, train_diffusion, milestone_snapshot,
import_pretrained.

Each reads its rule's inputs, trains or loads, and writes the model folder and its record."""

from __future__ import annotations

import copy
import shutil
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
import torch
from diffusers.models.modeling_utils import ModelMixin
from diffusers.training_utils import EMAModel

from diffbench.data.images import load_images
from diffbench.data.tensors import to_model_range
from diffbench.errors import ModelError, ResultError
from diffbench.experiment import milestone_name
from diffbench.io import atomic_dir, fingerprint, read_json
from diffbench.metrics.lpips import load_lpips
from diffbench.models.autoencoders import AUTOENCODERS
from diffbench.models.build import build_noise_scheduler, build_unet, unet_input
from diffbench.models.diffusion_model import DiffusionModel, denoiser_architecture, noise_schedule
from diffbench.records import AUTOENCODER_TRAINING, MILESTONE, MODEL_ASSETS, PRETRAINED, TRAINING
from diffbench.runtime import Stopwatch, reset_peak_memory, resolve_device, use_precision
from diffbench.sampling.pipeline_io import load_model, save_model
from diffbench.specs import DatasetSpec, ModelSpec, TrainingSpec
from diffbench.training.budget import LIMITS, Budget
from diffbench.training.checkpoint import Checkpointing
from diffbench.training.diffusion_loss import DenoiserData, DiffusionLoss
from diffbench.training.first_stage import FirstStageLoss
from diffbench.training.latents import encode_dataset, encode_gflops_per_image, latent_std
from diffbench.training.loop import fit
from diffbench.training.noise_levels import TimestepSampler
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
    training = model.first_stage_training()
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
        phase=first_stage_loss.phase,
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
    out_states: str | Path | None = None,
    checkpoint: str | Path | None = None,
    autoencoder_record: str | Path | None = None,
    states_staging: str | Path | None = None,
) -> dict:
    """`checkpoint`: where the training state is saved every `training.checkpoint_every` steps and
    resumed from (None: not checkpointed). `autoencoder_record`: a latent model's first-stage
    record, whose seconds and GFLOPs are part of the model's training cost. `out_states`: where the
    whole training states at `training.kept_states`' ladder go (None: not kept), from which
    `milestone_snapshot` trains each milestone; `states_staging`: where they wait until training ends
    (outside the outputs, so a killed job keeps them; None: beside `out_states`). Milestones are
    not this run's business: its fingerprint and outputs leave them out, so adding one retrains
    nothing."""
    run = _DenoiserRun.build(
        name, ModelSpec.of(model_spec), DatasetSpec.of(dataset_spec), train_images, autoencoder_dir,
        autoencoder_record, device, precision,
    )  # fmt: skip
    model = run.model
    kept = None
    if out_states is not None and run.budget.points:
        kept = _KeptStates(run, Path(states_staging) if states_staging else Path(f"{out_states}.staging"))
    checkpointing = run.checkpointing(checkpoint, model.training.checkpoint_every) if checkpoint else None
    reset_peak_memory(run.device)
    table, summary = run.fit(run.budget, checkpointing, at_point=kept)
    save_model(run.ema_model(), out_dir)
    states = kept.publish(out_states) if kept is not None else []
    if out_states is not None and kept is None:
        Path(out_states).mkdir(parents=True, exist_ok=True)  # no point on the ladder: an empty output
    seconds = {**run.first.seconds, "denoiser": summary["wall_time_s"]}  # every training stage, in order
    gflops = {**run.first.gflops, "denoiser": summary["train_gflops"]}
    autoencoder = run.first.autoencoder
    extra = {
        "model": name,
        "stage": "diffusion",
        "family": model.family,
        "dataset": model.dataset,
        "source": "train",
        "downsampling_factor": model.downsampling_factor,
        "parameters": count_parameters(run.unet),
        "autoencoder_parameters": count_parameters(autoencoder) if autoencoder else 0,
        "unet_input": list(run.unet_input),
        "noise_schedule": noise_schedule(run.noise_scheduler),
        "noise_levels": run.timesteps.describe(),
        "denoiser_architecture": denoiser_architecture(run.unet),
        "x0_range": run.first.data.x0_range,
        "ema_decay": model.training.ema_decay,
        "precision": precision,
        "budget_scope": model.budget_scope,
        "budget": run.budget.describe(),
        "stage_seconds": seconds,
        "stage_gflops": gflops,
        "total_train_s": sum(seconds.values()),
        "total_train_gflops": sum(gflops.values()),
        "kept_states": states,
    }
    record = write_training_outputs(
        table=table,
        summary=summary,
        extra=extra,
        device=run.device,
        device_setting=device,
        out_record=out_record,
        out_loss=out_loss,
        kind=TRAINING,
        checkpointing=checkpointing,
    )
    if kept is not None:
        shutil.rmtree(kept.staging, ignore_errors=True)  # the outputs hold the states now
    return record


def milestone_snapshot(
    *,
    name: str,
    model_spec: ModelSpec | dict,
    dataset_spec: DatasetSpec | dict,
    milestone: float,
    train_images: str | Path,
    autoencoder_dir: str | Path | None,
    states_dir: str | Path,
    training_record: str | Path,
    training_loss: str | Path,
    device: str,
    precision: str,
    out_dir: str | Path,
    out_record: str | Path,
    autoencoder_record: str | Path | None = None,
) -> dict:
    """The EMA model at `milestone` (in the budget's unit and scope): the model's run resumed from
    its nearest kept state at or below the milestone (`states_dir`, train_diffusion's; from step 0
    where there is none) and stopped by the milestone as its limit, as a run with that budget would
    stop (the learning rate is constant after warm-up, so the two are the same run; on a CPU the
    same weights: the replay runs on the run's thread count, whose kernels sum in the same order).
    The record gives where the milestone stands in the model's run; the training this job did to
    get there (`replayed_steps`, `replay_s`) is not part of the model's cost.

    The seconds are the model's run's own: its clock at the milestone's step (`training_loss`, the
    run's per-step table), so this job is not timed and can run beside others. A milestone in
    seconds is the step at which that clock passed it (the replay's clock would pass it elsewhere).
    `training_record`: the model's run's, whose first-stage seconds (the encoding's were measured
    there) the milestone's budget and cost take, so both stand on the same first stage."""
    trained = TRAINING.read(training_record)
    run_clock = _run_clock(training_loss)
    run = _DenoiserRun.build(
        name, ModelSpec.of(model_spec), DatasetSpec.of(dataset_spec), train_images, autoencoder_dir,
        autoencoder_record, device, precision, first_stage_seconds=trained["stage_seconds"],
    )  # fmt: skip
    budget = run.budget
    unit = LIMITS[budget.unit_limit]
    if budget.spent(0, 0.0, 0.0) >= milestone:
        raise ModelError(
            f"models.{name}: its first stage used {budget.spent(0, 0.0, 0.0):.4g} {unit} of the model's budget, "
            f"past milestone {milestone:g} ('models.{name}.training.milestones', budget_scope: total); move the "
            "milestones beyond it."
        )
    stop = budget.stopping_at(milestone)
    if budget.unit_limit == "max_seconds":
        stop = budget.stopping_after(_step_passing(run_clock, budget, milestone, training_loss))
    start = max((p for p in budget.points if p <= milestone and _state_file(states_dir, p).is_file()), default=None)
    checkpointing = run.checkpointing(_state_file(states_dir, start), None) if start is not None else None
    if run.device.type == "cpu" and trained.get("cpu_threads"):
        torch.set_num_threads(trained["cpu_threads"])
    clock = time.perf_counter()
    _, summary = run.fit(stop, checkpointing)
    replay_s = time.perf_counter() - clock
    if summary["steps"] not in run_clock:
        raise ResultError(
            f"{training_loss} has no row for step {summary['steps']} of {name}'s run (milestone {milestone:g}); "
            f"rerun train_diffusion for {name}."
        )
    denoiser_s = run_clock[summary["steps"]]
    with atomic_dir(out_dir) as tmp:
        save_model(run.ema_model(), tmp)
    return MILESTONE.write(out_record, {
        "model": name, "milestone": milestone, "unit": unit, "step": summary["steps"],
        "images_seen": summary["images_seen"], "denoiser_s": denoiser_s,
        "denoiser_gflops": summary["train_gflops"],
        "total_train_s": sum(run.first.seconds.values()) + denoiser_s,
        "total_train_gflops": sum(run.first.gflops.values()) + summary["train_gflops"],
        "ema_decay": run.model.training.ema_decay, "trained_from": start,
        "replayed_steps": summary["steps"] - summary["resumed_from_step"], "replay_s": replay_s,
        "device": str(run.device),
    })  # fmt: skip


def _run_clock(training_loss: str | Path) -> dict[int, float]:
    """The model's run's training seconds after each of its steps (its per-step loss table)."""
    table = pd.read_csv(training_loss, usecols=["step", "elapsed_s"])
    return dict(zip(table["step"].astype(int), table["elapsed_s"].astype(float), strict=True))


def _step_passing(run_clock: dict[int, float], budget: Budget, milestone: float, training_loss: str | Path) -> int:
    """The first step after which the model's run had spent `milestone` seconds (its budget's scope)."""
    passed = [step for step, elapsed in run_clock.items() if budget.spent(step, elapsed, 0.0) >= milestone]
    if not passed:
        raise ResultError(
            f"the run in {training_loss} never reached milestone {milestone:g} s; it lies past the run's end."
        )
    return min(passed)


def _state_file(states_dir: str | Path, point: float) -> Path:
    return Path(states_dir) / f"{milestone_name(round(point, 6))}.pt"


@dataclass
class _DenoiserRun:
    """A denoiser's training run, put together the same way for the model's run and for each
    milestone's, so that a milestone resumes exactly the run its kept state comes from."""

    name: str
    model: ModelSpec
    device: torch.device
    unet: torch.nn.Module
    unet_input: tuple[int, int, int]
    num_images: int
    first: FirstStage
    noise_scheduler: object
    timesteps: TimestepSampler
    loss: DiffusionLoss
    budget: Budget
    ema: EMAModel | None
    precision: str
    fingerprint: str

    @classmethod
    def build(cls, name, model: ModelSpec, dataset: DatasetSpec, train_images, autoencoder_dir, autoencoder_record,
              device: str, precision: str, first_stage_seconds: dict | None = None) -> _DenoiserRun:  # fmt: skip
        """`first_stage_seconds`: the seconds of each earlier stage as the model's run measured them
        (a milestone's job takes these rather than its own encoding's)."""
        model = model.training_run()  # milestones are separate jobs: they change nothing of the run
        torch_device = resolve_device(device)
        use_precision(precision, torch_device)  # weights stay float32: autocast casts per op
        torch.manual_seed(model.training.seed)
        channels, side = unet_input(model, dataset)
        unet = build_unet(model.unet, channels, side).to(torch_device).train()
        images = torch.from_numpy(load_images(train_images)).to(torch_device)
        first = FirstStage.load(name, model, autoencoder_dir, autoencoder_record, images)
        if first_stage_seconds is not None:
            first = replace(first, seconds={k: v for k, v in first_stage_seconds.items() if k != "denoiser"})
        noise_scheduler = build_noise_scheduler(model.diffusion, first.data.x0_range)
        timesteps = TimestepSampler(model.diffusion, noise_scheduler)
        loss = DiffusionLoss(unet, noise_scheduler, first.data, model.diffusion.prediction_type, timesteps)
        inputs = (train_images, *(sorted(Path(autoencoder_dir).glob("*.safetensors")) if autoencoder_dir else []))
        run_fingerprint = fingerprint("diffusion", model.as_dict(), dataset.as_dict(), precision, files=inputs)
        return cls(name, model, torch_device, unet, (channels, side, side), len(images), first, noise_scheduler,
                   timesteps, loss, _denoiser_budget(name, model, first), _ema(unet, model.training), precision,
                   run_fingerprint)  # fmt: skip

    def checkpointing(self, path: str | Path, every: int | None) -> Checkpointing:
        """The run's whole state at `path`, saved every `every` steps (None: only read)."""
        return Checkpointing(path=Path(path), every=every, modules={"unet": self.unet}, ema=self.ema,
                             fingerprint=self.fingerprint)  # fmt: skip

    def fit(self, budget: Budget, checkpointing: Checkpointing | None, at_point=None):
        return fit(
            parameters=list(self.unet.parameters()),
            loss_fn=self.loss,
            num_images=self.num_images,
            spec=self.model.training,
            device=self.device,
            precision=self.precision,
            description=f"{self.name} diffusion",
            after_step=(lambda: self.ema.step(self.unet.parameters())) if self.ema else None,
            checkpointing=checkpointing,
            budget=budget,
            at_point=at_point,
        )

    def ema_model(self) -> DiffusionModel:
        """The model as saved: the EMA weights (where there is an EMA) in a copy of the UNet, on the CPU."""
        unet = copy.deepcopy(self.unet).eval()
        if self.ema is not None:
            self.ema.copy_to(unet.parameters())
        autoencoder = copy.deepcopy(self.first.autoencoder).cpu() if self.first.autoencoder is not None else None
        return DiffusionModel(unet.cpu(), self.noise_scheduler, autoencoder)


class _KeptStates:
    """The run's whole state at each point of its budget's ladder (training.kept_states), written
    into `staging` as the loop reaches it (atomically, as a checkpoint is) and moved into the
    output folder at the end; a resumed run keeps those written before its checkpoint. A state the
    staging lost (a run resumed past it after the staging was removed) is left out: a milestone
    then trains from the one below it."""

    def __init__(self, run: _DenoiserRun, staging: Path):
        self.run, self.staging = run, staging

    def __call__(self, index: int, state: dict) -> None:
        point = self.run.budget.points[index]
        self.run.checkpointing(_state_file(self.staging, point), None).save(state)

    def publish(self, out_states: str | Path) -> list[dict]:
        """Move every kept state into `out_states`; for the record, each one's point and step."""
        kept = []
        with atomic_dir(out_states) as tmp:
            for point in self.run.budget.points:
                staged = _state_file(self.staging, point)
                if staged.is_file():
                    step = torch.load(staged, map_location="cpu", weights_only=True)["step"]
                    shutil.move(staged, _state_file(tmp, point))
                    kept.append({"point": point, "step": int(step)})
        return kept


@dataclass(frozen=True)
class FirstStage:
    """What a model's denoiser starts from: its training data (pixels, or the frozen autoencoder's
    posteriors of them) and the cost of every stage before it, in seconds and GFLOPs (empty for a
    pixel model; for a latent model the autoencoder, its scaling-factor estimate and the encoding)."""

    data: DenoiserData
    autoencoder: ModelMixin | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    gflops: dict[str, float] = field(default_factory=dict)

    @classmethod
    def load(cls, name: str, model: ModelSpec, autoencoder_dir, autoencoder_record, images: torch.Tensor) -> FirstStage:
        if not model.latent:
            return cls(DenoiserData(images))
        kind = AUTOENCODERS[model.autoencoder.type]
        found = read_json(Path(autoencoder_dir) / "config.json").get("_class_name")
        if found != kind.model_class.__name__:
            raise ModelError(
                f"models.{name}: {autoencoder_dir} holds a {found}, but 'models.{name}.autoencoder.type' is "
                f"{model.autoencoder.type} ({kind.model_class.__name__}); train the autoencoder again "
                "(the train_autoencoder rule)."
            )
        autoencoder = kind.model_class.from_pretrained(autoencoder_dir).to(images.device).eval()
        trained = AUTOENCODER_TRAINING.read(autoencoder_record)
        clock = Stopwatch(images.device)
        with clock.phase("encoding"):
            latent_mean, latent_std = encode_dataset(autoencoder, kind, images)
        data = DenoiserData(images, latent_mean, latent_std, float(autoencoder.config.scaling_factor))
        seconds = {"autoencoder": trained["wall_time_s"], "scaling_factor": trained["scaling_s"],
                   "encoding": clock.seconds["encoding"]}  # fmt: skip
        gflops = {"autoencoder": trained["train_gflops"], "scaling_factor": trained["scaling_gflops"],
                  "encoding": encode_gflops_per_image(autoencoder, kind, images) * len(images)}  # fmt: skip
        return cls(data, autoencoder, seconds, gflops)


def _denoiser_budget(name: str, model: ModelSpec, first: FirstStage) -> Budget:
    """The model's budget less what its first stage used (budget_scope: total); refused when nothing
    is left (the config check catches the cases known before any job)."""
    spec = model.training
    budget = Budget.for_denoiser(spec, model.budget_scope, sum(first.seconds.values()), sum(first.gflops.values()))
    if budget.nothing_left() is not None:
        raise ModelError(
            f"models.{name}: its first stage already used {budget.spent_seconds:.1f} s and "
            f"{budget.spent_gflops:.4g} GFLOPs of the model's budget ('models.{name}.training' max_seconds "
            f"{spec.max_seconds}, max_gflops {spec.max_gflops}; budget_scope: total), leaving nothing for "
            f"the denoiser. Raise the budget, lower 'models.{name}.autoencoder.training', or set budget_scope: "
            "denoiser (first stage amortised)."
        )
    return budget


def _ema(unet: torch.nn.Module, training: TrainingSpec) -> EMAModel | None:
    if training.ema_decay is None:
        return None
    # Warm-up (power 3/4, for runs shorter than ~100k steps) keeps early EMA weights close to the model.
    # foreach: one multi-tensor update instead of a Python loop over the parameters.
    return EMAModel(unet.parameters(), decay=training.ema_decay, use_ema_warmup=True, power=3 / 4, foreach=True)


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
