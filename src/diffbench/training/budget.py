"""What a training budget means: its limits, its scope, and what is left of it.

A model's budget is given in optimiser steps, wall-clock seconds and/or GFLOPs (whichever limit
comes first). Under `budget_scope: total` the seconds and GFLOPs of a latent model's earlier stages
(autoencoder, scaling-factor estimate, encoding) come out of the model's limits, so its denoiser
gets what they left; under `budget_scope: denoiser` they are amortised and the denoiser gets the
whole budget. Steps are always the stage's own. The training stage builds one Budget, checks before
training that something is left (`nothing_left`), and the loop stops when `exhausted` says so.
`points` are places in the same unit and scope at which the loop hands its state over
(`points_reached`): the kept training states of a model's run (training.kept_states, `state_ladder`),
from which a milestone's job trains on to its milestone with the milestone as its limit (`stopping_at`).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

from diffbench.specs import BUDGET_LIMITS as LIMITS
from diffbench.specs import TrainingSpec


@dataclass(frozen=True)
class Budget:
    """Whichever limit is reached first. `spent_seconds` / `spent_gflops`: what earlier stages of
    the same model used of the seconds and GFLOPs limits (non-zero only in total scope)."""

    max_steps: int | None
    max_seconds: float | None
    max_gflops: float | None = None
    scope: str = "stage"  # "total": earlier stages charged; "denoiser": they are amortised; "stage": none
    spent_seconds: float = 0.0
    spent_gflops: float = 0.0
    # places along training in the unit of `unit_limit`, in this scope, where the loop hands its state over
    points: tuple[float, ...] = ()
    unit_limit: str = "max_steps"

    @classmethod
    def of(cls, training: TrainingSpec) -> Budget:
        """A stage trained on its own (an autoencoder, or a model with no earlier stage)."""
        return cls(training.max_steps, training.max_seconds, training.max_gflops)

    @classmethod
    def for_denoiser(cls, training: TrainingSpec, scope: str, earlier_seconds: float, earlier_gflops: float) -> Budget:
        """The denoiser's budget: the model's limits, less what the earlier stages used in total scope;
        its points are the kept states' ladder (those past what the earlier stages used)."""
        charged = scope == "total"
        budget = cls(
            training.max_steps, training.max_seconds, training.max_gflops, scope,
            earlier_seconds if charged else 0.0, earlier_gflops if charged else 0.0, (), training.budget_unit,
        )  # fmt: skip
        ladder = state_ladder(getattr(training, training.budget_unit), training.kept_states)
        return dataclasses.replace(budget, points=tuple(p for p in ladder if p > budget.spent(0, 0.0, 0.0)))

    def stopping_at(self, milestone: float) -> Budget:
        """This budget with `milestone` (in its unit) as its limit and no points: the run a milestone
        stands for, which stops after the first step that reaches it."""
        limit = int(math.ceil(milestone)) if self.unit_limit == "max_steps" else milestone
        return dataclasses.replace(self, points=(), **{self.unit_limit: limit})

    def stopping_after(self, step: int) -> Budget:
        """This budget stopped after `step` steps of the stage and nothing else: where a milestone
        in seconds fell in the model's run, replayed without a clock of its own deciding."""
        return dataclasses.replace(self, points=(), max_steps=step, max_seconds=None, max_gflops=None)

    def exhausted(self, step: int, elapsed: float, gflops: float = 0.0) -> str | None:
        """The limit reached after `step` steps, `elapsed` seconds and `gflops` of this stage, or None."""
        if self.max_steps is not None and step >= self.max_steps:
            return "max_steps"
        if self.max_seconds is not None and self.spent_seconds + elapsed >= self.max_seconds:
            return "max_seconds"
        if self.max_gflops is not None and self.spent_gflops + gflops >= self.max_gflops:
            return "max_gflops"
        return None

    def spent(self, step: int, elapsed: float, gflops: float) -> float:
        """What the model has spent in the points' unit after `step` steps of this stage."""
        if self.unit_limit == "max_gflops":
            return self.spent_gflops + gflops
        if self.unit_limit == "max_seconds":
            return self.spent_seconds + elapsed
        return float(step)

    def points_reached(self, step: int, elapsed: float, gflops: float) -> int:
        """How many points lie at or below what has been spent: a run whose limit were point k stops
        after the first step at which this count exceeds k, as `exhausted` would."""
        spent = self.spent(step, elapsed, gflops)
        return sum(1 for value in self.points if value <= spent)

    def left(self) -> dict[str, float | None]:
        """What the stage may still spend, per limit (None: no limit in that unit)."""
        return {
            "max_steps": self.max_steps,
            "max_seconds": None if self.max_seconds is None else self.max_seconds - self.spent_seconds,
            "max_gflops": None if self.max_gflops is None else self.max_gflops - self.spent_gflops,
        }

    def nothing_left(self) -> str | None:
        """The limit that earlier stages already used up, before this stage takes a step."""
        return self.exhausted(0, 0.0)

    def describe(self) -> dict:
        """For the stage's record: the limits, the scope, what earlier stages used and what was left."""
        return {
            "scope": self.scope,
            "limits": {key: getattr(self, key) for key in LIMITS},
            "unit": LIMITS[self.unit_limit],
            "spent_before": {"seconds": self.spent_seconds, "gflops": self.spent_gflops},
            "left": self.left(),
        }


DEFAULT_KEPT_STATES = 4  # training.kept_states: null


def state_ladder(total: float, kept: int | None) -> list[float]:
    """Where a run keeps its whole training state: total / sqrt(2)^k for k = kept .. 1, increasing,
    in the budget's unit. A fixed ladder in the budget alone, so milestones added later find the
    same states; sqrt(2) apart, a milestone between two is at most 29 % of its compute past one."""
    kept = DEFAULT_KEPT_STATES if kept is None else kept
    return [total * 2.0 ** (-k / 2) for k in range(kept, 0, -1)]  # exact at even k
