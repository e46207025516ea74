"""The optimisation loop shared by autoencoder and diffusion training.

A budget.Budget in steps, wall-clock seconds and/or GFLOPs (whichever comes first; GFLOPs
counted by torch's FLOP counter on each phase's first step, so every machine stops at the same
step), and in total scope less what earlier stages of the model spent, AdamW with linear warm-up,
optional mixed precision, seeded generators for batch order (CPU) and training noise (on the
training device: the CPU generator itself on a CPU, so CPU runs repeat exactly), a per-step loss
record, and tqdm progress for the rule's log.

The loop measures the model, not Python: losses stay on the device and are read back every
`log_every` steps in one transfer (a `.item()` per step would make the host wait for the GPU
after every step, so cheap latent steps would be timed by that wait).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable, Hashable, Iterator
from contextlib import nullcontext
from dataclasses import dataclass

import pandas as pd
import torch
from diffusers.optimization import get_scheduler
from torch.utils.flop_counter import FlopCounterMode
from tqdm.auto import tqdm

from diffbench.errors import NonFiniteLoss
from diffbench.runtime import autocast, synchronize
from diffbench.specs import TrainingSpec
from diffbench.training.budget import Budget
from diffbench.training.checkpoint import Checkpointing

# Devices with torch's fused AdamW kernel (others take its default implementation).
FUSED_ADAMW_DEVICES = ("cpu", "cuda")

# (batch indices, noise generator on the training device, step) -> (loss, {component: detached tensor})
LossFn = Callable[[torch.Tensor, torch.Generator, int], tuple[torch.Tensor, dict]]


@dataclass(frozen=True)
class PendingStep:
    """A step whose loss (and its logged terms) is still on the device, read back by `flush`."""

    step: int
    loss: torch.Tensor
    parts: dict[str, torch.Tensor]
    learning_rate: float
    images_seen: int
    elapsed_s: float


class Batches:
    """Endless batches from seeded per-epoch permutations (every image once per epoch; a last
    partial batch is dropped). Its position is part of a checkpoint."""

    def __init__(self, n: int, batch_size: int, generator: torch.Generator):
        self.n, self.batch_size, self.generator = n, batch_size, generator
        self.stop = n - batch_size + 1 if n >= batch_size else 1  # batch starts are < stop
        self.order: torch.Tensor | None = None
        self.start = 0

    def __iter__(self) -> Iterator[torch.Tensor]:
        return self

    def __next__(self) -> torch.Tensor:
        if self.order is None or self.start >= self.stop:
            self.order, self.start = torch.randperm(self.n, generator=self.generator), 0
        batch = self.order[self.start : self.start + self.batch_size]
        self.start += self.batch_size
        return batch

    def state_dict(self) -> dict:
        return {"order": self.order, "start": self.start}

    def load_state_dict(self, state: dict) -> None:
        self.order, self.start = state["order"], state["start"]


def _global_rng() -> dict:
    """torch's global generators (dropout draws from them), saved so a resumed run repeats them."""
    return {"cpu": torch.get_rng_state(), "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else []}


def _set_global_rng(state: dict) -> None:
    torch.set_rng_state(state["cpu"])
    if state["cuda"] and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def fit(
    *,
    parameters: list[torch.nn.Parameter],
    loss_fn: LossFn,
    num_images: int,
    spec: TrainingSpec,
    device: torch.device,
    precision: str,
    description: str,
    after_step: Callable[[], None] | None = None,
    update: Callable[[int], dict] | None = None,
    phase: Callable[[int], Hashable] | None = None,
    checkpointing: Checkpointing | None = None,
    budget: Budget | None = None,
    at_point: Callable[[int, dict], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Optimise until `budget` is spent (None: the limits in `spec`, for a stage on its own),
    resuming from `checkpointing` when it holds this run's state.
    `update(step)`: a second update after each optimiser step (a discriminator's), part of the step's
    compute; it returns detached terms to record. `phase(step)`: steps of one phase cost the same
    FLOPs (a discriminator that starts late changes the cost); each phase is counted on its first step.
    `at_point(k, state)`: called after the step that reaches the budget's point k (where a run with
    that limit would stop) with the whole loop state a checkpoint holds (`Checkpointing.save` takes
    it), before any checkpoint of that step, its time not counted.
    Returns (per-step loss table, summary)."""
    run = _Run(parameters, num_images, spec, device, precision, description, checkpointing)
    run.resume(budget if budget is not None else Budget.of(spec))
    while (stop_reason := run.exhausted()) is None:
        run.step(loss_fn, update, phase, after_step)
        if at_point is not None:
            run.publish_points(at_point)
        run.log_and_checkpoint()
    return run.finish(stop_reason)


class _Run:
    """One optimisation run: the loop's parts, its counters and its clock, and the losses still on
    the device. A checkpoint holds all of it, so a resumed run goes on as if it had never stopped."""

    def __init__(
        self,
        parameters: list[torch.nn.Parameter],
        num_images: int,
        spec: TrainingSpec,
        device: torch.device,
        precision: str,
        description: str,
        checkpointing: Checkpointing | None,
    ):
        self.spec, self.device, self.precision, self.description = spec, device, precision, description
        self.checkpointing = checkpointing
        self.generator = torch.Generator("cpu").manual_seed(spec.seed)
        # Noise is drawn where it is used; on a CPU that is the batch-order generator, as it always was.
        self.noise = self.generator if device.type == "cpu" else torch.Generator(device).manual_seed(spec.seed + 1)
        # torch's fused AdamW: the same update as its default per-tensor loop (equal to float
        # rounding), in one kernel; on a CPU the default loop took ~10 % of a small denoiser's step.
        fused = device.type in FUSED_ADAMW_DEVICES
        self.optimizer = torch.optim.AdamW(parameters, lr=spec.learning_rate, fused=fused or None)
        self.schedule = get_scheduler("constant_with_warmup", self.optimizer, num_warmup_steps=spec.warmup_steps)
        self.scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
        self.batches = Batches(num_images, spec.batch_size, self.generator)
        self.phase_gflops: dict = {}  # per phase, counted on its first step (forward and backward)
        self.gflops_spent = 0.0
        self.rows: list[dict] = []
        self.steps, self.images_seen, self.elapsed = 0, 0, 0.0
        self.pending: list[PendingStep] = []
        self.checkpoint_s = self.points_s = 0.0

    @property
    def _parts(self) -> dict:
        """The loop's parts with a state_dict, as a checkpoint names them."""
        return {"optimizer": self.optimizer, "schedule": self.schedule, "scaler": self.scaler, "batches": self.batches}

    def resume(self, budget: Budget) -> None:
        """Load this run's checkpoint, if there is one, and start the clock (a resumed run's continues)."""
        self.budget = budget
        saved = self.checkpointing.load() if self.checkpointing is not None else None
        if saved is not None:
            for name, part in self._parts.items():
                part.load_state_dict(saved[name])
            self.generator.set_state(saved["generator"])
            if self.noise is not self.generator:
                self.noise.set_state(saved["noise_generator"])
            _set_global_rng(saved["rng"])
            self.rows, self.steps, self.images_seen = saved["rows"], saved["step"], saved["images_seen"]
            self.elapsed, self.phase_gflops = saved["elapsed_s"], saved["phase_gflops"]
            self.gflops_spent = saved["gflops_spent"]
        self.resumed_from, self.last_saved = self.steps, self.steps if saved is not None else None
        # points this run has passed (a resumed run: those before its checkpoint, already handed over)
        self.points_done = budget.points_reached(self.steps, self.elapsed, self.gflops_spent)
        self.bar = tqdm(
            total=self.spec.max_steps, initial=self.steps, desc=self.description, unit="step", mininterval=2
        )
        synchronize(self.device)
        self.start = time.perf_counter() - self.elapsed

    def exhausted(self) -> str | None:
        return self.budget.exhausted(self.steps, time.perf_counter() - self.start, self.gflops_spent)

    def step(self, loss_fn: LossFn, update, phase, after_step) -> None:
        """One optimiser step (and `update`'s), its FLOPs counted on its phase's first step; its loss
        stays on the device until the next flush."""
        indices = next(self.batches)
        self.optimizer.zero_grad(set_to_none=True)
        # A phase's first step runs under torch's FLOP counter, which observes and does not change
        # the arithmetic (it counts matrix products and convolutions, not the optimiser's updates);
        # every step of a phase costs the same FLOPs.
        step_phase = phase(self.steps) if phase is not None else None
        counting = step_phase not in self.phase_gflops
        with FlopCounterMode(display=False) if counting else nullcontext() as counter:
            with autocast(self.device, self.precision):
                loss, parts = loss_fn(indices, self.noise, self.steps)
            self.scaler.scale(loss).backward()
            self.scaler.step(self.optimizer)
            self.scaler.update()
            if update is not None:
                parts = {**parts, **update(self.steps)}
        if counting:
            self.phase_gflops[step_phase] = counter.get_total_flops() / 1e9
        self.gflops_spent += self.phase_gflops[step_phase]
        self.schedule.step()
        if after_step is not None:
            after_step()
        self.steps += 1
        self.images_seen += len(indices)
        self.elapsed = time.perf_counter() - self.start
        self.pending.append(PendingStep(self.steps, loss.detach().float(), {k: v.float() for k, v in parts.items()},
                                        self.schedule.get_last_lr()[0], self.images_seen, self.elapsed))  # fmt: skip
        self.bar.update(1)

    def publish_points(self, at_point: Callable[[int, dict], None]) -> None:
        """Hand the loop state to `at_point` for every point this step reached; the writing is
        bookkeeping, as a checkpoint's saving is, and not counted."""
        reached = self.budget.points_reached(self.steps, self.elapsed, self.gflops_spent)
        if reached <= self.points_done:
            return
        self.flush()  # a kept state never holds a diverged one either
        writing = time.perf_counter()
        state = self.state()
        while self.points_done < reached:
            at_point(self.points_done, state)
            self.points_done += 1
        self._pause_clock(writing, "points_s")

    def state(self) -> dict:
        """Everything of the loop that decides the next step (a checkpoint adds the modules and EMA)."""
        return {
            **{name: part.state_dict() for name, part in self._parts.items()},
            "generator": self.generator.get_state(),
            "noise_generator": self.noise.get_state(),
            "phase_gflops": self.phase_gflops,
            "gflops_spent": self.gflops_spent,
            "rng": _global_rng(),
            "rows": self.rows,
            "step": self.steps,
            "images_seen": self.images_seen,
            "elapsed_s": self.elapsed,
        }

    def log_and_checkpoint(self) -> None:
        every = self.checkpointing.every if self.checkpointing is not None else None
        saving_now = bool(every) and self.steps % every == 0
        if saving_now or self.steps % self.spec.log_every == 0:
            self.flush()  # before a checkpoint too: a checkpoint never holds a diverged state
        if saving_now:
            saving = time.perf_counter()
            self.checkpointing.save(self.state())
            self.last_saved = self.steps
            # Saving is bookkeeping, not training: it does not count towards the time budget or the
            # reported wall time (which compare models at equal compute).
            self._pause_clock(saving, "checkpoint_s")

    def _pause_clock(self, since: float, account: str) -> None:
        """Take the time since `since` off the training clock and book it to `account`."""
        spent = time.perf_counter() - since
        setattr(self, account, getattr(self, account) + spent)
        self.start += spent

    def flush(self) -> None:
        """Read the pending losses back in one transfer and record them; stop at a non-finite one."""
        if not self.pending:
            return
        # One transfer; steps may log different terms (a discriminator's start adds some).
        flat = torch.cat([torch.stack([p.loss, *p.parts.values()]) for p in self.pending]).tolist()
        ends = itertools.accumulate(1 + len(p.parts) for p in self.pending)
        values = [flat[end - 1 - len(p.parts) : end] for p, end in zip(self.pending, ends, strict=True)]
        for p, (loss, *components) in zip(self.pending, values, strict=True):
            if not math.isfinite(loss):
                kept = (
                    f" The last good checkpoint (step {self.last_saved}) is kept at {self.checkpointing.path}."
                    if self.last_saved is not None
                    else ""
                )
                raise NonFiniteLoss(
                    f"{self.description}: loss became {loss} at step {p.step}; lower the learning rate or use "
                    f"fp32.{kept}"
                )
            self.rows.append(
                {"step": p.step, "loss": loss, **dict(zip(p.parts, components, strict=True)),
                 "learning_rate": p.learning_rate, "images_seen": p.images_seen, "elapsed_s": p.elapsed_s}
            )  # fmt: skip
        self.pending.clear()
        # drawn at the bar's next interval, not now: a draw per read-back floods the log on a GPU
        last = self.rows[-1]
        self.bar.set_postfix(loss=f"{last['loss']:.4f}", img_per_s=f"{self.images_seen / last['elapsed_s']:.1f}",
                             refresh=False)  # fmt: skip

    def finish(self, stop_reason: str) -> tuple[pd.DataFrame, dict]:
        """The per-step loss table and the run's summary."""
        self.flush()
        synchronize(self.device)
        wall = time.perf_counter() - self.start
        self.bar.close()
        table = pd.DataFrame(self.rows)
        tail = table["loss"].tail(max(1, len(table) // 10)) if len(table) else pd.Series(dtype=float)
        steps, spec = self.steps, self.spec
        summary = {
            "steps": steps,
            "images_seen": self.images_seen,
            "wall_time_s": wall,
            # per step on average; the same every step unless a phase (a discriminator's start) changed it
            "gflops_per_step": self.gflops_spent / steps if steps else None,
            "train_gflops": self.gflops_spent,
            "images_per_s": self.images_seen / wall if wall > 0 else None,
            "stop_reason": stop_reason,
            "resumed_from_step": self.resumed_from,
            "checkpoint_s": self.checkpoint_s,
            "kept_states_s": self.points_s,
            "final_loss": float(tail.mean()) if len(tail) else None,
            "batch_size": spec.batch_size,
            "learning_rate": spec.learning_rate,
            "seed": spec.seed,
        }
        return table, summary
