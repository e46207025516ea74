"""Do the human-score intervals keep their level at 0 and 1 and with few raters? Simulated raters.

A study made by `make_study` (3 runs, real-or-generated and which-is-better trials) is answered by
simulated raters whose behaviour is known: a rater takes run k's samples for real with
probability fooled[k] and a real image for generated with probability real_error, so the true
HYPE-infinity of run k is 0.5 (fooled[k] + real_error); preferences follow Bradley-Terry with
known strengths, so each run's true win rate is known too. With `--spread`, raters differ in
skill and images in difficulty (both on the logit scale), as in real studies. Each cell counts how
often the 95 % intervals of `study_scores` contain the truth, beside the percentile bootstrap that
HYPE's interval used before (no width at 0 or 1).

    python benchmarks/human_intervals.py --studies 200
"""

from __future__ import annotations

import argparse
import platform

import numpy as np

from diffbench.humaneval.answers import RaterAnswers
from diffbench.humaneval.scores import _interval, hype_scores, study_scores
from diffbench.humaneval.trials import GENERATED, REAL, REAL_OR_GENERATED, WHICH_IS_BETTER, make_study

LEVEL = 0.95
SETTINGS = {"max_failed_checks": 0, "seed": 0, "bootstrap": 200, "ci_level": LEVEL, "bt_regularization": 0.01}
STRENGTHS = [-0.5, 0.0, 0.5]


def logit(p):
    p = np.clip(p, 1e-9, 1 - 1e-9)
    return np.log(p / (1 - p))


def rater(study, rng, fooled: dict, real_error: float, strengths: dict, skill: float, difficulty: dict) -> dict:
    responses = {}
    for trial in study.trials:
        truth = study.truth[trial["id"]]
        if truth["attention"]:
            responses[trial["id"]] = truth["answer"]
        elif trial["kind"] == REAL_OR_GENERATED:
            base = real_error if truth["answer"] == REAL else fooled[truth["runs"][0]]
            p = (
                0.0
                if base == 0
                else 1.0
                if base == 1
                else 1 / (1 + np.exp(-(logit(base) - skill + difficulty[trial["id"]])))
            )
            mistaken = rng.random() < p
            responses[trial["id"]] = (GENERATED if truth["answer"] == REAL else REAL) if mistaken else truth["answer"]
        else:
            a, b = truth["runs"]
            p_a = 1 / (1 + np.exp(strengths[b] - strengths[a]))
            responses[trial["id"]] = 0 if rng.random() < p_a else 1
    return responses


def true_rates(fooled, real_error, spread, rng, draws=20000):
    """HYPE's truth averaged over raters' skill and images' difficulty (Monte Carlo when they vary)."""
    if not spread:
        return {run: 0.5 * (f + real_error) for run, f in fooled.items()}
    noise = rng.normal(0, spread, draws) - rng.normal(0, spread, draws)

    def mean_error(base):
        return base if base in (0, 1) else float(np.mean(1 / (1 + np.exp(-(logit(base) + noise)))))

    return {run: 0.5 * (mean_error(f) + mean_error(real_error)) for run, f in fooled.items()}


def true_win_rates(labels, strengths):
    """Each run meets the other two equally often (make_study deals the pairs in turn)."""
    out = {}
    for a in labels:
        others = [b for b in labels if b != a]
        out[a] = float(np.mean([1 / (1 + np.exp(strengths[b] - strengths[a])) for b in others]))
    return out


def cell(n_raters: int, trials: int, fooled_values: list[float], real_error: float, spread: float, studies: int,
         seed: int) -> dict:  # fmt: skip
    rng = np.random.default_rng(seed)
    seeds = np.arange(100, 100 + trials)
    samples = {f"m{k}/ddim/10": (seeds, rng.integers(0, 256, (trials, 4, 4, 3), dtype=np.uint8)) for k in range(3)}
    reference = rng.integers(0, 256, (trials, 4, 4, 3), dtype=np.uint8)
    study = make_study("s", samples, reference, [REAL_OR_GENERATED, WHICH_IS_BETTER], trials_per_kind=trials,
                       attention_checks=1, seed=1)  # fmt: skip
    labels = list(samples)
    fooled = dict(zip(labels, fooled_values, strict=True))
    strengths = dict(zip(labels, STRENGTHS, strict=True))
    truth_hype = true_rates(fooled, real_error, spread, rng)
    truth_win = true_win_rates(labels, strengths)
    hits = {"hype": 0, "hype_bootstrap": 0, "win_rate": 0}
    total = 0
    widths = []
    for _ in range(studies):
        difficulty = {t["id"]: rng.normal(0, spread) for t in study.trials}
        answers = [
            RaterAnswers(f"r{k}.json", f"r{k}", rater(study, rng, fooled, real_error, strengths,
                                                    rng.normal(0, spread), difficulty), {})
            for k in range(n_raters)
        ]  # fmt: skip
        runs, pairs, _, _ = study_scores(answers, study.truth, labels, SETTINGS)
        for run in runs:
            total += 1
            hits["hype"] += run.hype_ci_low - 1e-12 <= truth_hype[run.run] <= run.hype_ci_high + 1e-12
            hits["win_rate"] += run.win_rate_ci_low - 1e-12 <= truth_win[run.run] <= run.win_rate_ci_high + 1e-12
            widths.append(run.hype_ci_high - run.hype_ci_low)
        # the old interval: percentile bootstrap of HYPE (the draws study_scores still makes)
        _, draws = hype_scores(answers, study.truth, labels, SETTINGS["bootstrap"], LEVEL, SETTINGS["seed"])
        for k, label in enumerate(labels):
            low, high = _interval(draws[:, k], LEVEL)
            hits["hype_bootstrap"] += low - 1e-12 <= truth_hype[label] <= high + 1e-12
    return {"raters": n_raters, "trials": trials, "fooled": fooled_values, "real_error": real_error,
            "spread": spread, "coverage": {k: v / total for k, v in hits.items()},
            "width": float(np.mean(widths))}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=200)
    parser.add_argument("--spread", type=float, default=0.5, help="sd of rater skill and image difficulty (logit)")
    args = parser.parse_args()
    cells = [
        # raters, trials per kind, fooled per run, real_error, spread
        (1, 12, [0.0, 0.0, 0.0], 0.0, 0.0),  # one perfect rater, few trials: HYPE 0 for all
        (1, 12, [0.05, 0.1, 0.2], 0.05, 0.0),  # one good rater: often no error at all in 12 trials
        (3, 12, [0.0, 0.1, 0.3], 0.0, 0.0),
        (3, 30, [0.0, 0.2, 0.5], 0.1, args.spread),
        (10, 30, [0.1, 0.3, 0.5], 0.2, args.spread),
        (25, 60, [0.1, 0.3, 0.45], 0.2, args.spread),
    ]
    print(f"{platform.machine()}, numpy {np.__version__}; {args.studies} studies per cell, nominal {LEVEL:.0%}; "
          "coverage over every run of every study (3 runs per study)")  # fmt: skip
    print(f"{'raters':>7}{'trials':>7}{'fooled':>18}{'real err':>9}{'spread':>7}"
          f"{'HYPE':>9}{'old boot':>9}{'win rate':>9}{'HYPE width':>11}")  # fmt: skip
    for k, (raters, trials, fooled, real_error, spread) in enumerate(cells):
        r = cell(raters, trials, fooled, real_error, spread, args.studies, seed=k)
        c = r["coverage"]
        print(f"{raters:>7}{trials:>7}{str(fooled):>18}{real_error:>9}{spread:>7}"
              f"{c['hype']:>9.1%}{c['hype_bootstrap']:>9.1%}{c['win_rate']:>9.1%}{r['width']:>11.3f}")  # fmt: skip


if __name__ == "__main__":
    main()
