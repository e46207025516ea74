"""The report's summary in words, computed from the runs table: which family wins where."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


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


def _cis_overlap(a: pd.Series, b: pd.Series) -> bool | None:
    if pd.isna(a.get("fid_ci_low")) or pd.isna(b.get("fid_ci_low")):
        return None
    return not (a.fid_ci_high < b.fid_ci_low or b.fid_ci_high < a.fid_ci_low)


def _compare(best: dict[str, pd.Series]) -> str:
    (fam_a, a), (fam_b, b) = sorted(best.items(), key=lambda item: item[1].fid)
    overlap = _cis_overlap(a, b)
    verdict = {
        True: "the confidence intervals overlap, so this is not a clear difference",
        False: "the confidence intervals do not overlap",
        None: "no confidence intervals were computed",
    }[overlap]
    return (
        f"{fam_a} model {run_label(a)} reaches FID {fid_with_ci(a)} vs {fam_b} model {run_label(b)} "
        f"{fid_with_ci(b)}; {verdict}."
    )


# What compared models must share; a difference is named in the summary, since the comparison
# then measures it as much as the family.
FOOTING = {
    "dataset": "training data",
    "source": "where they were trained (here or pretrained elsewhere)",
    "noise_schedule": "noise schedule",
    "denoiser_architecture": "denoiser architecture",
    "train_device_name": "training device",
}


def unequal_footing(runs: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """One phrase per setting in which the models differ, naming each model's value."""
    columns = {c: models.set_index("model")[c] for c in FOOTING}
    devices = runs.dropna(subset=["sampling_device_name"]).groupby("model").sampling_device_name
    columns["sampling_device_name"] = devices.agg(lambda names: ", ".join(sorted(set(names))))
    what = {**FOOTING, "sampling_device_name": "sampling device"}
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
        verdict = (
            f"within {CLOSE_TO_RFID:g}x of it, so its quality is bounded by its autoencoder: a better first stage, "
            "not more denoiser training or sampling steps, would lower it"
            if ratio <= CLOSE_TO_RFID
            else "well above it, so its first stage is not what limits it"
        )
        lines.append(
            f"{model}: best FID {fid_with_ci(best)} ({best.sampler}, {int(best.steps)} steps) against its "
            f"autoencoder's reconstruction FID (rFID) {fmt(best.reconstruction_rfid)}: {verdict}."
        )
    return lines


def summary(runs: pd.DataFrame, models: pd.DataFrame) -> list[str]:
    """Plain sentences for the top of the report; every number comes from `runs` / `models`."""
    done = runs.dropna(subset=["fid"])
    if done.empty:
        return ["No run has an FID yet: see 'Provenance' for the result files that are missing."]
    level = done.fid_ci_level.dropna()
    ci_text = f" Brackets are {int(round(level.iloc[0] * 100))}% bootstrap intervals." if len(level) else ""
    lines = [
        f"{len(done)} of {len(runs)} runs evaluated: {done.model.nunique()} models "
        f"({', '.join(f'{n} {fam}' for fam, n in done.groupby('family').model.nunique().items())}) on "
        f"{', '.join(sorted(done.dataset.unique()))}, FID from {fmt(done.n_samples.min(), 6)}"
        + (f"–{fmt(done.n_samples.max(), 6)}" if done.n_samples.nunique() > 1 else "")
        + f" samples against {fmt(done.n_reference.min(), 6)} reference images"
        f" ({done.feature_extractor.iloc[0]}, {done.resize.iloc[0]} resize).{ci_text}"
    ]
    differences = unequal_footing(runs, models)
    if differences:
        lines.append(
            "Not on equal footing: the models differ in " + "; and in ".join(differences) + ". Differences in "
            "quality below may come from these settings as much as from pixel vs latent space."
        )
    elif len(models) > 1:
        lines.append(
            "Equal footing: every model shares the noise schedule, denoiser architecture, training data and devices."
        )
    best = {family: group.loc[group.fid.idxmin()] for family, group in done.groupby("family")}
    for family, row in sorted(best.items()):
        lines.append(
            f"Best {family} run: {run_label(row)}, FID {fid_with_ci(row)} at "
            f"{fmt(row.sampling_s_per_image)} s/image ({fmt(row.nfe, 4)} NFE)."
        )
    if len(best) == 2:
        lines.append("Best of each family: " + _compare(best))
        # The smallest sampling budget at which both families have a run.
        budget = max(group.sampling_s_per_image.min() for _, group in done.groupby("family"))
        within = done[done.sampling_s_per_image <= budget]
        at_budget = {family: group.loc[group.fid.idxmin()] for family, group in within.groupby("family")}
        same_as_best = all(at_budget[f].equals(best[f]) for f in at_budget) if len(at_budget) == 2 else True
        if not same_as_best:
            lines.append(
                f"At a sampling budget of {fmt(budget)} s/image (the cheapest at which both families "
                "have a run): " + _compare(at_budget)
            )
    lines += autoencoder_bounds(done)
    front = done[pareto_front(done.sampling_s_per_image, done.fid)]
    families = ", ".join(f"{n} {fam}" for fam, n in front.family.value_counts().items())
    points = "; ".join(
        f"{run_label(r)} at {fmt(r.sampling_s_per_image)} s/image, FID {fmt(r.fid)}"
        for _, r in front.sort_values("sampling_s_per_image").iterrows()
    )
    lines.append(f"{len(front)} runs are on the FID-vs-time Pareto frontier ({families}): {points}.")
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
