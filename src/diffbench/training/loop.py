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
    at_milestone: Callable[[int, dict], None] | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Optimise until `budget` is spent (None: the limits in `spec`, for a stage on its own),
    resuming from `checkpointing` when it holds this run's state.
    `update(step)`: a second update after each optimiser step (a discriminator's), part of the step's
    compute; it returns detached terms to record. `phase(step)`: steps of one phase cost the same
    FLOPs (a discriminator that starts late changes the cost); each phase is counted on its first step.
    `at_milestone(k, progress)`: called after the step that reaches the budget's milestone k (where a
    run with that limit would stop), before any checkpoint of that step, its time not counted.
    Returns (per-step loss table, summary)."""
    generator = torch.Generator("cpu").manual_seed(spec.seed)
    # Noise is drawn where it is used; on a CPU that is the batch-order generator, as it always was.
    noise = generator if device.type == "cpu" else torch.Generator(device).manual_seed(spec.seed + 1)
    optimizer = torch.optim.AdamW(parameters, lr=spec.learning_rate)
    schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=spec.warmup_steps)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    budget = budget if budget is not None else Budget.of(spec)
    phase_gflops: dict = {}  # per phase, counted on its first step (forward and backward)
    gflops_spent = 0.0
    batches = Batches(num_images, spec.batch_size, generator)
    rows, step, images_seen, elapsed_before = [], 0, 0, 0.0
    loop_parts = {"optimizer": optimizer, "schedule": schedule, "scaler": scaler, "batches": batches}
    saved = checkpointing.load() if checkpointing is not None else None
    if saved is not None:
        for name, part in loop_parts.items():
            part.load_state_dict(saved[name])
        generator.set_state(saved["generator"])
        if noise is not generator:
            noise.set_state(saved["noise_generator"])
        _set_global_rng(saved["rng"])
        rows, step, images_seen, elapsed_before = saved["rows"], saved["step"], saved["images_seen"], saved["elapsed_s"]
        phase_gflops, gflops_spent = saved["phase_gflops"], saved["gflops_spent"]
    resumed_from, last_saved, checkpoint_s, milestone_s = step, step if saved is not None else None, 0.0, 0.0
    # milestones this run has passed (a resumed run: those before its checkpoint, already written)
    milestones_done = budget.milestones_reached(step, elapsed_before, gflops_spent)
    bar = tqdm(total=spec.max_steps, initial=step, desc=description, unit="step", mininterval=2)
    synchronize(device)
    start = time.perf_counter() - elapsed_before  # a resumed run's clock continues
    pending: list[PendingStep] = []

    def flush() -> None:
        """Read the pending losses back in one transfer and record them; stop at a non-finite one."""
        if not pending:
            return
        # One transfer; steps may log different terms (a discriminator's start adds some).
        flat = torch.cat([torch.stack([p.loss, *p.parts.values()]) for p in pending]).tolist()
        ends = itertools.accumulate(1 + len(p.parts) for p in pending)
        values = [flat[end - 1 - len(p.parts) : end] for p, end in zip(pending, ends, strict=True)]
        for p, (loss, *components) in zip(pending, values, strict=True):
            if not math.isfinite(loss):
                kept = (
                    f" The last good checkpoint (step {last_saved}) is kept at {checkpointing.path}."
                    if last_saved is not None
                    else ""
                )
                raise NonFiniteLoss(
                    f"{description}: loss became {loss} at step {p.step}; lower the learning rate or use fp32.{kept}"
                )
            rows.append(
                {"step": p.step, "loss": loss, **dict(zip(p.parts, components, strict=True)),
                 "learning_rate": p.learning_rate, "images_seen": p.images_seen, "elapsed_s": p.elapsed_s}
            )  # fmt: skip
        pending.clear()
        # drawn at the bar's next interval, not now: a draw per read-back floods the log on a GPU
        last = rows[-1]
        bar.set_postfix(loss=f"{last['loss']:.4f}", img_per_s=f"{images_seen / last['elapsed_s']:.1f}", refresh=False)

    while (stop_reason := budget.exhausted(step, time.perf_counter() - start, gflops_spent)) is None:
        indices = next(batches)
        optimizer.zero_grad(set_to_none=True)
        # A phase's first step runs under torch's FLOP counter, which observes and does not change
        # the arithmetic (it counts matrix products and convolutions, not the optimiser's updates);
        # every step of a phase costs the same FLOPs.
        step_phase = phase(step) if phase is not None else None
        counting = step_phase not in phase_gflops
        with FlopCounterMode(display=False) if counting else nullcontext() as counter:
            with autocast(device, precision):
                loss, parts = loss_fn(indices, noise, step)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            if update is not None:
                parts = {**parts, **update(step)}
        if counting:
            phase_gflops[step_phase] = counter.get_total_flops() / 1e9
        gflops_spent += phase_gflops[step_phase]
        schedule.step()
        if after_step is not None:
            after_step()
        step += 1
        images_seen += len(indices)
        elapsed = time.perf_counter() - start
        pending.append(PendingStep(step, loss.detach().float(), {k: v.float() for k, v in parts.items()},
                                   schedule.get_last_lr()[0], images_seen, elapsed))  # fmt: skip
        bar.update(1)
        if at_milestone is not None and budget.milestones_reached(step, elapsed, gflops_spent) > milestones_done:
            flush()  # a snapshot never holds a diverged state either
            writing = time.perf_counter()
            while milestones_done < budget.milestones_reached(step, elapsed, gflops_spent):
                progress = {"step": step, "images_seen": images_seen, "elapsed_s": elapsed, "gflops": gflops_spent}
                at_milestone(milestones_done, progress)
                milestones_done += 1
            spent = time.perf_counter() - writing  # bookkeeping, as a checkpoint's saving is
            milestone_s += spent
            start += spent
        saving_now = checkpointing is not None and checkpointing.every and step % checkpointing.every == 0
        if saving_now or step % spec.log_every == 0:
            flush()  # before a checkpoint too: a checkpoint never holds a diverged state
        if saving_now:
            saving = time.perf_counter()
            checkpointing.save(
                {
                    **{name: part.state_dict() for name, part in loop_parts.items()},
                    "generator": generator.get_state(),
                    "noise_generator": noise.get_state(),
                    "phase_gflops": phase_gflops,
                    "gflops_spent": gflops_spent,
                    "rng": _global_rng(),
                    "rows": rows,
                    "step": step,
                    "images_seen": images_seen,
                    "elapsed_s": elapsed,
                }
            )
            last_saved = step
            # Saving is bookkeeping, not training: it does not count towards the time budget or the
            # reported wall time (which compare models at equal compute).
            spent = time.perf_counter() - saving
            checkpoint_s += spent
            start += spent
    flush()
    synchronize(device)
    wall = time.perf_counter() - start
    bar.close()
    table = pd.DataFrame(rows)
    tail = table["loss"].tail(max(1, len(table) // 10)) if len(table) else pd.Series(dtype=float)
    summary = {
        "steps": step,
        "images_seen": images_seen,
        "wall_time_s": wall,
        # per step on average; the same every step unless a phase (a discriminator's start) changed it
        "gflops_per_step": gflops_spent / step if step else None,
        "train_gflops": gflops_spent,
        "images_per_s": images_seen / wall if wall > 0 else None,
        "stop_reason": stop_reason,
        "resumed_from_step": resumed_from,
        "checkpoint_s": checkpoint_s,
        "milestone_s": milestone_s,
        "final_loss": float(tail.mean()) if len(tail) else None,
        "batch_size": spec.batch_size,
        "learning_rate": spec.learning_rate,
        "seed": spec.seed,
    }
    return table, summary
