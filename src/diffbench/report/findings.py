"""The report's summary in words, computed from the runs table: which family wins where."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from diffbench.metrics.intervals import Interval, seeds_and_groups
from diffbench.metrics.multiplicity import holm_reject
from diffbench.specs import Comparison


def pareto_front(cost: pd.Series, quality: pd.Series) -> pd.Series:
    """True for runs no other run beats on both cost and quality (lower is better for both).

    Hand-written: a sort and a running minimum; no library offers a plain 2-D frontier on a frame.
    """
    valid = cost.notna() & quality.notna()
    order = pd.DataFrame({"cost": cost[valid], "quality": quality[valid]}).sort_values(["cost", "quality"])
    on_front, best = [], math.inf
    for index, row in order.iterrows():
        if row.quality < best:
            on_front.append(index)
            best = row.quality
    return pd.Series(cost.index.isin(on_front), index=cost.index)


def fmt(value: float, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:.{digits}g}"


def run_label(row: pd.Series) -> str:
    return f"{row.model} ({row.sampler}, {int(row.steps)} steps)"


def fid_with_ci(row: pd.Series) -> str:
    if pd.notna(row.get("fid_ci_low")):
        return f"{fmt(row.fid)} [{fmt(row.fid_ci_low)}, {fmt(row.fid_ci_high)}]"
    return fmt(row.fid)


# What compared models must share; a difference is named in the summary, since the comparison
# then measures it as much as the family.
FOOTING = {
    "dataset": "training data",
    "source": "where they were trained (here or pretrained elsewhere)",
    "noise_schedule": "noise schedule",
    "noise_levels": "noise levels drawn in training (diffusion.timestep_sampling)",
    "denoiser_architecture": "denoiser architecture",
    "train_device_name": "training device",
}


# The same for settings of each sample set (runs table), per model.
RUN_FOOTING = {
    "sampling_device_name": "sampling device",
    "step_noise_on": "where the noise of stochastic sampling steps was drawn (sampling.step_noise)",
    "sampling_speedups": "sampling speed options (sampling.speedups)",
    "x0_rule": "what the samplers do to the predicted x0 (runs table: x0_handling)",
    "timestep_spacing": "the timesteps the samplers visit (timestep_spacing)",
}


# evaluation.reference, as the summary names the images FID compares with ({n}: how many).
REFERENCE_WORDS = {
    "heldout": "{n} held-out images (never trained on)",
    "train": "the {n} training images (as DDPM, DDIM and LDM report FID)",
    "full": "all {n} images of the dataset",
}


def _reference_words(done: pd.DataFrame) -> str:
    n = fmt(done.n_reference.min(), 6)
    return REFERENCE_WORDS.get(done.reference.iloc[0], "{n} reference images").format(n=n)


# How a feature network can run other than as torch-fidelity runs it (evaluation.channels_last,
# evaluation.fold_batch_norm): the same arithmetic in another order, so features move by rounding.
NETWORK_FORMS = {
    "feature_channels_last": "channels-last convolutions",
    "feature_fold_batch_norm": "batch norms folded into the convolutions",
}


def network_form_words(done: pd.DataFrame) -> str:
    """Each of NETWORK_FORMS that some runs' features had (results from before a form existed lack it)."""
    words = ""
    for column, form in NETWORK_FORMS.items():
        used = set(done[column].dropna()) if column in done else set()
        if used == {True}:
            words += f", {form}"
        elif True in used:
            words += f", some runs' features with {form}"
    return words


def _sampler_words(runs: pd.DataFrame) -> str:
    """What the samplers of every run do, for the equal-footing sentence (which has checked that
    all runs share the rule and the spacing): x0 handling with each model's limit, and the spacing."""
    done = runs[runs.x0_rule.astype(str) != ""] if "x0_rule" in runs else runs.iloc[:0]
    if done.empty:
        return "how is not recorded"
    rule = done.x0_rule.iloc[0]
    if rule == "none":
        words = "x0 left unclamped"
    else:
        limits = done.dropna(subset=["x0_limit"]).groupby("model", sort=False).x0_limit.first()
        words = f"x0 {rule} ({', '.join(f'{model} ±{fmt(limit)}' for model, limit in limits.items())})"
    spacing = sorted(set(done.timestep_spacing.astype(str)) - {""})
    return words + (f", {spacing[0]} timestep spacing" if spacing else "")


def _noise_level_words(models: pd.DataFrame) -> str:
    """The noise levels the trained models drew (the equal-footing sentence has checked that they
    share them); nothing where none is recorded (pretrained models, records before the key)."""
    levels = set(models.noise_levels.astype(str)) - {"", "nan"}
    return f", the noise levels drawn in training ({levels.pop()})" if levels else ""


def unequal_footing(runs: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """One phrase per setting in which the models differ, naming each model's value."""
    columns = {c: models.set_index("model")[c] for c in FOOTING}
    for column in RUN_FOOTING:
        if column in runs:
            per_model = runs.dropna(subset=[column]).groupby("model")[column]
            columns[column] = per_model.agg(lambda names: ", ".join(sorted(set(map(str, names)))))
    what = {**FOOTING, **RUN_FOOTING}
    phrases = []
    for column, values in columns.items():
        values = values[values.notna() & (values.astype(str) != "")]
        if values.nunique() > 1:
            groups = [", ".join(names) + f": {value}" for value, names in values.groupby(values).groups.items()]
            phrases.append(f"{what[column]} ({'; '.join(groups)})")
    return phrases


def _kid_with_ci(value, low, high) -> str:
    return f"{fmt(value)} [{fmt(low)}, {fmt(high)}]" if pd.notna(low) else fmt(value)


def autoencoder_bounds(done: pd.DataFrame) -> list[str]:
    """Each latent model's runs beside the bound its first stage sets, on like terms: the KID of its
    reconstructions of as many images independent of the reference, scored as samples are (no
    minimum over runs: every run is set beside it)."""
    lines = []
    latent = done[(done.family == "latent") & done.reconstruction_rkid.notna()]
    for model, group in latent.groupby("model", sort=False):
        first = group.iloc[0]
        low, high = first.reconstruction_rkid_ci_low, first.reconstruction_rkid_ci_high
        parts = []
        for _, run in group.iterrows():
            if pd.isna(low) or pd.isna(run.kid_ci_low):
                where = "no intervals to compare"
            elif run.kid_ci_low > high:
                where = "above it: the first stage is not what limits this run"
            elif run.kid_ci_high < low:
                where = "below it, which samples decoded by the same autoencoder are not expected to reach"
            else:
                where = "its interval overlaps the bound's: as far as these data tell, the autoencoder bounds it"
            parts.append(
                f"{run.sampler}, {int(run.steps)} steps, KID {_kid_with_ci(run.kid, run.kid_ci_low, run.kid_ci_high)}"
                f" ({where})"
            )
        lines.append(
            f"{model}: its first stage's reconstructions of {fmt(first.reconstruction_independent_n, 6)} images "
            f"independent of the reference, scored as its samples are, reach KID "
            f"{_kid_with_ci(first.reconstruction_rkid, low, high)} (rFID {fmt(first.reconstruction_rfid_independent)}; "
            f"the paired rFID of held-out reconstructions, as the LDM paper reports it, is "
            f"{fmt(first.reconstruction_rfid)} and not comparable with a sample set's FID). Its runs: "
            + "; ".join(parts)
            + "."
        )
    return lines


# Total training compute of two models within this share of each other counts as matched (a time
# budget stops at the first step past it, so equal budgets give totals a step apart).
MATCHED_COMPUTE = 0.10


def _compute_match(a: pd.Series, b: pd.Series) -> str | None:
    """How two models' total training compute compares, in words; None when either is unknown."""
    if pd.isna(a.total_train_s) or pd.isna(b.total_train_s):
        return None
    pairs = [(a.total_train_s, b.total_train_s, "s"), (a.total_train_gflops, b.total_train_gflops, "GFLOPs")]
    matched = [unit for x, y, unit in pairs if abs(x - y) <= MATCHED_COMPUTE * max(x, y)]
    amounts = " vs ".join(f"{fmt(m.total_train_s)} s / {fmt(m.total_train_gflops)} GFLOPs" for m in (a, b))
    if not matched:
        return f"UNEQUAL total training compute ({amounts})"
    # A time budget matches seconds, not FLOPs: say which measure differs, since a cheaper UNet
    # does more steps (or less work) in the same time.
    unmatched = [unit for _, _, unit in pairs if unit not in matched]
    also = f", not in {unmatched[0]}" if unmatched else ""
    return f"matched total training compute (in {' and '.join(matched)}{also}: {amounts})"


# What the verdict's statistic is and what its interval covers, said once in the verdict sentence.
KID_WORDS = (
    "KID, the unbiased estimate of the squared MMD between a model's and the data's feature distributions, "
    "whose target does not move with the sample size (FID at n does: its bias depends on each model's own "
    "covariance, so at these sizes it can put two models in the wrong order)"
)


def comparison_sentence(row: pd.Series) -> str:
    """One comparison in words: the KID difference with its interval and verdict, FID beside it."""
    if row.seeds > 1:
        replicated = row.model_b if row.single == row.model_a else row.model_a
        over, shared = (
            (f"over {int(row.seeds)} training seeds of {replicated} against {row.single}'s one model",
             f"the reference images and {row.single}'s sample set, which every replicate shares")
            if row.get("single") else
            (f"over {int(row.seeds)} training seeds",
             "the reference images and sampling seeds every replicate shares")
        )  # fmt: skip
        what = (
            f"{over}: mean KID {fmt(row.kid_a)} vs {fmt(row.kid_b)}, mean difference "
            f"{fmt(row.difference)} [{fmt(row.ci_low)}, {fmt(row.ci_high)}] ({row.ci_level:.0%} interval over "
            f"seeds and image groups: it holds the training seeds' noise and that of {shared})"
        )
    else:
        what = (
            f"KID {fmt(row.kid_a)} vs {fmt(row.kid_b)}, difference {fmt(row.difference)} "
            f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}] ({row.ci_level:.0%} interval, p = {fmt(row.p_value, 2)})"
        )
    fid = f"FID {fmt(row.fid_a)} vs {fmt(row.fid_b)}"
    if pd.notna(row.get("fid_ci_low")):
        fid += f", difference {fmt(row.fid_difference)} [{fmt(row.fid_ci_low)}, {fmt(row.fid_ci_high)}]"
    verdict = f"{row.better} is better" if isinstance(row.better, str) else "the data cannot tell which is better"
    return f"{row.model_a} vs {row.model_b} ({row.sampler}, {int(row.steps)} steps): {what}; {fid}: {verdict}."


def across_seeds(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The unit of the verdict: one row per (model a, model b, sampler, steps), replicates
    (training.seeds: of both models, paired by seed, or of one, each paired with the other's one
    model) pooled into the mean KID difference with an interval over seeds and image groups together
    (metrics.intervals.seeds_and_groups); a pair without replicates keeps its paired interval.
    `single`: the model without replicates in a one-sided pool ("" otherwise)."""
    rows = []
    keys = ["replicate_of_a", "replicate_of_b", "sampler", "steps"]
    for (a, b, sampler, steps), group in comparisons.groupby(keys, sort=False):
        first, seeds, level = group.iloc[0], len(group), group.ci_level.iloc[0]
        if seeds > 1:
            replicates = np.array([list(r) for r in group.jackknife_replicates], np.float64)
            interval = seeds_and_groups(group.difference.to_numpy(), replicates, level)
            p_value = interval.p_value()
        else:
            interval = Interval(first.difference, first.ci_low, first.ci_high, level, first.se, first.ci_groups)
            p_value = first.p_value
        means = group[["kid_a", "kid_b", "fid_a", "fid_b", "fid_difference", "fid_ci_low", "fid_ci_high"]].mean()
        single = next((m.iloc[0] for m in (group.model_a, group.model_b) if seeds > 1 and m.nunique() == 1), "")
        rows.append({"dataset": first.dataset, "model_a": a, "model_b": b, "family_a": first.family_a,
                     "family_b": first.family_b, "sampler": sampler, "steps": steps, "seeds": seeds, "single": single,
                     **means.to_dict(),
                     "fid_ci_low": means.fid_ci_low if seeds == 1 else math.nan,
                     "fid_ci_high": means.fid_ci_high if seeds == 1 else math.nan,
                     "difference": interval.estimate, "ci_low": interval.low, "ci_high": interval.high,
                     "ci_level": level, "p_value": p_value, "better": interval.better(a, b)})  # fmt: skip
    return pd.DataFrame(rows)


def _is_primary(row: pd.Series, primary: Comparison | None) -> bool:
    return primary is not None and (row.model_a, row.model_b, row.sampler, int(row.steps)) == (
        primary.model_a, primary.model_b, primary.sampler, primary.steps)  # fmt: skip


def claimed(units: pd.DataFrame, primary: Comparison | None, alpha: float) -> pd.Series:
    """Which comparisons (rows of `across_seeds`) a claim may rest on at the stated error rate: the
    declared primary one when it decides (report.primary), else those Holm's correction keeps."""
    if primary is not None:
        return pd.Series([_is_primary(r, primary) and isinstance(r.better, str) for _, r in units.iterrows()],
                         index=units.index, dtype=bool)  # fmt: skip
    return pd.Series(holm_reject(units.p_value.fillna(1.0), alpha), index=units.index, dtype=bool)


def _family_words(winners: list[str], what: str) -> str:
    """The family claim from the comparisons that decide it (their winners' families)."""
    latent, pixel = winners.count("latent"), winners.count("pixel")
    if latent and not pixel:
        return f" {what}, latent diffusion wins."
    if pixel and not latent:
        return f" {what}, pixel-space diffusion wins."
    if latent and pixel:
        return " The families win in different settings: see each comparison."
    return ""


def paired_verdict(comparisons: pd.DataFrame, models: pd.DataFrame, primary: Comparison | None = None) -> list[str]:
    """Latent vs pixel from the paired comparisons (matched sampler, NFE and seeds), never best-of-family.

    One family claim with the error rate it states: from the primary comparison when the config
    declares one (report.primary), else from all comparisons with Holm's correction."""
    if comparisons.empty:
        return []
    units = across_seeds(comparisons)
    level = units.ci_level.iloc[0]
    alpha = 1 - level
    units["holm"] = claimed(units, None, alpha)
    # Training compute per model, averaged over its replicates.
    by_base = models.groupby("replicate_of")[["total_train_s", "total_train_gflops"]].mean()
    lines, unequal = [], []
    for (a, b), group in units.groupby(["model_a", "model_b"], sort=False):
        match = _compute_match(by_base.loc[a], by_base.loc[b]) if {a, b} <= set(by_base.index) else None
        footing = match or "training compute unknown (pretrained)"
        if match and match.startswith("UNEQUAL"):
            unequal.append(f"{a} vs {b}")
        lines.append(f"{a} vs {b}, {footing}: " + " ".join(comparison_sentence(r) for _, r in group.iterrows()))

    def family(row: pd.Series) -> str:
        return row.family_a if row.better == row.model_a else row.family_b

    spread = " (across training seeds where models have replicates)" if (units.seeds > 1).any() else ""
    total = len(units)
    chosen = units[[_is_primary(r, primary) for _, r in units.iterrows()]]
    if primary is not None and len(chosen):
        row = chosen.iloc[0]
        decided = isinstance(row.better, str)
        outcome = f"{row.better} is better" if decided else "the data cannot tell which is better"
        verdict = (
            f"Verdict, from the primary comparison declared in the config (report.primary), decided by {KID_WORDS}: "
            f"{row.model_a} vs {row.model_b} ({row.sampler}, {int(row.steps)} steps), KID difference "
            f"{fmt(row.difference)} [{fmt(row.ci_low)}, {fmt(row.ci_high)}] ({level:.0%} interval{spread}): {outcome}."
        )
        if decided:
            verdict += _family_words([family(row)], "In this comparison")
        if total > 1:
            verdict += (
                f" The other {total - 1} comparisons below are secondary: each interval holds at {level:.0%} on its "
                "own, with no correction for their number, so they support no family claim."
            )
    elif primary is not None:
        verdict = (
            f"Verdict: the primary comparison of the config (report.primary: {primary.model_a} vs "
            f"{primary.model_b}, {primary.sampler}, {primary.steps} steps) has no result yet, so no family "
            "claim is made; the comparisons below are secondary."
        )
    else:
        decided = units[units.holm]
        counts = decided.apply(family, axis=1).value_counts() if len(decided) else pd.Series(dtype=int)
        if decided.empty:
            verdict = (
                f"Verdict: in none of the {total} paired comparisons of latent and pixel models at matched sampler and "
                f"NFE does the difference in {KID_WORDS} exclude 0 at {level:.0%} with Holm's correction for "
                f"{total} comparisons{spread}, so these data cannot decide between the families. More samples and "
                "reference images (sampling.num_samples, datasets.<name>.num_reference) narrow the intervals; "
                "declaring one primary comparison (report.primary) spends the whole error rate on it; a larger "
                "training budget separates the models more."
            )
        else:
            verdict = (
                f"Verdict over {total} paired comparisons at matched sampler and NFE, decided by {KID_WORDS}, with "
                f"Holm's correction so that the chance of any false claim here is at most {alpha:.0%}{spread}: latent "
                f"better in {counts.get('latent', 0)}, pixel better in {counts.get('pixel', 0)}, and the data cannot "
                f"tell in {total - len(decided)}."
            )
            verdict += _family_words(list(decided.apply(family, axis=1)), "Where the data decide")
        uncorrected = int(units.better.map(lambda x: isinstance(x, str)).sum())
        if uncorrected != len(decided):
            verdict += (
                f" ({uncorrected} of the intervals below exclude 0 on their own, at {level:.0%} each; "
                f"{len(decided)} remain after the correction.)"
            )
    if unequal:
        verdict += f" Caution: {', '.join(unequal)} had unequal training compute, so the verdict mixes in the budget."
    return [verdict, *lines]


def infinity_line(done: pd.DataFrame, most: int = 8) -> list[str]:
    """FID at infinity of each run (or its range when there are many), which compares across sample sizes."""
    fitted = done.dropna(subset=["fid_infinity"])
    too_few = done[
        done.fid_infinity.isna() & (done[["n_samples", "n_reference"]].min(axis=1) < done.fid_infinity_min_size)
    ]
    hidden = (
        [
            f"FID at infinity is not computed for {len(too_few)} of {len(done)} runs: the fit in 1/N only extrapolates "
            f"to the distance when both sets hold at least {fmt(too_few.fid_infinity_min_size.max(), 6)} images "
            "(so that the fit's smallest subset holds evaluation.fid_infinity_min_ratio x the feature dimensions; "
            "benchmarks/verdict_truth.py), and these "
            f"hold {fmt(too_few[['n_samples', 'n_reference']].min(axis=1).min(), 6)}."
        ]
        if len(too_few)
        else []
    )
    if fitted.empty:
        return hidden
    what = (
        "FID at infinity (Chong & Forsyth 2020: FID on subsets of both the generated and the reference images, "
        "fitted linearly in 1/N and extrapolated; comparable across sample sizes, unlike FID at N)"
    )
    if len(fitted) > most:
        low, high = fitted.loc[fitted.fid_infinity.idxmin()], fitted.loc[fitted.fid_infinity.idxmax()]
        values = (f" ranges from {fmt(low.fid_infinity)} ({run_label(low)}) to {fmt(high.fid_infinity)} "
                  f"({run_label(high)}); every run's value and interval is in the runs table.")  # fmt: skip
    else:
        values = (
            ": "
            + "; ".join(
                f"{run_label(r)} {fmt(r.fid_infinity)} [{fmt(r.fid_infinity_ci_low)}, {fmt(r.fid_infinity_ci_high)}]"
                for _, r in fitted.iterrows()
            )
            + "."
        )
    caveat = (
        " Rough here: with fewer images than feature dimensions FID is not linear in 1/N, so the "
        "extrapolation can order runs but does not estimate the distance."
        if fitted.fid_set_below_feature_dim.any()
        else ""
    )
    return [what + values + caveat, *hidden]


def summary(
    runs: pd.DataFrame, models: pd.DataFrame, comparisons: pd.DataFrame, primary: Comparison | None = None
) -> list[str]:
    """Plain sentences for the top of the report; every number comes from the tables (`primary`:
    report.primary)."""
    done = runs.dropna(subset=["fid"])
    if done.empty:
        return ["No run has an FID yet: see 'Provenance' for the result files that are missing."]
    level = done.fid_ci_level.dropna()
    ci_text = (
        f" Brackets are {level.iloc[0]:.0%} intervals (delete-a-group jackknife) of the FID a fresh set of as many "
        "samples would get against the same reference images."
        if len(level)
        else " No intervals were computed (evaluation.interval_groups: 0)."
    )
    lines = [
        f"{len(done)} of {len(runs)} runs evaluated: {done.model.nunique()} models "
        f"({', '.join(f'{n} {fam}' for fam, n in done.groupby('family').model.nunique().items())}) on "
        f"{', '.join(sorted(done.dataset.unique()))}, FID from {fmt(done.n_samples.min(), 6)}"
        + (f"–{fmt(done.n_samples.max(), 6)}" if done.n_samples.nunique() > 1 else "")
        + f" samples against {_reference_words(done)}"
        f" ({done.feature_extractor.iloc[0]}, {done.resize.iloc[0]} resize{network_form_words(done)}).{ci_text}"
    ]
    differences = unequal_footing(runs, models)
    if differences:
        lines.append(
            "Not on equal footing: the models differ in " + "; and in ".join(differences) + ". Differences in "
            "quality below may come from these settings as much as from pixel vs latent space."
        )
    elif len(models) > 1:
        lines.append(
            f"Equal footing: every model shares the noise schedule{_noise_level_words(models)}, "
            "denoiser architecture, training data and devices, "
            f"and every sampler treats the models alike: {_sampler_words(runs)}."
        )
    lines += paired_verdict(comparisons, models, primary)
    lines += autoencoder_bounds(done)
    front = done[pareto_front(done.sampling_s_per_image, done.fid)]
    families = ", ".join(f"{n} {fam}" for fam, n in front.family.value_counts().items())
    points = "; ".join(
        f"{run_label(r)} at {fmt(r.sampling_s_per_image)} s/image, FID {fmt(r.fid)}"
        for _, r in front.sort_values("sampling_s_per_image").iterrows()
    )
    runs_are = "1 run is" if len(front) == 1 else f"{len(front)} runs are"
    lines.append(f"{runs_are} on the FID-vs-time Pareto frontier ({families}): {points}.")
    lines += infinity_line(done)
    lines += throughput_line(done)
    trained = models.dropna(subset=["total_train_s"])
    if not trained.empty:
        lines.append(
            "Training compute, every stage (first stage, latent encoding, denoiser): "
            + "; ".join(
                f"{row.model} {fmt(row.total_train_s)} s, {fmt(row.total_train_gflops)} GFLOPs "
                f"({fmt(row.unet_train_images_seen, 6)} images seen by the UNet)"
                for row in trained.itertuples()
            )
            + "."
        )
        amortised = trained[(trained.budget_scope == "denoiser") & (trained.family == "latent")]
        if not amortised.empty:
            lines.append(
                f"The first stage of {', '.join(amortised.model)} is treated as amortised (budget_scope: denoiser): "
                "its training budget covered the denoiser only, so those models had more total compute than the "
                "budget says; the totals above include it."
            )
    diverse = done.dropna(subset=["lpips_diversity"])
    if not diverse.empty:
        low, high = diverse.loc[diverse.lpips_diversity.idxmin()], diverse.loc[diverse.lpips_diversity.idxmax()]
        lines.append(
            f"Sample diversity (mean pairwise LPIPS) ranges from {fmt(low.lpips_diversity)} "
            f"({run_label(low)}) to {fmt(high.lpips_diversity)} ({run_label(high)}); "
            "a value far below the others points to mode collapse."
        )
    if bool(np.any(done.fid_set_below_feature_dim)):
        lines.append(
            "Caution: some FIDs use fewer generated samples or reference images than feature dimensions, "
            "so they are strongly biased upward, by an amount that depends on each model's own covariance: they "
            "are not comparable with papers, and even at equal set sizes two models' FIDs can be in the wrong "
            "order. The verdict therefore rests on KID, whose estimate has no such bias."
        )
    return lines


def throughput_line(done: pd.DataFrame) -> list[str]:
    """Each model's throughput at the best batch beside the configured batch's, at its largest NFE
    (from the batch sweep: UNet evaluations and decode, as the LDM paper reports throughput)."""
    if "throughput_best_images_per_s" not in done:
        return []
    swept = done.dropna(subset=["throughput_best_images_per_s"])
    parts = []
    for model, group in swept.groupby("model", sort=False):
        row = group.loc[group.nfe.idxmax()]
        configured = row.throughput_configured_images_per_s
        at_configured = f"{fmt(configured)} img/s" if pd.notna(configured) else "not in the sweep"
        configured_batch = int(row.throughput_configured_batch)
        parts.append(
            f"{model} at {int(row.nfe)} NFE {fmt(row.throughput_best_images_per_s)} img/s with batch "
            f"{int(row.throughput_best_batch)} (configured batch {configured_batch}: {at_configured})"
        )
    if not parts:
        return []
    return ["Throughput at the best batch (UNet evaluations and decode, sampling.throughput_max_batch): "
            + "; ".join(parts) + "."]  # fmt: skip


def published_findings(published: pd.DataFrame) -> list[str]:
    """A sentence per run beside a published number: reproduced, not reproduced or inconclusive by
    an equivalence test against the file's margin, only when the protocols agree in every item the
    paper states; otherwise the items that differ, and no verdict."""
    lines = []
    for row in published.itertuples(index=False):
        interval = f" [{fmt(row.ours_ci_low)}, {fmt(row.ours_ci_high)}]" if pd.notna(row.ours_ci_low) else ""
        ours = fmt(row.ours) + interval
        head = (
            f"Published vs ours, {row.model} ({row.sampler}, {row.steps} steps) against {row.paper}, {row.table}: "
            f"FID {ours} vs {fmt(row.published)} (ours − published = {row.difference:+.3g})"
        )
        band = f"±{row.equivalence_margin:.0%} of the published value ({fmt(row.equivalence_margin * row.published)})"
        if row.protocol_differences != "none":
            lines.append(
                f"{head}; not a test of the paper's number, the protocols differ in {row.protocol_differences}."
            )
        elif not isinstance(row.reproduction, str):
            lines.append(f"{head}; same protocol, but no interval was computed (evaluation.interval_groups: 0).")
        else:
            # sqrt(2) x ours: the published value taken as one draw with our sampling noise (same protocol and N)
            difference = f"ours − published [{fmt(row.difference_ci_low)}, {fmt(row.difference_ci_high)}]"
            test = (f"same protocol, and {difference} (√2 × our interval, taking the paper's value as one draw "
                    "with our sampling noise)")  # fmt: skip
            if row.reproduction == "reproduced":
                lines.append(f"{head}; {test} lies within {band}: reproduced.")
            elif row.reproduction == "not reproduced":
                lines.append(f"{head}; {test} lies wholly outside {band}: not reproduced.")
            else:
                lines.append(
                    f"{head}; {test} reaches across the edge of {band}: inconclusive (at this N the noise of the two "
                    "sample sets is wider than the declared margin)."
                )
    return lines
