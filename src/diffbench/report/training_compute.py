"""The answer along training: how much total training compute a latent model saves to reach a
quality of its pixel model's, and whether and where their quality curves cross.

The statistics are diffbench.metrics.curves, on KID (its target does not move with the sample
size) against total training compute, the first stage included. Each (latent, pixel) pair of base
models at each milestone setting is one `CurvePair`, its training-seed replicates paired by seed;
`answers` computes it once into `CurveAnswer` records, from which come the summary's sentences,
the headline (report/headline.py) and report/savings.csv.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from diffbench.metrics.curves import Crossover, Curve, Savings, crossover, savings, savings_over_seeds
from diffbench.metrics.intervals import Interval
from diffbench.report.findings import fmt

# the compute axis: the budget unit's total over every training stage
AXES = {"GFLOPs": ("total_train_gflops", "GFLOPs"), "seconds": ("total_train_s", "s")}

# report/savings.csv: one row per pair, setting and target
SAVINGS_COLUMNS = ["dataset", "latent", "pixel", "sampler", "steps", "seeds", "unit", "target_kind", "target",
                   "state", "factor", "factor_ci_low", "factor_ci_high", "ci_level", "compute_pixel",
                   "compute_latent", "gap", "gap_ci_low", "gap_ci_high", "bound_holds", "crossing",
                   "crossing_compute", "crossing_ci_low", "crossing_ci_high", "range_low", "range_high",
                   "n_generated", "problem"]  # fmt: skip


def _amount(value: float) -> str:
    """Compute as a reader counts it: 8,000 rather than 8e+03."""
    return f"{value:,.0f}" if value >= 100 else fmt(value)


@dataclass(frozen=True)
class CurvePair:
    """A latent model's curves against its pixel model's at one milestone setting, one (pixel,
    latent) pair per training seed; `problem` says why there are none."""

    dataset: str
    latent: str
    pixel: str
    sampler: str
    steps: int
    unit: str
    seeds: tuple[tuple[Curve, Curve], ...]
    n_generated: int
    problem: str | None = None


@dataclass(frozen=True)
class TargetAnswer:
    """The savings at one target: `savings` for one seed, `pooled` (the geometric mean factor over
    seeds, None when a seed does not reach the target) for several; `problem`: why there is none."""

    kind: str  # "pixel's final KID" or "report.savings_target"
    target: float
    savings: Savings | None = None
    pooled: Interval | None = None
    problem: str | None = None


@dataclass(frozen=True)
class CurveAnswer:
    pair: CurvePair
    targets: tuple[TargetAnswer, ...]
    crossings: tuple[Crossover, ...]  # one per seed


def _curve(rows: pd.DataFrame, column: str) -> Curve | None:
    """The curve of one model at one setting, or None while a point or its replicates are missing
    (or the sets differ in size, so their image groups do not line up)."""
    if rows[["kid", column]].isna().any().any() or rows.kid_jackknife_replicates.isna().any():
        return None
    if rows.n_generated.nunique() != 1:
        return None
    rows = rows.sort_values(column)
    return Curve.of(rows[column].to_numpy(), rows.kid.to_numpy(), np.array(rows.kid_jackknife_replicates.tolist()))


def curve_pairs(curves: pd.DataFrame, comparisons: list[tuple[str, str]]) -> list[CurvePair]:
    """The (latent, pixel) comparisons with curves, grouped by base model (replicates by seed)."""
    found = []
    base = dict(zip(curves.model, curves.replicate_of, strict=True))
    for (sampler, steps), at_setting in curves.groupby(["sampler", "steps"], sort=False):
        grouped: dict[tuple[str, str], list[tuple[str, str]]] = {}
        for latent, pixel in comparisons:
            if latent in base and pixel in base:
                grouped.setdefault((base[latent], base[pixel]), []).append((latent, pixel))
        for (latent, pixel), members in grouped.items():
            rows = [(at_setting[at_setting.model == p], at_setting[at_setting.model == la]) for la, p in members]
            units = {r.milestone_unit.iloc[0] for pair in rows for r in pair}
            dataset, n = rows[0][0].dataset.iloc[0], int(rows[0][0].n_generated.max())
            common = {"dataset": dataset, "latent": latent, "pixel": pixel, "sampler": sampler, "steps": int(steps)}
            if len(units) != 1 or next(iter(units)) not in AXES:
                problem = (f"{latent} and {pixel} budget in different units ({', '.join(sorted(units))}), so their "
                           "curves share no compute axis; give both the same unit (max_gflops)")  # fmt: skip
                found.append(CurvePair(**common, unit="", seeds=(), n_generated=n, problem=problem))
                continue
            unit = next(iter(units))
            column = AXES[unit][0]
            seeds = [(_curve(p, column), _curve(la, column)) for p, la in rows]
            if any(a is None or b is None for a, b in seeds):
                problem = f"{latent} vs {pixel} not yet, a milestone's evaluation is missing"
                found.append(CurvePair(**common, unit=unit, seeds=(), n_generated=n, problem=problem))
                continue
            found.append(CurvePair(**common, unit=unit, seeds=tuple(seeds), n_generated=n))
    return found


def _target_answer(pair: CurvePair, kind: str, target: float | None, level: float) -> TargetAnswer:
    shown = target if target is not None else float(np.mean([a.quality[-1] for a, _ in pair.seeds]))
    try:
        if len(pair.seeds) == 1:
            a, b = pair.seeds[0]
            return TargetAnswer(kind, shown, savings=savings(a, b, level, target))
        pooled = savings_over_seeds(list(pair.seeds), level, target)
        return TargetAnswer(kind, shown, pooled=pooled)
    except ValueError:
        if target is None:
            raise
        # a configured target outside the pixel model's measured range
        return TargetAnswer(kind, shown, problem=f"{pair.pixel}'s curve does not span it")


def answers(pairs: list[CurvePair], level: float, target: float | None = None) -> list[CurveAnswer]:
    """Each pair's savings at the pixel model's final KID (and at report.savings_target when set)
    and its crossover per seed."""
    found = []
    for pair in pairs:
        if pair.problem:
            found.append(CurveAnswer(pair, (), ()))
            continue
        targets = [_target_answer(pair, "pixel's final KID", None, level)]
        if target is not None:
            targets.append(_target_answer(pair, "report.savings_target", target, level))
        found.append(CurveAnswer(pair, tuple(targets), tuple(crossover(a, b, level) for a, b in pair.seeds)))
    return found


def savings_table(found: list[CurveAnswer], level: float) -> pd.DataFrame:
    """report/savings.csv: the numbers behind the sentences (crossings of the first seed)."""
    rows = []
    for answer in found:
        pair = answer.pair
        common = {"dataset": pair.dataset, "latent": pair.latent, "pixel": pair.pixel, "sampler": pair.sampler,
                  "steps": pair.steps, "seeds": len(pair.seeds), "unit": pair.unit, "ci_level": level,
                  "n_generated": pair.n_generated, "problem": pair.problem}  # fmt: skip
        cross = answer.crossings[0] if answer.crossings else None
        if cross is not None:
            common.update(crossing=cross.state, crossing_compute=cross.compute, range_low=cross.low,
                          range_high=cross.high, crossing_ci_low=cross.interval.low if cross.interval else None,
                          crossing_ci_high=cross.interval.high if cross.interval else None)  # fmt: skip
        if not answer.targets:
            rows.append(common)
        for t in answer.targets:
            row = {**common, "target_kind": t.kind, "target": t.target, "problem": t.problem or pair.problem}
            if t.savings is not None:
                s = t.savings
                row.update(state=s.state, factor=s.factor, compute_pixel=s.compute_a, compute_latent=s.compute_b,
                           factor_ci_low=s.interval.low if s.interval else None,
                           factor_ci_high=s.interval.high if s.interval else None,
                           gap=s.gap.estimate if s.gap else None, gap_ci_low=s.gap.low if s.gap else None,
                           gap_ci_high=s.gap.high if s.gap else None,
                           bound_holds=s.bound_holds if s.state != "reached" else None)  # fmt: skip
            elif t.pooled is not None:
                row.update(state="reached", factor=t.pooled.estimate, factor_ci_low=t.pooled.low,
                           factor_ci_high=t.pooled.high)  # fmt: skip
            rows.append(row)
    return pd.DataFrame(rows, columns=SAVINGS_COLUMNS)


def curve_findings(found: list[CurveAnswer], level: float) -> list[str]:
    """One sentence per pair and milestone setting."""
    lines = []
    for answer in found:
        pair = answer.pair
        head = f"Along training ({pair.sampler}, {pair.steps} steps; KID at each milestone"
        if pair.problem:
            lines.append(f"{head}): {pair.problem}.")
            continue
        unit = AXES[pair.unit][1]
        head += f" against total training {unit}, every stage included"
        if len(pair.seeds) > 1:
            head += f", over {len(pair.seeds)} training seeds"
        words = [target_words(t, pair, level) for t in answer.targets]
        words.append(crossing_words(answer, level))
        lines.append(f"{head}): {' '.join(words)}")
    return lines


def target_words(t: TargetAnswer, pair: CurvePair, level: float) -> str:
    """The savings at one target, in words."""
    latent, pixel, unit = pair.latent, pair.pixel, AXES[pair.unit][1]
    reach = f"{pixel}'s final KID ({fmt(t.target)})" if t.kind.startswith("pixel") else (
        f"the KID of report.savings_target ({fmt(t.target)})")  # fmt: skip
    if t.problem:
        return f"At {reach}: no factor, {t.problem}."
    if t.savings is None:  # pooled over seeds
        if t.pooled is None:
            return (
                f"Over the seeds, the data cannot tell how much compute {latent} saves to reach {reach}: a seed's "
                "curve (or one with an image group left out) does not reach it within its range."
            )
        i = t.pooled
        how = f"{i.level:.0%} interval over seeds and image groups"
        return _factor_verdict(latent, pixel, reach, i.estimate, i, how, "geometric mean over seeds ")
    found = t.savings
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
    return _factor_verdict(latent, pixel, reach, found.factor, i, f"{i.level:.0%} interval", "")


def _factor_verdict(latent: str, pixel: str, reach: str, factor: float, i: Interval, how: str, what: str) -> str:
    """`factor`, `i`: the savings factor (the pixel model's total training compute over the latent
    model's at the same KID) and its interval; `how`: what the interval is; `what`: the estimate's kind."""
    if i.high < 1:  # the latent model needs more: said as a multiple of the pixel model's compute
        amount = f"{what}{fmt(1 / factor)}x [{fmt(1 / i.high)}, {fmt(1 / i.low)}] ({how})"
        return f"{latent} needs {amount} {pixel}'s total training compute to reach {reach}."
    amount = f"{what}{fmt(factor)}x [{fmt(i.low)}, {fmt(i.high)}] ({how})"
    if i.low > 1:
        return f"{latent} reaches {reach} with {amount} less total training compute."
    return (
        f"{latent} reaches {reach} with a savings factor of {amount} ({pixel}'s total training compute over "
        f"{latent}'s at that KID; below 1, {latent} needs more): the data cannot tell whether it saves any."
    )


def crossing_words(answer: CurveAnswer, level: float) -> str:
    """Whether and where the curves cross, in words (per seed with replicates)."""
    pair = answer.pair
    latent, pixel, unit = pair.latent, pair.pixel, AXES[pair.unit][1]
    states = {c.state for c in answer.crossings}
    if len(answer.crossings) > 1:
        if len(states) == 1 and states <= {"below", "above"}:
            side = "better" if states == {"below"} else "worse"
            return f"In every seed, {latent} is {side} than {pixel} at every compute both were measured at."
        return (f"Whether the curves cross the seeds do not agree ({', '.join(c.state for c in answer.crossings)}; "
                "report/savings.csv has the first seed's).")  # fmt: skip
    found = answer.crossings[0]
    a, b = pair.seeds[0]
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


def samples_to_decide(estimate: float, half_width: float) -> float:
    """How many times as many samples (and reference images) would make an interval of this
    half-width around this estimate exclude 0 if the estimate held: a jackknife interval of a
    smooth statistic narrows as 1/sqrt(n) (KID of distinct distributions; where they are nearly
    equal it narrows faster, so this errs high). inf when the estimate is 0."""
    if estimate == 0 or not math.isfinite(half_width):
        return math.inf
    return max(1.0, (half_width / abs(estimate)) ** 2)
