"""The report's first lines: one headline sentence per dataset, the answer to the benchmark's
question for it, shown beside its quality-vs-training-compute figure.

With curves along training (training.milestones) the answer is each latent model's compute-savings
factor at its pixel model's final KID and whether their curves cross (report/training_compute.py);
without them, which model is better at the end of training under the verdict's own error-rate rule
(the primary comparison, or Holm's correction over all). Where the data cannot tell, the sentence
says what would decide. The detailed sentences of the summary follow below it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from diffbench.report.findings import across_seeds, claimed, fmt
from diffbench.report.training_compute import AXES, CurveAnswer, crossing_words, samples_to_decide, target_words
from diffbench.specs import Comparison


@dataclass(frozen=True)
class Headline:
    dataset: str
    sentence: str
    figure: str  # the figure beside it (report/figures.py answer_figures)


def figure_name(dataset: str) -> str:
    return f"answer_{dataset}"


def _times_more(k: float) -> str:
    return f"{k:.0f}x" if k < 100 else f"{k:.2g}x"


def _decide_along_training(answer: CurveAnswer) -> str:
    """What would decide a savings factor the data cannot tell (empty when it is decided)."""
    t = answer.targets[0]
    pair = answer.pair
    if t.savings is None:  # pooled over seeds, or a problem
        undecided = t.pooled is None or t.pooled.low <= 1 <= t.pooled.high
        return "; more samples per evaluation or more training seeds would decide it" if undecided else ""
    s = t.savings
    if s.state == "reached":
        if s.interval is None:
            return (
                "; a target both curves reach well within their range (report.savings_target) would give it an interval"
            )
        if s.interval.low > 1 or s.interval.high < 1:
            return ""
        log_half = (math.log(s.interval.high) - math.log(s.interval.low)) / 2
        k = samples_to_decide(math.log(s.factor), log_half)
    elif s.bound_holds:
        return ""
    else:
        k = samples_to_decide(s.gap.estimate, (s.gap.high - s.gap.low) / 2)
    if not math.isfinite(k):
        return "; the two curves agree within noise, so no number of samples would separate them if that held"
    return (
        f"; about {_times_more(k)} as many samples and reference images per evaluation "
        f"({pair.n_generated} now) would decide it if the estimate held"
    )


def _headline_setting(along: list[CurveAnswer], primary: Comparison | None) -> tuple[tuple[str, int], str]:
    """The milestone setting the headline reads, and why when there are several: the primary
    comparison's (report.primary) where it has curves, else the first of sampling.milestone_settings."""
    settings = list(dict.fromkeys((a.pair.sampler, a.pair.steps) for a in along))
    if len(settings) == 1:
        return settings[0], ""
    if primary is not None and (primary.sampler, primary.steps) in settings:
        return (primary.sampler, primary.steps), f"report.primary's setting of {len(settings)}"
    return settings[0], f"the first of {len(settings)} sampling.milestone_settings; the others are below"


def _along_training(dataset: str, found: list[CurveAnswer], level: float, which: str = "") -> str:
    pair = found[0].pair
    unit = AXES[pair.unit][1] if pair.unit in AXES else ""
    clauses = []
    for answer in found:
        if answer.pair.problem:
            clauses.append(answer.pair.problem)
            continue
        words = target_words(answer.targets[0], answer.pair, level).rstrip(".")
        words += _decide_along_training(answer)
        clauses.append(f"{words}. {crossing_words(answer, level)}")
    seeds = f", over {len(pair.seeds)} training seeds" if len(pair.seeds) > 1 else ""
    return (
        f"{dataset}: {' '.join(c if c.endswith('.') else c + '.' for c in clauses)} (KID along training against total "
        f"training {unit}, every stage included; {pair.sampler}, {pair.steps} steps{f' ({which})' if which else ''}"
        f"{seeds}; {level:.0%} intervals, "
        "each on its own.)"
    )


def _at_the_end(dataset: str, units: pd.DataFrame, models: pd.DataFrame, total: int) -> str:
    """The end-of-training answer from the comparisons of this dataset's models."""
    compute = models.groupby("replicate_of").total_train_gflops.mean()
    spend = "; ".join(
        f"{m} {fmt(compute[m])}" for m in dict.fromkeys([*units.model_a, *units.model_b]) if pd.notna(compute.get(m))
    )
    spend = f" (total training GFLOPs: {spend})" if spend else ""
    how = "the primary comparison (report.primary)" if units.primary_declared.iloc[0] else (
        f"Holm's correction over {total} comparison{'s' if total > 1 else ''}")  # fmt: skip
    decided = units[units.claimed]
    curves = " No milestones, so no curves along training (training.milestones)."
    if len(decided):
        wins = "; ".join(
            f"{r.better} is better than {r.model_b if r.better == r.model_a else r.model_a} "
            f"({r.sampler}, {int(r.steps)} steps: KID difference {fmt(r.difference)} "
            f"[{fmt(r.ci_low)}, {fmt(r.ci_high)}])"
            for r in decided.itertuples()
        )
        return f"{dataset}, at the end of training{spend}: {wins}, decided by KID with {how}.{curves}"
    closest = units.assign(k=[samples_to_decide(r.difference, (r.ci_high - r.ci_low) / 2) for r in units.itertuples()])
    best = closest.loc[closest.k.idxmin()]
    need = (
        f" The clearest ({best.sampler}, {int(best.steps)} steps: KID difference {fmt(best.difference)} "
        f"[{fmt(best.ci_low)}, {fmt(best.ci_high)}]) would need about {_times_more(best.k)} as many samples and "
        "reference images if it held."
        if math.isfinite(best.k)
        else ""
    )
    return (
        f"{dataset}, at the end of training{spend}: the data cannot tell the latent and pixel models apart "
        f"(no KID difference excludes 0 with {how}).{need}{curves}"
    )


def headlines(
    models: pd.DataFrame,
    comparisons: pd.DataFrame,
    found: list[CurveAnswer],
    level: float,
    primary: Comparison | None = None,
) -> list[Headline]:
    """One headline per dataset that has a model (`found`: the curve answers, report/training_compute.py)."""
    units = across_seeds(comparisons) if len(comparisons) else pd.DataFrame()
    if len(units):
        units["claimed"] = claimed(units, primary, 1 - level)
        units["primary_declared"] = primary is not None
    lines = []
    for dataset in dict.fromkeys(models.dataset):
        along = [a for a in found if a.pair.dataset == dataset]
        if along:
            setting, which = _headline_setting(along, primary)
            chosen = [a for a in along if (a.pair.sampler, a.pair.steps) == setting]
            sentence = _along_training(dataset, chosen, level, which)
        elif len(units) and (units.dataset == dataset).any():
            sentence = _at_the_end(dataset, units[units.dataset == dataset], models, len(units))
        else:
            families = sorted(set(models[models.dataset == dataset].family))
            sentence = f"{dataset}: no latent and pixel models compared yet (models here: {', '.join(families)})."
        lines.append(Headline(dataset, sentence, figure_name(dataset)))
    return lines
