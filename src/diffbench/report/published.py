"""The published-vs-ours table: each run of a public checkpoint beside the paper's number for it."""

from __future__ import annotations

import pandas as pd

from diffbench.experiment import Experiment
from diffbench.paths import Layout
from diffbench.published import Published, closest, difference_interval, reproduction
from diffbench.records import SAMPLING

PUBLISHED_COLUMNS = ["model", "sampler", "steps", "paper", "table", "metric", "published", "ours", "ours_ci_low",
                     "ours_ci_high", "ci_level", "difference", "difference_ci_low", "difference_ci_high",
                     "equivalence_margin", "reproduction",
                     "protocol_differences", "link", "source"]  # fmt: skip


def run_protocol(experiment: Experiment, run, record: dict) -> dict:
    """The protocol a run (a row of the runs table) was measured with, in the terms of published
    entries (diffbench.published); `record`: its sampling record."""
    spec = experiment.models[run.model]
    scheduler = record.get("scheduler_config", {})
    clipping = scheduler.get("clip_sample", scheduler.get("thresholding"))
    return {
        "model_id": spec.pretrained.id if spec.source == "pretrained" else None,
        "num_samples": _int(run.n_samples),
        "reference": run.reference,
        "reference_images": _int(run.n_reference),
        "sampler_type": run.sampler_type,
        "steps": int(run.steps),
        "timestep_spacing": scheduler.get("timestep_spacing"),
        "steps_offset": scheduler.get("steps_offset"),
        "eta": record.get("sampler_options", {}).get("eta"),
        "clip_sample": bool(clipping) if clipping is not None else None,
        "variance_type": scheduler.get("variance_type"),
        "precision": run.sampling_precision,
        "resize": run.resize,
        "feature_extractor": run.feature_extractor,
    }


def published_table(experiment: Experiment, runs: pd.DataFrame, entries: list[Published]) -> pd.DataFrame:
    """One row per evaluated run whose checkpoint has a published entry: the closest entry's value,
    ours with its interval, the difference and every protocol item in which the two differ."""
    layout = Layout(experiment.results_dir)
    rows = []
    for run in runs.itertuples(index=False):
        if pd.isna(run.fid):
            continue
        sampling = SAMPLING.read(layout.sampling_record(run.model, run.sampler, run.steps))
        match = closest(entries, run_protocol(experiment, run, sampling))
        if match is None:
            continue
        entry, differences = match
        published = float(entry.entry["value"])
        low, high = run.fid_ci_low, run.fid_ci_high
        lower, upper = difference_interval(run.fid, low, high, published) if pd.notna(low) else (None, None)
        rows.append(
            {
                "model": run.model,
                "sampler": run.sampler,
                "steps": int(run.steps),
                "paper": entry.paper,
                "table": entry.entry["table"],
                "metric": entry.entry["metric"],
                "published": published,
                "ours": run.fid,
                "ours_ci_low": low,
                "ours_ci_high": high,
                "ci_level": run.fid_ci_level,
                "difference": run.fid - published,
                "difference_ci_low": lower,
                "difference_ci_high": upper,
                "equivalence_margin": entry.margin,
                "reproduction": reproduction(run.fid, low, high, published, entry.margin) if not differences else None,
                "protocol_differences": "; ".join(differences) if differences else "none",
                "link": entry.link,
                "source": entry.source,
            }
        )
    return pd.DataFrame(rows, columns=PUBLISHED_COLUMNS)


def _int(value) -> int | None:
    return None if pd.isna(value) else int(value)
