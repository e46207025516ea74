"""Human evaluation stages (workflow/rules/human_eval.smk): human_eval_study, human_eval_scores."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from diffbench.data.images import load_images
from diffbench.errors import ResultError
from diffbench.humaneval.answers import read_answer_files
from diffbench.humaneval.page import render_page
from diffbench.humaneval.scores import as_dicts, study_scores
from diffbench.humaneval.trials import TRIAL_SETTINGS, make_study, run_label
from diffbench.io import atomic_path
from diffbench.records import HUMAN_SCORES, HUMAN_STUDY
from diffbench.specs import HumanEvalSpec

log = logging.getLogger(__name__)


def human_eval_study(
    *,
    settings: dict,
    runs: list[dict],
    samples: list[str | Path],
    reference_images: str | Path,
    reference_set: str,
    out_page: str | Path,
    out_trials: str | Path,
) -> dict:
    """The rating page and the study record (its trials and their answers). `settings`: human_eval's
    TRIAL_SETTINGS; `runs` are run keys in the order of `samples`, the sample sets' images.npz."""
    sets, finite = {}, None
    for run, path in zip(runs, samples, strict=True):
        with np.load(path) as data:
            sets[run_label(run)] = (data["seeds"], data["images"])
            finite = data["finite"] if finite is None else finite & data["finite"]
    # As the metrics do, seeds with a non-finite image (stored as zeros) in any run are not shown.
    sets = {label: (seeds[finite], images[finite]) for label, (seeds, images) in sets.items()}
    if int(finite.sum()) < settings["trials_per_kind"]:
        raise ResultError(
            f"human_eval.trials_per_kind is {settings['trials_per_kind']}, but only {int(finite.sum())} seeds have a "
            "finite image in every rated run; lower it or rate other runs."
        )
    study = make_study(
        settings["study"],
        sets,
        load_images(reference_images),
        settings["kinds"],
        settings["trials_per_kind"],
        settings["attention_checks"],
        settings["seed"],
    )
    with atomic_path(out_page) as tmp:
        tmp.write_text(render_page(study), encoding="utf-8")
    record = {
        "study": study.study,
        "trials_sha256": study.sha256,
        "trials": study.trials,
        "truth": study.truth,
        "runs": [{**run, "label": run_label(run)} for run in runs],
        "settings": {key: settings[key] for key in TRIAL_SETTINGS},
        "reference_set": reference_set,
        "page": str(out_page),
    }
    HUMAN_STUDY.write(out_trials, record)
    log.info("study %s: %d trials on %s", study.study, len(study.trials), out_page)
    return record


def human_eval_scores(*, study: str | Path, answer_files: list[str | Path], settings: dict, out_record: str | Path):
    """Scores of every countable answer file; the others are named in the log and the record.
    `settings`: the config's human_eval section."""
    spec = HumanEvalSpec.of(settings)
    record = HUMAN_STUDY.read(study)
    accepted, rejected = read_answer_files(answer_files, record["study"], record["trials_sha256"], record["trials"])
    for item in rejected:
        log.warning("%s", item["reason"])
    labels = [run["label"] for run in record["runs"]]
    runs, pairs, raters, agreement = study_scores(accepted, record["truth"], labels, spec)
    scores = {
        "study": record["study"],
        "trials_sha256": record["trials_sha256"],
        "runs": [{**run, **score} for run, score in zip(record["runs"], as_dicts(runs), strict=True)],
        "differences": as_dicts(pairs),
        "raters": as_dicts(raters),
        "raters_excluded": sum(r.excluded for r in raters),
        "files_rejected": rejected,
        "agreement": {**agreement, "n_raters": sum(not r.excluded for r in raters)},
        "settings": {
            key: getattr(spec, key) for key in ("bootstrap", "ci_level", "bt_regularization", "max_failed_checks")
        },
    }
    HUMAN_SCORES.write(out_record, scores)
    log.info("study %s: %d raters counted, %d excluded, %d files left out", record["study"],
             scores["agreement"]["n_raters"], scores["raters_excluded"], len(rejected))  # fmt: skip
    return scores
