"""The answer along training: how much total training compute a latent model saves to reach its
pixel model's quality, and whether and where their quality curves cross (report/curves.csv).

Sentences only; the statistics are diffbench.metrics.curves, on KID (its target does not move
with the sample size) against total training compute, the first stage included. Each paired
comparison (a latent and a pixel model of one dataset, replicates paired by seed) at each
milestone setting gets one sentence.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from diffbench.metrics.curves import Curve, crossover, savings
from diffbench.report.findings import fmt

# the compute axis: the budget unit's total over every training stage
AXES = {"GFLOPs": ("total_train_gflops", "GFLOPs"), "seconds": ("total_train_s", "s")}


def _amount(value: float) -> str:
    """Compute as a reader counts it: 8,000 rather than 8e+03."""
    return f"{value:,.0f}" if value >= 100 else fmt(value)


def _curve(rows: pd.DataFrame, column: str) -> Curve | None:
    """The curve of one model at one setting, or None while a point or its replicates are missing
    (or the sets differ in size, so their image groups do not line up)."""
    if rows[["kid", column]].isna().any().any() or rows.kid_jackknife_replicates.isna().any():
        return None
    if rows.n_generated.nunique() != 1:
        return None
    rows = rows.sort_values(column)
    return Curve.of(rows[column].to_numpy(), rows.kid.to_numpy(), np.array(rows.kid_jackknife_replicates.tolist()))


def curve_findings(curves: pd.DataFrame, comparisons: list[tuple[str, str]], level: float) -> list[str]:
    """One sentence per (latent, pixel) pair with curves at each milestone setting."""
    lines = []
    for (sampler, steps), at_setting in curves.groupby(["sampler", "steps"], sort=False):
        for latent, pixel in comparisons:
            a_rows, b_rows = at_setting[at_setting.model == pixel], at_setting[at_setting.model == latent]
            if a_rows.empty or b_rows.empty:
                continue
            units = {a_rows.milestone_unit.iloc[0], b_rows.milestone_unit.iloc[0]}
            head = f"Along training ({sampler}, {steps} steps; KID at each milestone"
            if len(units) != 1 or next(iter(units)) not in AXES:
                lines.append(
                    f"{head}): {latent} and {pixel} budget in different units ({', '.join(sorted(units))}), so "
                    "their curves share no compute axis; give both the same unit (max_gflops)."
                )
                continue
            column, unit = AXES[next(iter(units))]
            a, b = _curve(a_rows, column), _curve(b_rows, column)
            head += f" against total training {unit}, every stage included)"
            if a is None or b is None:
                lines.append(f"{head}: {latent} vs {pixel} not yet, a milestone's evaluation is missing.")
                continue
            words = _savings_words(a, b, latent, pixel, unit, level), _crossing_words(a, b, latent, pixel, unit, level)
            lines.append(f"{head}: {' '.join(words)}")
    return lines


def _savings_words(a: Curve, b: Curve, latent: str, pixel: str, unit: str, level: float) -> str:
    found = savings(a, b, level)
    reach = f"{pixel}'s final KID ({fmt(found.target)})"
    if found.state in ("beyond", "before"):
        gap = found.gap
        where = "the end of its training" if found.state == "beyond" else "its first milestone"
        own = f"{latent}'s KID at {where} is {fmt(found.target + gap.estimate)}, {fmt(gap.estimate)} "
        own += f"[{fmt(gap.low)}, {fmt(gap.high)}] from {reach}"
        if not found.bound_holds:
            return f"{own}: whether {latent} saves compute the data cannot tell."
        if found.state == "beyond":
            return f"{own}: it needs more than {fmt(1 / found.factor)}x {pixel}'s total training compute to reach it."
        return f"{own}: it saves at least {fmt(found.factor)}x {pixel}'s total training compute."
    if found.interval is None:
        return (
            f"{latent} reaches {reach} at {_amount(found.compute_b)} {unit} against {pixel}'s "
            f"{_amount(found.compute_a)} ({fmt(found.factor)}x), but the data cannot tell the factor: with an "
            "image group left out, a curve no longer reaches that KID within its range."
        )
    i = found.interval
    amount = f"{fmt(found.factor)}x [{fmt(i.low)}, {fmt(i.high)}] ({i.level:.0%} interval)"
    if i.low > 1:
        return f"{latent} reaches {reach} with {amount} less total training compute."
    if i.high < 1:
        return f"{latent} needs more total training compute to reach {reach}: {amount} of {pixel}'s."
    return f"{latent} reaches {reach} with {amount} of {pixel}'s compute: the data cannot tell whether it saves any."


def _crossing_words(a: Curve, b: Curve, latent: str, pixel: str, unit: str, level: float) -> str:
    found = crossover(a, b, level)
    span = f"{_amount(found.low)}-{_amount(found.high)} {unit}"
    if found.state == "crosses":
        i = found.interval
        where = f"at {_amount(found.compute)} {unit} [{_amount(i.low)}, {_amount(i.high)}]"
        early = latent if b.quality[0] < a.quality[0] else pixel
        return f"Their curves cross {where} within the common range {span} ({early} is better below it)."
    if found.state in ("below", "above"):
        side = "better" if found.state == "below" else "worse"
        return f"{latent} is {side} than {pixel} at every compute of the common range {span}: the curves do not cross."
    return f"Whether their curves cross within {span} the data cannot tell."
