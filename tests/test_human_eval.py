"""Human evaluation: the study's trials, the rating page in a real browser, answer files checked
and scored (HYPE-infinity, Bradley-Terry, agreement), and every bad answer file named and left out."""

from __future__ import annotations

import copy
import json
import re
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import spearmanr

from diffbench.config import validate_config
from diffbench.errors import ConfigError
from diffbench.experiment import Experiment
from diffbench.humaneval.answers import RaterAnswers, answer_files, read_answer_files
from diffbench.humaneval.scores import study_scores
from diffbench.humaneval.trials import (
    ANSWER_FORMAT,
    GENERATED,
    REAL,
    REAL_OR_GENERATED,
    WHICH_IS_BETTER,
    make_study,
    trials_sha256,
)
from diffbench.io import write_npz
from diffbench.paths import Layout
from diffbench.records import HUMAN_SCORES, HUMAN_STUDY
from diffbench.report.human import HumanEval, human_findings, rank_agreement
from diffbench.report.outputs import ReportPaths
from diffbench.specs import HumanEvalSpec
from diffbench.stages.human_eval import human_eval_scores, human_eval_study
from diffbench.stages.report import report
from helpers import headless_chromium, needs_chromium
from report_fixture import fixture_config, write_results

KINDS = [REAL_OR_GENERATED, WHICH_IS_BETTER]
SETTINGS = {"max_failed_checks": 0, "seed": 0, "bootstrap": 400, "ci_level": 0.95, "bt_regularization": 0.01}


def scoring(**changes) -> HumanEvalSpec:
    """A study's settings as scoring takes them (SETTINGS, and `changes`)."""
    study = {"study": "pilot", "runs": [], "kinds": list(KINDS), "trials_per_kind": 4, "attention_checks": 1,
             "ratings_dir": "ratings"}  # fmt: skip
    return HumanEvalSpec.of({**study, **SETTINGS, **changes})


def image_sets(n_runs=3, n_seeds=40, n_reference=60, side=8):
    rng = np.random.default_rng(0)
    seeds = np.arange(100, 100 + n_seeds)
    samples = {f"m{k}/ddim/10": (seeds, rng.integers(0, 256, (n_seeds, side, side, 3), dtype=np.uint8))
               for k in range(n_runs)}  # fmt: skip
    return samples, rng.integers(0, 256, (n_reference, side, side, 3), dtype=np.uint8)


def answer_file(study, rater, responses, trials=None, **changes) -> dict:
    return {
        "format": ANSWER_FORMAT,
        "study": study.study,
        "trials_sha256": study.sha256,
        "rater": rater,
        "trials": trials if trials is not None else study.trials,
        "answers": [
            {"trial": t, "response": r, "left": 0, "position": k, "rt_ms": 900 + k}
            for k, (t, r) in enumerate(responses.items())
        ],  # fmt: skip
        **changes,
    }


def simulated_rater(study, rng, strengths: dict[str, float], fooled: dict[str, float], real_error: float,
                    attentive=True) -> dict:  # fmt: skip
    """Answers of a rater whose preferences follow Bradley-Terry with `strengths` and who takes a
    run's samples for real with probability fooled[run] (real images for generated: real_error)."""
    responses = {}
    for trial in study.trials:
        truth = study.truth[trial["id"]]
        if truth["attention"]:
            right = truth["answer"]
            wrong = (REAL if right == GENERATED else GENERATED) if trial["kind"] == REAL_OR_GENERATED else 1 - right
            responses[trial["id"]] = right if attentive else wrong
        elif trial["kind"] == REAL_OR_GENERATED:
            if truth["answer"] == REAL:
                responses[trial["id"]] = GENERATED if rng.random() < real_error else REAL
            else:
                responses[trial["id"]] = REAL if rng.random() < fooled[truth["runs"][0]] else GENERATED
        else:
            a, b = truth["runs"]
            p_a = 1 / (1 + np.exp(strengths[b] - strengths[a]))
            responses[trial["id"]] = 0 if rng.random() < p_a else 1
    return responses


def test_a_study_has_the_trials_it_is_configured_with():
    samples, reference = image_sets()
    study = make_study("s", samples, reference, KINDS, trials_per_kind=20, attention_checks=3, seed=1)
    truth = study.truth.values()
    assert len(study.trials) == 2 * 20 + 2 * 3
    rog = [t for t in truth if t["kind"] == REAL_OR_GENERATED and not t["attention"]]
    assert sum(t["answer"] == REAL for t in rog) == 10 and sum(t["answer"] == GENERATED for t in rog) == 10
    generated_runs = [t["runs"][0] for t in rog if t["answer"] == GENERATED]
    assert sorted(set(generated_runs)) == sorted(samples) and max(map(generated_runs.count, samples)) <= 4
    pairs = [tuple(t["runs"]) for t in truth if t["kind"] == WHICH_IS_BETTER and not t["attention"]]
    assert len(pairs) == 20 and len(set(pairs)) == 3  # every pair of runs, in turn
    seeds = [t["seed"] for t in truth if t["kind"] == WHICH_IS_BETTER and not t["attention"]]
    assert len(set(seeds)) == 20  # no seed twice within a kind
    assert sum(t["attention"] for t in truth) == 6
    # the images a preference trial shows are the two runs' images of its seed, in the runs' order
    trial = next(t for t in study.trials if t["kind"] == WHICH_IS_BETTER and not study.truth[t["id"]]["attention"])
    info, position = (
        study.truth[trial["id"]],
        int(np.flatnonzero(samples["m0/ddim/10"][0] == study.truth[trial["id"]]["seed"])[0]),
    )
    for image_id, run in zip(trial["images"], info["runs"], strict=True):
        np.testing.assert_array_equal(study.images[image_id], samples[run][1][position])
    # the public list holds no answers; its fingerprint changes with any edit
    assert all(set(t) == {"id", "kind", "images"} for t in study.trials)
    edited = copy.deepcopy(study.trials)
    edited[0]["images"] = list(reversed(edited[0]["images"])) + ["i999"]
    assert trials_sha256(edited) != study.sha256
    again = make_study("s", samples, reference, KINDS, trials_per_kind=20, attention_checks=3, seed=1)
    assert again.sha256 == study.sha256  # the same config makes the same study


def test_simulated_raters_recover_the_known_order_and_intervals_cover_the_truth():
    samples, reference = image_sets(n_seeds=60)
    study = make_study("s", samples, reference, KINDS, trials_per_kind=60, attention_checks=2, seed=3)
    labels = list(samples)
    strengths = dict(zip(labels, [-1.0, 0.0, 1.0], strict=True))  # mean 0, as the fit reports them
    fooled = dict(zip(labels, [0.1, 0.3, 0.45], strict=True))
    real_error = 0.2
    rng = np.random.default_rng(7)  # fixed: the test is deterministic
    raters = [simulated_rater(study, rng, strengths, fooled, real_error) for _ in range(25)]
    accepted = [RaterAnswers(f"r{k}.json", f"r{k}", r, {}) for k, r in enumerate(raters)]
    runs, pairs, records, agreement = study_scores(accepted, study.truth, labels, scoring())
    assert not any(r.excluded for r in records)
    # the order of the truth (with 25 raters x 60 trials the estimates are within a few tenths)
    assert [r.run for r in sorted(runs, key=lambda r: r.bt_strength)] == labels
    assert [r.run for r in sorted(runs, key=lambda r: r.hype)] == labels
    for run in runs:
        truth_hype = 0.5 * (fooled[run.run] + real_error)
        assert run.hype_ci_low <= truth_hype <= run.hype_ci_high, run
        assert run.bt_ci_low <= strengths[run.run] <= run.bt_ci_high, run
        assert 0 < run.win_rate < 1 and run.n_comparisons == 2 * 60 // 3 * 25
    # the strongest run beats the weakest: the difference's own interval excludes 0
    extreme = next(p for p in pairs if p.score == "bt_strength" and {p.run_a, p.run_b} == {labels[0], labels[2]})
    assert extreme.better == labels[2] and extreme.ci_high < 0
    # raters answering from the same model agree more than chance, and less than fully
    assert 0 < agreement[REAL_OR_GENERATED] < 1 and 0 < agreement[WHICH_IS_BETTER] < 1


def test_one_perfect_rater_gets_intervals_wider_than_a_point():
    """A rater who tells every image apart and always prefers one run gives HYPE 0 and win rates 0
    and 1: Wilson's score interval still says how little a few trials show, where a percentile
    bootstrap would give [0, 0]."""
    from diffbench.humaneval.scores import wilson

    samples, reference = image_sets()
    study = make_study("s", samples, reference, KINDS, trials_per_kind=12, attention_checks=1, seed=2)
    labels = list(samples)
    strengths = dict(zip(labels, [-50.0, 0.0, 50.0], strict=True))  # m2 always preferred, m0 never
    perfect = simulated_rater(study, np.random.default_rng(0), strengths, dict.fromkeys(labels, 0.0), 0.0)
    runs, _, _, _ = study_scores([RaterAnswers("r.json", "r", perfect, {})], study.truth, labels, scoring())
    n_real = sum(i["answer"] == REAL and i["kind"] == REAL_OR_GENERATED and not i["attention"]
                 for i in study.truth.values())  # fmt: skip
    for run in runs:
        assert run.hype == 0.0 and run.hype_ci_low == 0.0
        # MOVER from the two Wilson upper bounds at 0 errors (one rater: no design effect):
        # 0.5 x hypot(z^2 / (n_fake + z^2), z^2 / (n_real + z^2)), far from the point [0, 0]
        expected = 0.5 * np.hypot(wilson(0.0, run.n_fake_trials, 0.95)[1], wilson(0.0, n_real, 0.95)[1])
        assert run.hype_ci_high == pytest.approx(expected, rel=1e-12) and expected > 0.3, run
    best, worst = runs[2], runs[0]
    assert best.win_rate == 1.0 and best.win_rate_ci_high == 1.0 and best.win_rate_ci_low < 0.9
    assert worst.win_rate == 0.0 and worst.win_rate_ci_low == 0.0 and worst.win_rate_ci_high > 0.1
    # Wilson's interval, checked by hand: 0 of n has upper bound z^2 / (n + z^2).
    z = 1.959963984540054
    assert wilson(0.0, 10, 0.95) == pytest.approx((0.0, z * z / (10 + z * z)))
    assert wilson(0.5, 10, 0.95)[0] == pytest.approx(1 - wilson(0.5, 10, 0.95)[1])


def test_raters_failing_attention_checks_are_left_out_and_counted():
    samples, reference = image_sets()
    study = make_study("s", samples, reference, KINDS, trials_per_kind=10, attention_checks=2, seed=0)
    labels = list(samples)
    rng = np.random.default_rng(0)
    even = dict.fromkeys(labels, 0.0)
    good = [simulated_rater(study, rng, even, dict.fromkeys(labels, 0.5), 0.5) for _ in range(3)]
    careless = simulated_rater(study, rng, even, dict.fromkeys(labels, 0.5), 0.5, attentive=False)

    accepted = [RaterAnswers(f"{k}.json", f"r{k}", r, {}) for k, r in enumerate([*good, careless])]
    _, _, records, agreement = study_scores(accepted, study.truth, labels, scoring())
    assert [r.excluded for r in records] == [False, False, False, True]
    assert records[3].failed_checks == records[3].attention_checks == 4
    assert agreement is not None
    lenient = scoring(max_failed_checks=4)
    assert not any(r.excluded for r in study_scores(accepted, study.truth, labels, lenient)[2])


def test_every_bad_answer_file_is_named_and_left_out(tmp_path):
    samples, reference = image_sets()
    study = make_study("pilot", samples, reference, KINDS, trials_per_kind=6, attention_checks=1, seed=0)
    rng = np.random.default_rng(0)
    labels = list(samples)
    good = simulated_rater(study, rng, dict.fromkeys(labels, 0.0), dict.fromkeys(labels, 0.3), 0.2)
    first = next(iter(good))
    tampered = copy.deepcopy(study.trials)
    tampered[0]["images"] = [tampered[1]["images"][0]]  # another trial's image
    files = {
        "a_good.json": answer_file(study, "alice", good),
        "b_good.json": answer_file(study, "bob", good),
        "c_duplicate_rater.json": answer_file(study, "Alice", good),
        "d_other_study.json": {**answer_file(study, "carol", good), "study": "another"},
        "e_tampered.json": answer_file(study, "dave", good, trials=tampered),
        "f_incomplete.json": answer_file(study, "erin", dict(list(good.items())[:-1])),
        "g_bad_response.json": answer_file(study, "frank", {**good, first: "maybe"}),
        "h_unknown_trial.json": answer_file(study, "grace", {**good, "t999": REAL}),
        "i_not_answers.json": {"hello": "world"},
    }
    for name, content in files.items():
        (tmp_path / name).write_text(json.dumps(content))
    (tmp_path / "j_not_json.json").write_text("{ this is not json")
    accepted, rejected = read_answer_files(sorted(tmp_path.glob("*.json")), "pilot", study.sha256, study.trials)
    assert [a.rater for a in accepted] == ["alice", "bob"]
    reasons = {Path(r["file"]).name: r["reason"] for r in rejected}
    expected = {
        "c_duplicate_rater.json": "rater 'Alice' is already counted from",
        "d_other_study.json": "its answers are for study 'another', not 'pilot'",
        "e_tampered.json": "its trial list is not this study's",
        "f_incomplete.json": f"it is incomplete ({len(good) - 1} of {len(good)} trials answered)",
        "g_bad_response.json": "is 'maybe', not one of",
        "h_unknown_trial.json": "trial 't999', which the study does not have",
        "i_not_answers.json": "not a rating page's answer file",
        "j_not_json.json": "not a readable JSON file",
    }
    assert set(reasons) == set(expected)
    for name, phrase in expected.items():
        assert phrase in reasons[name] and name in reasons[name] and reasons[name].endswith("left out."), reasons[name]


def test_a_study_config_is_checked(tiny_raw):
    def study(**changes):
        config = copy.deepcopy(tiny_raw)
        config["human_eval"] = {**config["human_eval"], **changes}
        return validate_config(config)

    assert study()["human_eval"]["kinds"] == KINDS
    with pytest.raises(ConfigError, match=r"'human_eval.runs.0.model': 'nope' is not one of"):
        study(runs=[{"model": "nope", "sampler": "ddim", "steps": 3}])
    with pytest.raises(ConfigError, match="which_is_better needs at least two runs"):
        study(runs=[{"model": "pix", "sampler": "ddim", "steps": 3}])
    with pytest.raises(ConfigError, match="is listed twice"):
        study(runs=[{"model": "pix", "sampler": "ddim", "steps": 3}] * 2)
    with pytest.raises(ConfigError, match="need as many seeds, but sampling.num_samples is 6"):
        study(trials_per_kind=7)
    with pytest.raises(ConfigError, match="more than the evaluation.reference set holds"):
        study(attention_checks=14)
    with pytest.raises(ConfigError, match="human_eval.kinds"):
        study(kinds=["rank_them"])


def make_stage_study(tmp_path, nonfinite: int | None = None) -> tuple[Path, dict]:
    """The study stage on two small sample sets, as the DAG runs it (`nonfinite`: the position of
    an image that was non-finite in the second run)."""
    samples, reference = image_sets(n_runs=2, n_seeds=8, n_reference=10)
    runs, paths = [], []
    for k, (label, (seeds, images)) in enumerate(samples.items()):
        model, sampler, steps = label.split("/")
        runs.append({"dataset": "tiny", "model": model, "sampler": sampler, "steps": int(steps)})
        paths.append(tmp_path / f"samples{k}.npz")
        finite = np.ones(len(seeds), bool)
        if k == 1 and nonfinite is not None:
            finite[nonfinite] = False
        write_npz(paths[-1], images=images, seeds=seeds, finite=finite)
    write_npz(tmp_path / "reference.npz", images=reference)
    settings = {"study": "pilot", "runs": [], "kinds": KINDS, "trials_per_kind": 4, "attention_checks": 1, "seed": 0,
                "ratings_dir": str(tmp_path / "ratings"), **SETTINGS}  # fmt: skip
    human_eval_study(settings=settings, runs=runs, samples=paths, reference_images=tmp_path / "reference.npz",
                     reference_set="heldout", out_page=tmp_path / "study" / "index.html",
                     out_trials=tmp_path / "study" / "trials.json")  # fmt: skip
    return tmp_path / "study", settings


def test_seeds_with_a_non_finite_image_are_not_shown(tmp_path):
    folder, _ = make_stage_study(tmp_path, nonfinite=3)
    study = HUMAN_STUDY.read(folder / "trials.json")
    shown = {info["seed"] for info in study["truth"].values() if info["seed"] is not None}
    assert 103 not in shown and len(shown) >= 4  # seeds are 100..107; 103 had a NaN image in one run


@needs_chromium
def test_a_rater_completes_the_study_with_the_keyboard_in_headless_chromium(tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    folder, settings = make_stage_study(tmp_path)
    study = HUMAN_STUDY.read(folder / "trials.json")
    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver = headless_chromium("1200,900", downloads=downloads)
    images = page_images(folder / "index.html")
    try:
        driver.get((folder / "index.html").as_uri())
        WebDriverWait(driver, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")
        driver.find_element(By.ID, "rater").send_keys("alice", Keys.ENTER)
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "trial").is_displayed())
        body = driver.find_element(By.TAG_NAME, "body")
        answered, order = {}, []

        def answer_shown(prefer_first_run: bool) -> None:
            """Answer the trial on screen by the keyboard: 'generated' for one image, and for two
            the image of the study's first run (found on screen by its data URI)."""
            count = driver.find_element(By.ID, "count").text
            shown = [img.get_attribute("src") for img in driver.find_elements(By.CSS_SELECTOR, "#images img")]
            trial = next(t for t in study["trials"] if [images[i] for i in t["images"]] in (shown, shown[::-1]))
            order.append(trial["id"])
            if trial["kind"] == REAL_OR_GENERATED:
                body.send_keys("g")
                answered[trial["id"]] = GENERATED
            else:
                first_run = study["runs"][0]["label"]
                truth = study["truth"][trial["id"]]
                wanted = truth["answer"] if truth["attention"] else truth["runs"].index(first_run)
                if not prefer_first_run and not truth["attention"]:
                    wanted = 1 - wanted
                on_left = shown[0] == images[trial["images"][wanted]]
                body.send_keys(Keys.ARROW_LEFT if on_left else Keys.ARROW_RIGHT)
                answered[trial["id"]] = wanted
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "count").text != count
                                            or d.find_element(By.ID, "done").is_displayed())  # fmt: skip

        total = len(study["trials"])
        for _ in range(total // 2):
            answer_shown(prefer_first_run=True)
        progress = driver.find_element(By.ID, "bar").get_attribute("style")
        assert float(re.search(r"width:\s*([\d.]+)%", progress).group(1)) == pytest.approx(100 * (total // 2) / total)
        driver.refresh()  # answers survive a reload: the page resumes where the rater was
        resumed = f"Screen {total // 2 + 1} of {total}"
        # (a loaded machine may hand the page back before its script has run: wait for it, and say
        # which screen is shown if it never resumes)
        try:
            WebDriverWait(driver, 20).until(
                lambda d: (
                    d.execute_script("return document.readyState") == "complete"
                    and d.find_element(By.ID, "count").text == resumed
                )
            )
        except TimeoutException:
            shown = driver.execute_script("return [document.querySelector('.screen.active').id, localStorage.length]")
            pytest.fail(f"the page did not resume at {resumed!r} after a reload; screen and stored keys: {shown}")
        body = driver.find_element(By.TAG_NAME, "body")
        for _ in range(total - total // 2):
            answer_shown(prefer_first_run=True)
        assert driver.find_element(By.ID, "done").is_displayed()
        body.send_keys("s")
        saved = downloads / "pilot-alice.json"
        deadline = time.time() + 20
        while not saved.exists() and time.time() < deadline:
            time.sleep(0.2)
        assert saved.exists(), list(downloads.iterdir())
        # another rater gets another order; the same rater id, the same one
        first_order = list(order)
        for rater, screens in (("bob", 4), ("alice", 3)):
            order.clear()
            if rater == "bob":
                driver.find_element(By.ID, "restart").click()  # the done screen's "start again"
            else:  # the page opened afresh in a browser that kept nothing
                driver.execute_script("localStorage.clear()")
                driver.get((folder / "index.html").as_uri())
                WebDriverWait(driver, 20).until(lambda d: d.find_element(By.ID, "rater").is_displayed())
            driver.find_element(By.ID, "rater").send_keys(rater, Keys.ENTER)
            WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "trial").is_displayed())
            body = driver.find_element(By.TAG_NAME, "body")
            for _ in range(screens):
                answer_shown(prefer_first_run=True)
            assert (order == first_order[:screens]) == (rater == "alice"), (rater, order, first_order)
        errors = [e for e in driver.get_log("browser") if e["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()
    data = json.loads(saved.read_text())
    assert data["rater"] == "alice" and data["study"] == "pilot" and data["trials_sha256"] == study["trials_sha256"]
    assert {a["trial"]: a["response"] for a in data["answers"]} == answered
    assert all(isinstance(a["rt_ms"], int) and a["rt_ms"] >= 0 for a in data["answers"])
    assert sorted(a["position"] for a in data["answers"]) == list(range(total))
    # the ingest scores the file: every preference went to the first run
    ratings = Path(settings["ratings_dir"]) / "pilot"
    ratings.mkdir(parents=True)
    shutil.copy(saved, ratings)
    scores = human_eval_scores(study=folder / "trials.json", answer_files=[ratings / saved.name], settings=settings,
                               out_record=folder / "scores.json")  # fmt: skip
    HUMAN_SCORES.read(folder / "scores.json")
    first, second = scores["runs"]
    assert scores["agreement"]["n_raters"] == 1 and scores["raters_excluded"] == 0 and not scores["files_rejected"]
    assert first["win_rate"] == 1.0 and second["win_rate"] == 0.0 and first["bt_strength"] > 0 > second["bt_strength"]
    # all "generated": no sample taken for real, every real image missed, the chance level 0.5
    assert first["fake_error"] == second["fake_error"] == 0.0 and first["hype"] == second["hype"] == 0.5


def page_images(page: Path) -> dict[str, str]:
    """Image id -> data URI, as the rating page embeds them."""
    text = page.read_text()
    data = json.loads(text.split('<script id="study-data" type="application/json">')[1].split("</script>")[0])
    return data["images"]


def test_the_report_shows_the_study_before_and_after_ratings(tmp_path):
    study_settings = {"study": "pilot", "trials_per_kind": 6, "attention_checks": 1, "bootstrap": 200,
                      "ratings_dir": str(tmp_path / "ratings"),
                      "runs": [{"model": m, "sampler": "ddim", "steps": n}
                               for m, n in (("pixel", 10), ("latent_f4", 10), ("pixel", 20))]}  # fmt: skip
    config = fixture_config(tmp_path, human_eval=study_settings)
    write_results(config)
    layout = Layout(config["results_dir"])
    write_npz(layout.heldout_images("shapes"), images=np.random.default_rng(1).integers(0, 256, (8, 8, 8, 3), np.uint8))
    runs = Experiment.of(config).human_eval_runs()
    human_eval_study(settings=config["human_eval"], runs=runs, samples=[layout.samples(r["model"], r["sampler"],
                     r["steps"]) for r in runs], reference_images=layout.heldout_images("shapes"),
                     reference_set="heldout", out_page=layout.human_eval_page("pilot"),
                     out_trials=layout.human_eval_trials("pilot"))  # fmt: skip
    paths = ReportPaths.of(Experiment.of(config))
    report(config=config, workflow_dir=tmp_path, published=[])
    html = Path(paths.html).read_text()
    assert '<section id="human">' in html and 'href="../human_eval/pilot/index.html"' in html
    assert "No answer file has been scored yet." in html
    assert "Human evaluation (study pilot): no ratings scored yet" in html

    study = HUMAN_STUDY.read(layout.human_eval_trials("pilot"))
    labels = [r["label"] for r in study["runs"]]
    strengths = dict(zip(labels, [0.0, 3.0, -3.0], strict=True))  # the latent run is preferred by far
    ratings = tmp_path / "ratings" / "pilot"
    ratings.mkdir(parents=True)
    rng = np.random.default_rng(5)
    for rater in ("ann", "ben", "cat", "dan"):
        responses = {}
        for trial in study["trials"]:
            truth = study["truth"][trial["id"]]
            if truth["attention"]:
                responses[trial["id"]] = truth["answer"]
            elif trial["kind"] == REAL_OR_GENERATED:
                responses[trial["id"]] = truth["answer"] if rng.random() < 0.7 else (
                    REAL if truth["answer"] == GENERATED else GENERATED)  # fmt: skip
            else:
                a, b = (strengths[r] for r in truth["runs"])
                responses[trial["id"]] = 0 if rng.random() < 1 / (1 + np.exp(b - a)) else 1
        answers = [{"trial": t, "response": r, "left": 0, "position": k, "rt_ms": 800}
                   for k, (t, r) in enumerate(responses.items())]  # fmt: skip
        (ratings / f"{rater}.json").write_text(json.dumps({
            "format": ANSWER_FORMAT, "study": "pilot", "trials_sha256": study["trials_sha256"], "rater": rater,
            "trials": study["trials"], "answers": answers}))  # fmt: skip
    scores = human_eval_scores(
        study=layout.human_eval_trials("pilot"),
        answer_files=answer_files(config["human_eval"]["ratings_dir"], "pilot"),
        settings=config["human_eval"],
        out_record=layout.human_eval_scores("pilot"),
    )
    assert scores["agreement"]["n_raters"] == 4
    report(config=config, workflow_dir=tmp_path, published=[])
    html = Path(paths.html).read_text()
    for table in ("human-table", "human-ranks-table", "human-differences-table", "human-raters-table"):
        assert f'id="{table}"' in html
    assert "Human evaluation (study pilot): 4 raters counted, 0 left out for failed attention checks" in html
    table = pd.read_csv(paths.human_csv)
    assert list(table.run) == labels and table.fid.notna().all() and table.kid.notna().all()
    # the summary's rank correlation is Spearman's over the three runs, signed so +1 = same order
    rho = spearmanr(table.bt_strength, -table.fid).statistic
    assert f"Bradley-Terry strength vs FID: Spearman rank correlation {rho:+.2f} over 3 runs" in html
    best = max(scores["differences"], key=lambda d: abs(d["difference"]) if d["score"] == "bt_strength" else 0)
    assert best["better"] == labels[1]  # the run preferred by far: its interval excludes 0
    assert f"Bradley-Terry strength, {best['run_a']} minus {best['run_b']}: " in html
    assert f": {labels[1]} scores higher." in html


def test_two_rated_runs_are_said_to_agree_or_not_rather_than_given_a_correlation():
    table = pd.DataFrame({"run": ["a", "b"], "hype": [0.4, 0.2], "bt_strength": [-0.5, 0.5], "fid": [10.0, 20.0],
                          "kid": [0.01, 0.02], "feature_extractor": "dinov2-vit-l-14"})  # fmt: skip
    record = {"agreement": {"n_raters": 3}, "raters_excluded": 0, "files_rejected": [], "differences": [],
              "settings": {"ci_level": 0.95}}  # fmt: skip
    for column in ("hype", "bt_strength"):
        table[f"{column.split('_')[0]}_ci_low"] = table[column] - 0.1
        table[f"{column.split('_')[0]}_ci_high"] = table[column] + 0.1
    lines = human_findings(HumanEval(study="s", page="p", table=table, ranks=rank_agreement(table), record=record))
    assert "HYPE∞ and FD_DINOv2 put the 2 rated runs in the same order (lower FD_DINOv2 counted as better)." in lines
    assert (
        "Bradley-Terry strength and KID put the 2 rated runs in opposite orders (lower KID counted as better)." in lines
    )
    assert not any("Spearman" in line for line in lines)
