"""The report's summary in words, computed from the runs table: which family wins where."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from diffbench.metrics.intervals import Interval, t_interval


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


def _layout_words(done: pd.DataFrame) -> str:
    """The feature network's memory format when it was not torch's default (evaluation.channels_last)."""
    layouts = set(done.feature_channels_last.dropna())
    if layouts == {True}:
        return ", channels-last convolutions"
    return ", some runs' features with channels-last convolutions" if True in layouts else ""


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


# A latent model's FID within this factor of its autoencoder's rFID is bounded by its first stage:
# even perfect latents decode to images that far from the data.
CLOSE_TO_RFID = 1.25


def autoencoder_bounds(done: pd.DataFrame) -> list[str]:
    """Each latent model's best FID beside its autoencoder's rFID, saying when the first stage bounds it."""
    lines = []
    latent = done[(done.family == "latent") & done.reconstruction_rfid.notna()]
    for model, group in latent.groupby("model", sort=False):
        best = group.loc[group.fid.idxmin()]
        ratio = best.fid / best.reconstruction_rfid
        if ratio > CLOSE_TO_RFID:
            verdict = f"well above it ({ratio:.2g}x), so its first stage is not what limits it"
        elif ratio >= 1 / CLOSE_TO_RFID:
            verdict = (
                f"close to it ({ratio:.2g}x, within {CLOSE_TO_RFID:g}x), so its quality is bounded by its autoencoder: "
                "a better first stage, not more denoiser training or sampling steps, would lower it"
            )
        else:  # samples pass through the same decoder as the reconstructions
            verdict = (
                f"below it ({ratio:.2g}x), which a sample set decoded by the same autoencoder is not expected to "
                "reach: these FIDs are too noisy here to tell whether the first stage bounds it (see the intervals)"
            )
        lines.append(
            f"{model}: best FID {fid_with_ci(best)} ({best.sampler}, {int(best.steps)} steps) against its "
            f"autoencoder's reconstruction FID (rFID) {fmt(best.reconstruction_rfid)}: {verdict}."
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


def comparison_sentence(row: pd.Series) -> str:
    """One comparison in words: both FIDs, the difference with its interval, the verdict."""
    if row.seeds > 1:
        what = (
            f"over {int(row.seeds)} training seeds: mean FID {fmt(row.fid_a)} vs {fmt(row.fid_b)}, mean difference "
            f"{fmt(row.difference)} [{fmt(row.ci_low)}, {fmt(row.ci_high)}] ({row.ci_level:.0%} t-interval across "
            "seeds, which holds training-seed and sampling noise)"
        )
    else:
        what = (
            f"FID {fmt(row.fid_a)} vs {fmt(row.fid_b)}, difference {fmt(row.difference)} "
            f"[{fmt(row.ci_low)}, {fmt(row.ci_high)}] ({row.ci_level:.0%} interval)"
        )
    verdict = f"{row.better} is better" if isinstance(row.better, str) else "the data cannot tell which is better"
    return f"{row.model_a} vs {row.model_b} ({row.sampler}, {int(row.steps)} steps): {what}: {verdict}."


def across_seeds(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The unit of the verdict: one row per (model a, model b, sampler, steps), replicates of a model
    (training.seeds) pooled into a t-interval of the mean difference across seeds; a model without
    replicates keeps its paired interval."""
    rows = []
    keys = ["replicate_of_a", "replicate_of_b", "sampler", "steps"]
    for (a, b, sampler, steps), group in comparisons.groupby(keys, sort=False):
        first, seeds, level = group.iloc[0], len(group), group.ci_level.iloc[0]
        if seeds > 1:
            interval = t_interval(group.difference, level)
            fid_a, fid_b = group.fid_a.mean(), group.fid_b.mean()
        else:
            interval = Interval(first.difference, first.ci_low, first.ci_high, level, math.nan, 0)
            fid_a, fid_b = first.fid_a, first.fid_b
        rows.append({"model_a": a, "model_b": b, "family_a": first.family_a, "family_b": first.family_b,
                     "sampler": sampler, "steps": steps, "seeds": seeds, "fid_a": fid_a, "fid_b": fid_b,
                     "difference": interval.estimate, "ci_low": interval.low, "ci_high": interval.high,
                     "ci_level": level, "better": interval.better(a, b)})  # fmt: skip
    return pd.DataFrame(rows)


def paired_verdict(comparisons: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """Latent vs pixel from the paired comparisons (matched sampler, NFE and seeds), never best-of-family."""
    if comparisons.empty:
        return []
    units = across_seeds(comparisons)
    # Training compute per model, averaged over its replicates.
    by_base = models.groupby("replicate_of")[["total_train_s", "total_train_gflops"]].mean()
    lines = []
    counts = {"latent": 0, "pixel": 0, "none": 0}
    unequal = []
    for (a, b), group in units.groupby(["model_a", "model_b"], sort=False):
        match = _compute_match(by_base.loc[a], by_base.loc[b]) if {a, b} <= set(by_base.index) else None
        footing = match or "training compute unknown (pretrained)"
        if match and match.startswith("UNEQUAL"):
            unequal.append(f"{a} vs {b}")
        lines.append(f"{a} vs {b}, {footing}: " + " ".join(comparison_sentence(r) for _, r in group.iterrows()))
        for _, row in group.iterrows():
            winner = row.better if isinstance(row.better, str) else None
            counts["none" if winner is None else (row.family_a if winner == a else row.family_b)] += 1
    total = len(units)
    level = units.ci_level.iloc[0]
    spread = " (across training seeds where a model has replicates)" if (units.seeds > 1).any() else ""
    if counts["none"] == total:
        verdict = (
            f"Verdict: in none of the {total} paired comparisons of latent and pixel models at matched sampler and NFE "
            f"does the {level:.0%} interval of the FID difference{spread} exclude 0, so these data cannot decide "
            "between the families. More samples and reference images (sampling.num_samples, "
            "datasets.<name>.num_reference) narrow the intervals; training seeds (training.seeds) show how much of "
            "a difference is the seed; a larger training budget separates the models more."
        )
    else:
        verdict = (
            f"Verdict over {total} paired comparisons at matched sampler and NFE ({level:.0%} intervals{spread}, each "
            f"holding for one comparison): latent better in {counts['latent']}, pixel better in {counts['pixel']}, "
            f"and the data cannot tell in {counts['none']}."
        )
        if counts["latent"] and not counts["pixel"]:
            verdict += " Where the data decide, latent diffusion wins."
        elif counts["pixel"] and not counts["latent"]:
            verdict += " Where the data decide, pixel-space diffusion wins."
        else:
            verdict += " The families win in different settings: see each comparison."
    if unequal:
        verdict += f" Caution: {', '.join(unequal)} had unequal training compute, so the verdict mixes in the budget."
    return [verdict, *lines]


def infinity_line(done: pd.DataFrame, most: int = 8) -> list[str]:
    """FID at infinity of each run (or its range when there are many), which compares across sample sizes."""
    fitted = done.dropna(subset=["fid_infinity"])
    if fitted.empty:
        return []
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
    return [what + values + caveat]


def summary(runs: pd.DataFrame, models: pd.DataFrame, comparisons: pd.DataFrame) -> list[str]:
    """Plain sentences for the top of the report; every number comes from the tables."""
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
        f" ({done.feature_extractor.iloc[0]}, {done.resize.iloc[0]} resize{_layout_words(done)}).{ci_text}"
    ]
    differences = unequal_footing(runs, models)
    if differences:
        lines.append(
            "Not on equal footing: the models differ in " + "; and in ".join(differences) + ". Differences in "
            "quality below may come from these settings as much as from pixel vs latent space."
        )
    elif len(models) > 1:
        lines.append(
            "Equal footing: every model shares the noise schedule, denoiser architecture, training data and devices, "
            f"and every sampler treats the models alike: {_sampler_words(runs)}."
        )
    lines += paired_verdict(comparisons, models)
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
            "so they are strongly biased upward and only comparable within this report (equal set sizes), "
            "not with papers."
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
    """A sentence per run beside a published number: reproduced or not only when the protocols
    agree in every item the paper states; otherwise the items that differ, and no verdict."""
    lines = []
    for row in published.itertuples(index=False):
        interval = f" [{fmt(row.ours_ci_low)}, {fmt(row.ours_ci_high)}]" if pd.notna(row.ours_ci_low) else ""
        ours = fmt(row.ours) + interval
        head = (
            f"Published vs ours, {row.model} ({row.sampler}, {row.steps} steps) against {row.paper}, {row.table}: "
            f"FID {ours} vs {fmt(row.published)} (ours − published = {row.difference:+.3g})"
        )
        if row.protocol_differences != "none":
            lines.append(
                f"{head}; not a test of the paper's number, the protocols differ in {row.protocol_differences}."
            )
        elif row.published_in_interval is None:
            lines.append(f"{head}; same protocol, but no interval was computed (evaluation.interval_groups: 0).")
        elif row.published_in_interval:
            lines.append(f"{head}; same protocol, and the published value is inside our interval: reproduced.")
        else:
            lines.append(f"{head}; same protocol, and the published value is outside our interval: not reproduced.")
    return lines
