"""The report's human evaluation: each rated run's human scores beside its automatic metrics, and
how far the two rank the runs alike."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from scipy.stats import spearmanr

from diffbench.experiment import Experiment
from diffbench.paths import Layout
from diffbench.records import HUMAN_SCORES

HUMAN_COLUMNS = ["run", "model", "sampler", "steps", "hype", "hype_ci_low", "hype_ci_high", "fake_error",
                 "n_fake_trials", "bt_strength", "bt_ci_low", "bt_ci_high", "win_rate", "win_rate_ci_low",
                 "win_rate_ci_high", "n_comparisons",
                 "feature_extractor", "fid", "fid_ci_low", "fid_ci_high", "kid"]  # fmt: skip
# Human scores: higher is better (more often taken for real; preferred more often).
HUMAN_SCORES_SHOWN = {"hype": "HYPE∞", "bt_strength": "Bradley-Terry strength"}
# Automatic metrics: lower is better. fid is an FD_DINOv2 when the features are DINOv2's.
METRICS_SHOWN = {"fid": "FID", "kid": "KID"}
FD_NAMES = {"inception-v3-compat": "FID", "dinov2-vit-l-14": "FD_DINOv2"}


@dataclass
class HumanEval:
    """What the report shows of a study (empty when the config has none or it is not scored yet)."""

    study: str | None = None
    page: str | None = None  # the rating page, relative to the report
    table: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=HUMAN_COLUMNS))
    ranks: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=["human", "metric", "spearman", "n"]))
    record: dict = field(default_factory=dict)


def human_eval(experiment: Experiment, runs: pd.DataFrame, report_dir: str | Path) -> HumanEval:
    if experiment.human_eval is None:
        return HumanEval()
    layout = Layout(experiment.results_dir)
    study = experiment.human_eval.study
    page = os.path.relpath(layout.human_eval_page(study), report_dir)
    path = Path(layout.human_eval_scores(study))
    if not path.is_file():
        return HumanEval(study=study, page=page)
    record = HUMAN_SCORES.read(path)
    scores = pd.DataFrame([{**r, "run": r["label"]} for r in record["runs"]])
    keys = ["model", "sampler", "steps"]
    metrics = runs[[*keys, "feature_extractor", "fid", "fid_ci_low", "fid_ci_high", "kid"]]
    table = scores.merge(metrics, on=keys, how="left")[HUMAN_COLUMNS]
    return HumanEval(study=study, page=page, table=table, ranks=rank_agreement(table), record=record)


def rank_agreement(table: pd.DataFrame) -> pd.DataFrame:
    """Spearman's rank correlation between each human score and each metric over the runs having
    both, signed so that +1 means the same order (a metric's lower value counts as better)."""
    rows = []
    for human in HUMAN_SCORES_SHOWN:
        for metric in METRICS_SHOWN:
            both = table[[human, metric]].astype(float).dropna()
            rho = math.nan
            if len(both) >= 2 and both[human].nunique() > 1 and both[metric].nunique() > 1:
                rho = float(spearmanr(both[human], -both[metric]).statistic)
            rows.append({"human": human, "metric": metric, "spearman": rho, "n": len(both)})
    return pd.DataFrame(rows, columns=["human", "metric", "spearman", "n"])


def metric_name(table: pd.DataFrame, metric: str) -> str:
    """The metric's name in the report: the `fid` column is an FD_DINOv2 with DINOv2 features."""
    if metric != "fid":
        return METRICS_SHOWN[metric]
    extractors = table.feature_extractor.dropna()
    return FD_NAMES.get(extractors.iloc[0], "FID") if len(extractors) else "FID"


def human_findings(human: HumanEval) -> list[str]:
    """Summary sentences: who was counted, each run's human scores with intervals, the differences
    the data support, and whether the humans order the runs as the metrics do."""
    if human.study is None:
        return []
    if not human.record:
        return [f"Human evaluation (study {human.study}): no ratings scored yet; raters use {human.page}."]
    record, table = human.record, human.table
    counted = record["agreement"]["n_raters"]
    lines = [
        f"Human evaluation (study {human.study}): {counted} raters counted, {record['raters_excluded']} left out for "
        f"failed attention checks, {len(record['files_rejected'])} answer file(s) not counted (listed in the Human "
        "evaluation section)."
    ]
    if counted == 0:
        return lines
    level = f"{record['settings']['ci_level']:.0%}"
    for column, name in HUMAN_SCORES_SHOWN.items():
        scored = table.dropna(subset=[column])
        if scored.empty:
            continue
        low, high = ("bt_ci_low", "bt_ci_high") if column == "bt_strength" else ("hype_ci_low", "hype_ci_high")
        parts = [f"{row.run} {row[column]:.3g} [{row[low]:.3g}, {row[high]:.3g}]" for _, row in scored.iterrows()]
        lines.append(f"{name} ({level} intervals): " + "; ".join(parts) + ".")
        for diff in (d for d in record["differences"] if d["score"] == column):
            verdict = (f"{diff['better']} scores higher" if diff["better"]
                       else "the data cannot tell which scores higher")  # fmt: skip
            lines.append(
                f"{name}, {diff['run_a']} minus {diff['run_b']}: {diff['difference']:+.3g} "
                f"[{diff['ci_low']:+.3g}, {diff['ci_high']:+.3g}] ({level}): {verdict}."
            )
    for row in human.ranks.itertuples():
        if pd.notna(row.spearman) and row.n == 2:  # a correlation of two points says only this
            alike = "in the same order" if row.spearman > 0 else "in opposite orders"
            lines.append(
                f"{HUMAN_SCORES_SHOWN[row.human]} and {metric_name(table, row.metric)} put the 2 rated runs {alike} "
                f"(lower {metric_name(table, row.metric)} counted as better)."
            )
        elif pd.notna(row.spearman):
            lines.append(
                f"{HUMAN_SCORES_SHOWN[row.human]} vs {metric_name(table, row.metric)}: Spearman rank correlation "
                f"{row.spearman:+.2f} over {row.n} runs (+1 = same order, lower {metric_name(table, row.metric)} "
                "counted as better)."
            )
    return lines
