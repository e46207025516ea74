"""The optimisation loop shared by autoencoder and diffusion training.

Budget in steps and/or wall-clock seconds (whichever comes first), AdamW with linear warm-up,
optional mixed precision, one seeded CPU generator for batch order and noise (so a run does not
depend on the device), a per-step loss record, and tqdm progress for the rule's log.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import pandas as pd
import torch
from diffusers.optimization import get_scheduler
from tqdm.auto import tqdm

from diffbench.runtime import autocast, synchronize

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


def batch_indices(n: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless batches from seeded per-epoch permutations (every image once per epoch)."""
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch_size + 1 if n >= batch_size else 1, batch_size):
            yield order[start : start + batch_size]


class NonFiniteLoss(RuntimeError):
    pass


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
) -> tuple[pd.DataFrame, dict]:
    """Optimise until the budget is spent. Returns (per-step loss table, summary)."""
    generator = torch.Generator("cpu").manual_seed(spec["seed"])
    optimizer = torch.optim.AdamW(parameters, lr=spec["learning_rate"])
    schedule = get_scheduler("constant_with_warmup", optimizer, num_warmup_steps=spec["warmup_steps"])
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "fp16")
    budget = Budget(spec["max_steps"], spec["max_seconds"])
    batches = batch_indices(num_images, spec["batch_size"], generator)
    rows, step, images_seen = [], 0, 0
    bar = tqdm(total=spec["max_steps"], desc=description, unit="step", mininterval=2)
    synchronize(device)
    start = time.perf_counter()
    while (stop_reason := budget.exhausted(step, time.perf_counter() - start)) is None:
        indices = next(batches)
        with autocast(device, precision):
            loss, parts = loss_fn(indices, generator)
        if not math.isfinite(loss.item()):
            raise NonFiniteLoss(f"{description}: loss became {loss.item()} at step {step + 1}; lower the learning rate or use fp32.")
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
            {"step": step, "loss": loss.item(), **parts, "learning_rate": schedule.get_last_lr()[0],
             "images_seen": images_seen, "elapsed_s": elapsed}
        )
        bar.update(1)
        bar.set_postfix(loss=f"{loss.item():.4f}", img_per_s=f"{images_seen / elapsed:.1f}")
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
        "final_loss": float(tail.mean()) if len(tail) else None,
        "batch_size": spec["batch_size"],
        "learning_rate": spec["learning_rate"],
        "seed": spec["seed"],
    }
    return table, summary
