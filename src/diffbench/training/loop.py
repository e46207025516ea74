"""The optimisation loop shared by autoencoder and diffusion training.

Budget in steps and/or wall-clock seconds (whichever comes first), AdamW with linear warm-up,
optional mixed precision, one seeded CPU generator for batch order and noise (so a run does not
depend on the device), a per-step loss record, and tqdm progress for the rule's log.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pandas as pd
import torch
from diffusers.optimization import get_scheduler
from tqdm.auto import tqdm

from diffbench.errors import NonFiniteLoss
from diffbench.runtime import autocast, synchronize
from diffbench.training.checkpoint import Checkpointing

LossFn = Callable[[torch.Tensor, torch.Generator], tuple[torch.Tensor, dict]]


@dataclass(frozen=True)
class Budget:
    max_steps: int | None
    max_seconds: float | None

    def exhausted(self, step: int, elapsed: float) -> str | None:
        if self.max_steps is not None and step >= self.max_steps:
            return "max_steps"
        if self.max_seconds is not None and elapsed >= self.max_seconds:
            return "max_seconds"
        return None


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
    spec: dict,
    device: torch.device,
    precision: str,
    description: str,
    after_step: Callable[[], None] | None = None,
    checkpointing: Checkpointing | None = None,
) -> tuple[pd.DataFrame, dict]:
    """Optimise until the budget is spent, resuming from `checkpointing` when it holds this run's
    state. Returns (per-step loss table, summary)."""
    generator = torch.Generator("cpu").manual_seed(spec["seed"])
    optimizer = torch.optim.AdamW(parameters, lr=spec["learning_rate"])
    schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=spec["warmup_steps"])
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    budget = Budget(spec["max_steps"], spec["max_seconds"])
    batches = Batches(num_images, spec["batch_size"], generator)
    rows, step, images_seen, elapsed_before = [], 0, 0, 0.0
    loop_parts = {"optimizer": optimizer, "schedule": schedule, "scaler": scaler, "batches": batches}
    saved = checkpointing.load() if checkpointing is not None else None
    if saved is not None:
        for name, part in loop_parts.items():
            part.load_state_dict(saved[name])
        generator.set_state(saved["generator"])
        _set_global_rng(saved["rng"])
        rows, step, images_seen, elapsed_before = saved["rows"], saved["step"], saved["images_seen"], saved["elapsed_s"]
    resumed_from, last_saved, checkpoint_s = step, step if saved is not None else None, 0.0
    bar = tqdm(total=spec["max_steps"], initial=step, desc=description, unit="step", mininterval=2)
    synchronize(device)
    start = time.perf_counter() - elapsed_before  # a resumed run's clock continues
    while (stop_reason := budget.exhausted(step, time.perf_counter() - start)) is None:
        indices = next(batches)
        with autocast(device, precision):
            loss, parts = loss_fn(indices, generator)
        if not math.isfinite(loss.item()):
            kept = (
                f" The last good checkpoint (step {last_saved}) is kept at {checkpointing.path}."
                if last_saved is not None
                else ""
            )
            raise NonFiniteLoss(
                f"{description}: loss became {loss.item()} at step {step + 1}; "
                f"lower the learning rate or use fp32.{kept}"
            )
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        schedule.step()
        if after_step is not None:
            after_step()
        step += 1
        images_seen += len(indices)
        elapsed = time.perf_counter() - start
        rows.append(
            {
                "step": step,
                "loss": loss.item(),
                **parts,
                "learning_rate": schedule.get_last_lr()[0],
                "images_seen": images_seen,
                "elapsed_s": elapsed,
            }
        )
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", img_per_s=f"{images_seen / elapsed:.1f}")
        if checkpointing is not None and checkpointing.every and step % checkpointing.every == 0:
            saving = time.perf_counter()
            checkpointing.save(
                {
                    **{name: part.state_dict() for name, part in loop_parts.items()},
                    "generator": generator.get_state(),
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
    synchronize(device)
    wall = time.perf_counter() - start
    bar.close()
    table = pd.DataFrame(rows)
    tail = table["loss"].tail(max(1, len(table) // 10)) if len(table) else pd.Series(dtype=float)
    summary = {
        "steps": step,
        "images_seen": images_seen,
        "wall_time_s": wall,
        "images_per_s": images_seen / wall if wall > 0 else None,
        "stop_reason": stop_reason,
        "resumed_from_step": resumed_from,
        "checkpoint_s": checkpoint_s,
        "final_loss": float(tail.mean()) if len(tail) else None,
        "batch_size": spec["batch_size"],
        "learning_rate": spec["learning_rate"],
        "seed": spec["seed"],
    }
    return table, summary
