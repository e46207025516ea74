"""The trials of a human rating study: which images each trial shows and what its answer is.

Two kinds, as in the papers that back FID with people: "real or generated" (HYPE-infinity, Zhou
et al. 2019: one image, no time limit; half reference images, half samples of the runs) and
"which is better" (two runs' images of the same seed). Attention checks are trials of the same
look whose answer no attentive rater misses (pure noise is generated; a real image beats noise).

The trial list the page shows holds no answers (they stay in the study record); its sha256 is the
study's fingerprint, which every answer file carries.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass

import numpy as np

REAL_OR_GENERATED = "real_or_generated"
WHICH_IS_BETTER = "which_is_better"
KINDS = (REAL_OR_GENERATED, WHICH_IS_BETTER)
REAL, GENERATED = "real", "generated"  # the responses of a real_or_generated trial
ANSWER_FORMAT = "diffbench-ratings/1"  # the answer files' `format`
# The human_eval settings that decide the trials (the others only how answers are scored).
TRIAL_SETTINGS = ("study", "kinds", "trials_per_kind", "attention_checks", "seed")


def run_label(run: dict) -> str:
    """'model/sampler/steps': how a study, its answers and its scores name a run."""
    return f"{run['model']}/{run['sampler']}/{run['steps']}"


@dataclass(frozen=True)
class Study:
    study: str
    trials: list[dict]  # public: {"id", "kind", "images": [image ids]}, in a canonical (shuffled) order
    truth: dict[str, dict]  # trial id -> {"attention", "answer", "runs", "seed", ...}
    images: dict[str, np.ndarray]  # image id -> uint8 (H, W, C)

    @property
    def sha256(self) -> str:
        return trials_sha256(self.trials)


def trials_sha256(trials: list[dict]) -> str:
    """The fingerprint of a public trial list (canonical JSON), as the page and answer files carry it."""
    return hashlib.sha256(json.dumps(trials, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def make_study(
    study: str,
    samples: dict[str, tuple[np.ndarray, np.ndarray]],
    reference: np.ndarray,
    kinds: list[str],
    trials_per_kind: int,
    attention_checks: int,
    seed: int,
) -> Study:
    """`samples`: run label -> (seeds, uint8 images), the same seeds for every run; `reference`:
    uint8 images of the reference set. Images are drawn without replacement within each kind."""
    rng = np.random.default_rng(seed)
    labels = list(samples)
    seeds = samples[labels[0]][0]
    for label in labels[1:]:
        if not np.array_equal(samples[label][0], seeds):
            raise ValueError(f"run {label} holds other seeds than {labels[0]}; a study compares images of one seed")
    needed = (trials_per_kind // 2 if REAL_OR_GENERATED in kinds else 0) + (
        attention_checks if WHICH_IS_BETTER in kinds else 0
    )
    if len(reference) < needed:
        raise ValueError(f"the study shows {needed} reference images, but the reference set holds {len(reference)}")
    position = {int(s): i for i, s in enumerate(seeds)}
    noise_shape = reference.shape[1:]
    drafts: list[tuple[list[np.ndarray], dict]] = []  # (images, truth) before ids are given
    real_pool = iter(rng.permutation(len(reference)))

    def real_image() -> tuple[np.ndarray, int]:
        index = int(next(real_pool))
        return reference[index], index

    if REAL_OR_GENERATED in kinds:
        n_real = trials_per_kind // 2
        for _ in range(n_real):
            image, index = real_image()
            drafts.append(([image], {"kind": REAL_OR_GENERATED, "answer": REAL, "reference_index": index}))
        chosen = rng.choice(seeds, size=trials_per_kind - n_real, replace=False)
        for k, s in enumerate(chosen):
            label = labels[k % len(labels)]
            image = samples[label][1][position[int(s)]]
            drafts.append(([image], {"kind": REAL_OR_GENERATED, "answer": GENERATED, "runs": [label], "seed": int(s)}))
        for _ in range(attention_checks):
            noise = rng.integers(0, 256, size=noise_shape, dtype=np.uint8)
            drafts.append(([noise], {"kind": REAL_OR_GENERATED, "answer": GENERATED, "attention": True}))
    if WHICH_IS_BETTER in kinds:
        pairs = itertools.cycle(itertools.combinations(labels, 2))
        for s in rng.choice(seeds, size=trials_per_kind, replace=False):
            a, b = next(pairs)
            images = [samples[a][1][position[int(s)]], samples[b][1][position[int(s)]]]
            drafts.append((images, {"kind": WHICH_IS_BETTER, "answer": None, "runs": [a, b], "seed": int(s)}))
        for _ in range(attention_checks):
            image, index = real_image()
            noise = rng.integers(0, 256, size=noise_shape, dtype=np.uint8)
            real_first = bool(rng.integers(2))
            images = [image, noise] if real_first else [noise, image]
            drafts.append((images, {"kind": WHICH_IS_BETTER, "answer": 0 if real_first else 1, "attention": True,
                                    "reference_index": index}))  # fmt: skip
    # Ids and image ids follow a shuffled order, so neither tells a rater a trial's kind or role.
    trials, truth, images = [], {}, {}
    for number, draft in enumerate(rng.permutation(len(drafts))):
        shown, info = drafts[draft]
        trial_id = f"t{number:03d}"
        ids = []
        for image in shown:
            ids.append(f"i{len(images):03d}")
            images[ids[-1]] = image
        trials.append({"id": trial_id, "kind": info["kind"], "images": ids})
        truth[trial_id] = {"attention": False, "runs": [], "seed": None, **info}
    return Study(study, trials, truth, images)
