"""The Snakemake DAG end to end on the tiny config: every output exists and is well formed."""

import itertools
import json
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from PIL import Image

from diffbench.config import validate_config
from diffbench.data.images import load_images
from diffbench.experiment import Experiment
from diffbench.models.autoencoders import reconstruct
from diffbench.paths import Layout
from diffbench.report.training_compute import SAVINGS_COLUMNS
from diffbench.sampling.pipeline_io import load_model
from helpers import REPO, TINY_CONFIG
from helpers import e2e_snakemake as snakemake

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def run(tmp_path_factory, torch_home):
    workdir = tmp_path_factory.mktemp("e2e")
    result = snakemake("--configfile", str(TINY_CONFIG), cwd=workdir, torch_home=torch_home)
    assert result.returncode == 0, result.stderr[-5000:]
    return workdir, validate_config(yaml.safe_load(TINY_CONFIG.read_text()))


def test_every_sample_set_is_complete(run):
    workdir, config = run
    layout = Layout(str(workdir / "results"))
    sampling = config["sampling"]
    seeds = list(range(sampling["seed"], sampling["seed"] + sampling["num_samples"]))
    for model in config["models"]:
        for sampler, spec in sampling["samplers"].items():
            for steps in sampling["steps"]:
                keys = (model, sampler, steps)
                with np.load(layout.samples(*keys)) as data:
                    assert data["images"].shape == (len(seeds), 8, 8, 3) and data["images"].dtype == np.uint8
                    assert data["seeds"].tolist() == seeds
                    images = data["images"]
                pngs = sorted((workdir / layout.sample_pngs(*keys)).glob("*.png"))
                assert [p.name for p in pngs] == [f"{s:06d}.png" for s in seeds]
                np.testing.assert_array_equal(np.asarray(Image.open(pngs[-1])), images[-1])
                record = json.loads((workdir / layout.sampling_record(*keys)).read_text())
                assert record["nfe_per_image"] == (2 * steps - 1 if spec["type"] == "heun" else steps)
                assert record["num_images"] == len(seeds) and record["num_shards"] == 2
                assert record["seconds_per_image"] > 0 and record["images_per_s"] > 0
                assert record["device"] == "cpu" and record["nonfinite_images"] == 0
                assert (record["decode_s"] > 0) == (config["models"][model]["family"] == "latent")
    assert not list((workdir / "results" / "samples").rglob("shards/*.npz"))  # temporary shards removed


def test_models_records_logs_and_benchmarks(run):
    workdir, config = run
    layout = Layout(str(workdir / "results"))
    for model, spec in config["models"].items():
        assert load_model(layout.pipeline_dir(model)).family == spec["family"]
        record = json.loads((workdir / layout.training_record(model)).read_text())
        assert record["steps"] == spec["training"]["max_steps"]
        assert len(pd.read_csv(layout.training_loss(model))) == record["steps"]
        assert (workdir / layout.log("train_diffusion", model)).stat().st_size > 0
        assert (workdir / layout.benchmark("train_diffusion", model)).is_file()
        if spec["family"] == "latent":
            assert json.loads((workdir / layout.autoencoder_record(model)).read_text())["scaling_factor"] > 0
    assert json.loads((workdir / layout.data_info("tiny")).read_text())["heldout"]["count"] == 16


def test_quality_metrics_for_every_run(run):
    workdir, config = run
    layout = Layout(str(workdir / "results"))
    for model, spec in config["models"].items():
        for sampler in config["sampling"]["samplers"]:
            for steps in config["sampling"]["steps"]:
                keys = (model, sampler, steps)
                dist = json.loads((workdir / layout.distribution_metrics(*keys)).read_text())
                assert (
                    dist["fid"] > 0
                    and dist["fid_ci_low"] <= dist["fid"] <= dist["fid_ci_high"]
                    and dist["fid_ci_groups"] == 3
                    and dist["fid_ci_method"] == "delete-a-group jackknife"
                )
                # 6 images per set are far below 2 x 2048 / 0.1: FID at infinity is not computed, and says why
                assert dist["fid_infinity"] is None and dist["fid_infinity_min_size"] == 40960
                assert "fid_infinity_min_ratio (2) x the 2048 feature" in dist["fid_infinity_hidden"]
                assert dist["kid_ci_low"] <= dist["kid"] <= dist["kid_ci_high"] and dist["kid_se"] > 0
                assert dist["pr_n"] == 6  # precision/recall on equal set sizes: 6 of the 16 reference images
                assert dist["n_generated"] == 6 and dist["n_reference"] == 16 and dist["dataset"] == "tiny"
                assert dist["feature_extractor"] == "inception-v3-compat" and dist["resize"] == "tf-bilinear"
                assert dist["feature_channels_last"] is True  # the schema's defaults reached the feature jobs
                assert dist["feature_fold_batch_norm"] is True
                assert dist["seed_first"] == 100 and dist["seed_last"] == 105 and dist["steps"] == steps
                assert 0 <= dist["precision"] <= 1 and 0 <= dist["recall"] <= 1
                assert any("singular" in w for w in dist["warnings"])  # 6 samples for 2048-d features
                lp = json.loads((workdir / layout.lpips_metrics(*keys)).read_text())
                assert lp["lpips_diversity_mean"] > 0 and lp["convergence_reference_steps"] == max(
                    config["sampling"]["steps"]
                )
        if spec["family"] == "latent":
            rec = json.loads((workdir / layout.reconstruction_metrics(model)).read_text())
            assert rec["psnr_db"] > 0 and 0 < rec["lpips_mean"] and rec["rfid"] > 0 and rec["num_images"] == 16
            # the bound on samples: reconstructions of as many training images (independent of the held-out
            # reference) as there are samples, scored as samples are
            assert rec["independent_set"] == "train" and rec["independent_n"] == 6 and rec["rfid_independent"] > 0
            assert rec["rkid_ci_low"] <= rec["rkid"] <= rec["rkid_ci_high"]
            # the report's grids show D(E(x)) of the held-out images, in their order
            heldout = load_images(workdir / layout.heldout_images("tiny"))
            with np.load(workdir / layout.reconstruction_examples(model)) as data:
                shown = data["images"]
            autoencoder = load_model(workdir / layout.pipeline_dir(model)).autoencoder
            np.testing.assert_array_equal(shown, reconstruct(autoencoder, heldout, torch.device("cpu")))
    with np.load(workdir / layout.reference_features("tiny", "heldout", "inception-v3-compat-tf-bilinear")) as ref:
        assert ref["features"].shape == (16, 2048) and int(ref["count"]) == 16


def test_a_training_milestone_is_sampled_and_evaluated_like_a_final_model(run):
    """pix has training.milestones [2] (of 4 steps): its snapshot is sampled at the default milestone
    setting (the first sampler at the largest step count) under the name pix@2, with the final
    models' seeds and reference, and its KID's group replicates line up with the final model's."""
    workdir, _ = run
    layout = Layout(str(workdir / "results"))
    assert (workdir / layout.milestone_dir("pix", 2) / "model_index.json").is_file()
    training = json.loads((workdir / layout.training_record("pix")).read_text())
    assert [s["step"] for s in training["kept_states"]] == [1, 2, 2, 3]  # 4 / sqrt(2)^k steps, rounded up
    record = json.loads((workdir / layout.milestone_record("pix", 2)).read_text())
    assert (record["milestone"], record["step"], record["trained_from"], record["replayed_steps"]) == (2, 2, 2, 0)
    # its seconds are the model's run's at that step, read from the run's own per-step table
    clock = pd.read_csv(workdir / layout.training_loss("pix")).set_index("step")["elapsed_s"]
    assert record["denoiser_s"] == record["total_train_s"] == clock[2] < training["wall_time_s"]
    milestone = json.loads((workdir / layout.distribution_metrics("pix@2", "ddim", 3)).read_text())
    final = json.loads((workdir / layout.distribution_metrics("pix", "ddim", 3)).read_text())
    assert (milestone["milestone_of"], milestone["milestone"], milestone["model"]) == ("pix", 2.0, "pix@2")
    assert milestone["seed_first"] == final["seed_first"] and milestone["n_reference"] == final["n_reference"]
    assert len(milestone["kid_jackknife_replicates"]) == len(final["kid_jackknife_replicates"]) == 3
    assert milestone["kid"] != final["kid"]  # two steps more training changed the model
    assert not (workdir / layout.distribution_metrics("pix@2", "heun", 3)).exists()  # one setting by default
    curves = pd.read_csv(workdir / layout.report("curves.csv"))
    assert curves.point.tolist() == ["milestone", "final"] and set(curves.model) == {"pix"}
    assert curves.kid.tolist() == [milestone["kid"], final["kid"]]
    assert curves.denoiser_steps.tolist() == [2, 4] and curves.milestone_unit.tolist() == ["steps", "steps"]
    html = (workdir / layout.report("report.html")).read_text(encoding="utf-8")
    assert "Quality along training, in GFLOPs" in html and "Quality along training, in seconds" in html
    # only pix has milestones, so no pair has curves: the headline is the end-of-training answer
    assert list(pd.read_csv(workdir / layout.report("savings.csv")).columns) == SAVINGS_COLUMNS
    assert 'id="answer-tiny"' in html and "tiny, at the end of training (total training GFLOPs: " in html


def test_report_of_the_run_and_snakemakes_own_report(run, torch_home):
    from diffbench.report.outputs import ReportPaths

    workdir, config = run
    paths = ReportPaths.of(Experiment.of({**config, "results_dir": str(workdir / "results")}))
    runs = pd.read_csv(paths.runs_csv)
    assert len(runs) == 6 and runs.fid.notna().all() and runs.sampling_s_per_image.gt(0).all()
    assert (runs.nfe == runs.sampler.map({"ddim": 3, "heun": 5})).all()
    # each model's batch sweep (1, 2, 4, 8): the best batch's throughput beside the configured one's
    assert runs.throughput_best_batch.isin([1, 2, 4, 8]).all() and (runs.throughput_configured_batch == 4).all()
    assert (runs.throughput_best_images_per_s >= runs.throughput_configured_images_per_s).all()
    models = pd.read_csv(paths.models_csv).set_index("model")
    # The model's training cost adds up its stages, as its record says.
    stages = [f"{stage}_s" for stage in ("autoencoder", "scaling_factor", "encoding", "denoiser")]
    assert models.loc["kl", "total_train_s"] == pytest.approx(models.loc["kl", stages].sum(), rel=1e-9)
    assert models.loc["kl", "total_train_s"] > models.loc["kl", "unet_train_wall_time_s"] > 0
    assert models.loc["kl", "total_train_gflops"] > models.loc["kl", "denoiser_gflops"] > 0
    assert models.loc["pix", "total_train_s"] == models.loc["pix", "denoiser_s"]
    assert models.loc[["kl", "vq"], "reconstruction_psnr_db"].gt(0).all()
    provenance = json.loads(open(paths.provenance).read())
    assert provenance["missing"] == []
    html = open(paths.html, encoding="utf-8").read()
    assert '<section id="summary">' in html and "Best latent run" not in html
    # Each latent model against the pixel model at each sampler: 2 latent x 1 pixel x 2 samplers x 1 step count.
    comparisons = pd.read_csv(paths.comparisons_csv)
    assert len(comparisons) == 4 and set(comparisons.model_b) == {"pix"} and set(comparisons.model_a) == {"kl", "vq"}
    assert (comparisons.ci_low <= comparisons.difference).all() and (
        comparisons.difference <= comparisons.ci_high
    ).all()
    # The verdict's difference is KID's; FID's stands beside it.
    assert (comparisons.statistic == "KID").all()
    np.testing.assert_allclose(comparisons.kid_a - comparisons.kid_b, comparisons.difference, rtol=1e-9)
    np.testing.assert_allclose(comparisons.fid_a - comparisons.fid_b, comparisons.fid_difference, rtol=1e-9)
    assert 'id="comparisons-table"' in html and "paired comparisons" in html
    static = provenance["static_figures"]
    if shutil.which("chromium") or shutil.which("google-chrome"):
        assert static["error"] is None and "fid_vs_time.svg" in static["written"]
        assert (workdir / paths.figures_dir / "fid_vs_time.svg").read_text().lstrip().startswith("<svg")
        # the curves along training, rendered by headless Chromium (kaleido): KID and FID, each
        # with pix's line through its milestone to its final model and the frontier
        for name in ("quality_along_training", "quality_along_training_fid", "answer_tiny"):
            svg = (workdir / paths.figures_dir / f"{name}.svg").read_text()
            assert svg.count('class="trace scatter') >= (2 if name.startswith("quality") else 1), name
    else:
        assert "kaleido could not render" in static["error"]

    result = snakemake(
        "--configfile", str(TINY_CONFIG), "--report", "snakemake-report.zip", cwd=workdir, torch_home=torch_home
    )
    assert result.returncode == 0, result.stderr[-3000:]
    names = zipfile.ZipFile(workdir / "snakemake-report.zip").namelist()
    assert any(name.endswith("/report.html") and "/raw/" in name for name in names), names
    assert any(name.endswith("ddim-3.png") for name in names), names


def test_answer_files_dropped_in_are_scored_by_the_next_run(run, torch_home, tmp_path):
    """The tiny config's study (human_eval): its page is made with the run; answer files put in
    ratings/pilot/ make the next run score them and rebuild the report, and nothing else."""
    workdir, _ = run
    work = tmp_path / "work"
    shutil.copytree(workdir, work, symlinks=True)
    study = json.loads((work / "results/human_eval/pilot/trials.json").read_text())
    page = (work / "results/human_eval/pilot/index.html").read_text()
    assert "data:image/png;base64," in page and "http://" not in page and "https://" not in page
    assert json.loads((work / "results/human_eval/pilot/scores.json").read_text())["agreement"]["n_raters"] == 0
    assert "No answer file has been scored yet" in (work / "results/report/report.html").read_text()

    pixel = next(r["label"] for r in study["runs"] if r["model"] == "pix")
    ratings = work / "ratings" / "pilot"
    ratings.mkdir(parents=True)
    for rater in ("ann", "ben", "cat"):  # every rater prefers the pixel model and finds all samples generated
        answers = []
        for trial in study["trials"]:
            truth = study["truth"][trial["id"]]
            if truth["attention"] or trial["kind"] == "real_or_generated":
                response = truth["answer"] if truth["attention"] else "generated"
            else:
                response = truth["runs"].index(pixel)
            answers.append({"trial": trial["id"], "response": response, "left": 0, "position": 0, "rt_ms": 500})
        answer = {"format": "diffbench-ratings/1", "study": "pilot", "trials_sha256": study["trials_sha256"],
                  "rater": rater, "trials": study["trials"], "answers": answers}  # fmt: skip
        (ratings / f"pilot-{rater}.json").write_text(json.dumps(answer))
    (ratings / "pilot-dan.json").write_text(json.dumps({**answer, "rater": "dan", "study": "other"}))

    planned = snakemake("--configfile", str(TINY_CONFIG), "-n", cwd=work, torch_home=torch_home)
    jobs = planned.stdout.split("Job stats:")[1].split("total")[0]
    assert {line.split()[0] for line in jobs.strip().splitlines()[2:]} == {"human_eval_scores", "report", "all"}, jobs
    result = snakemake("--configfile", str(TINY_CONFIG), cwd=work, torch_home=torch_home)
    assert result.returncode == 0, result.stderr[-3000:]
    scores = json.loads((work / "results/human_eval/pilot/scores.json").read_text())
    assert scores["agreement"]["n_raters"] == 3 and scores["raters_excluded"] == 0
    assert [Path(f["file"]).name for f in scores["files_rejected"]] == ["pilot-dan.json"]
    by_run = {r["label"]: r for r in scores["runs"]}
    assert by_run[pixel]["win_rate"] == 1.0 and by_run[pixel]["bt_strength"] > 0
    log = (work / "results/logs/human_eval_scores/pilot.log").read_text()
    assert "pilot-dan.json: its answers are for study 'other', not 'pilot'; left out." in log
    html = (work / "results/report/report.html").read_text()
    assert (
        'id="human-table"' in html
        and 'id="human-ranks-table"' in html
        and 'href="../human_eval/pilot/index.html"' in html
    )
    assert "pilot-dan.json: its answers are for study" in html
    assert "Human evaluation (study pilot): 3 raters counted, 0 left out" in html
    assert len(pd.read_csv(work / "results/report/human_eval.csv")) == 2


def test_missing_weights_fail_naming_the_fix(tmp_path, monkeypatch):
    # Any download attempt goes to a closed loopback port, so this never reaches the network.
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    result = snakemake(
        "--configfile", str(TINY_CONFIG), "--until", "fetch_assets", cwd=tmp_path, torch_home=tmp_path / "empty"
    )
    assert result.returncode != 0
    log = (tmp_path / "results/logs/fetch_assets/assets.log").read_text()
    assert "could not download evaluation weights" in log and "evaluation.inception_weights" in log
    assert not (tmp_path / "results/assets/assets.json").exists()


def keys_reversed(node, names: bool = False):
    """The config with every section's keys in reverse order; the order of the names in datasets,
    models and samplers is kept (it is the report's row order, so it may rerun the report)."""
    if not isinstance(node, dict):
        return node
    items = [
        (key, keys_reversed(value, names=key in ("datasets", "models", "samplers"))) for key, value in node.items()
    ]
    return dict(items if names else reversed(items))


def test_a_finished_run_has_nothing_left_to_do(run, torch_home):
    """Nor with the same config written with its keys in another order (Snakemake compares params
    with their order, so the rules pass the config in the specs' order)."""
    workdir, _ = run
    result = snakemake("--configfile", str(TINY_CONFIG), "-n", cwd=workdir, torch_home=torch_home)
    assert result.returncode == 0
    assert "Nothing to be done" in result.stdout + result.stderr
    reordered = workdir / "reordered.yaml"
    reordered.write_text(yaml.safe_dump(keys_reversed(yaml.safe_load(TINY_CONFIG.read_text())), sort_keys=False))
    assert reordered.read_text() != TINY_CONFIG.read_text()
    result = snakemake("--configfile", str(reordered), "-n", cwd=workdir, torch_home=torch_home)
    assert result.returncode == 0 and "Nothing to be done" in result.stdout + result.stderr, result.stdout


def test_adding_a_milestone_trains_only_that_milestone(run, torch_home):
    """pix's milestones [2] become [1, 2] (and kl gets one): no model trains again; each new
    milestone is one milestone_snapshot job (from the kept state at or below it) and its sampling
    and evaluation, and the report."""
    workdir, _ = run
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["pix"]["training"]["milestones"] = [1, 2]
    config["models"]["kl"]["training"]["milestones"] = [2]
    (workdir / "more.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake("--configfile", "more.yaml", "-n", cwd=workdir, torch_home=torch_home)
    assert result.returncode == 0, result.stderr[-3000:]
    counts = dict(re.findall(r"^(\w+)\s+(\d+)$", result.stdout, re.MULTILINE))
    assert counts["milestone_snapshot"] == "2" and "train_diffusion" not in counts, result.stdout
    assert "train_autoencoder" not in counts and "sample_shard" in counts and "report" in counts


def test_bad_config_fails_before_any_job(tmp_path):
    config = yaml.safe_load(TINY_CONFIG.read_text())
    config["models"]["kl"]["autoencoder"]["downsampling_factor"] = 16
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake("--configfile", "bad.yaml", cwd=tmp_path)
    assert result.returncode != 0
    assert "config key 'models.kl.autoencoder.downsampling_factor'" in result.stderr
    assert not (tmp_path / "results").exists()


TIMED_RULES = {"train_autoencoder", "train_diffusion", "sample_shard", "sampling_throughput"}
NETWORK_EVALUATION_RULES = {"reference_features", "sample_feature_shard", "reconstruction_metrics"}
# A milestone's snapshot (its seconds are its model's run's) and its samples (scored for quality only).
MILESTONE_JOBS = {"milestone_snapshot", "sample_shard@milestone"}
# Untimed single jobs of ~20-40 s that nothing but the report waits for after them.
LONG_EVALUATION_JOBS = {"reference_features", "reconstruction_metrics"}


def test_timed_jobs_take_every_core_and_evaluation_jobs_share_them(tmp_path):
    """A job whose seconds are a result runs alone; two evaluation or milestone jobs may run at
    once; training, the chain everything waits for, and the jobs it waits for are scheduled before
    anything else that is ready, then the timed sampling jobs, then the long evaluation jobs (so
    none is left to run alone at the end), then the milestones' jobs (the longest chain of the
    rest), then the rest."""

    def snakemake(*args):
        result = subprocess.run(
            [sys.executable, "-m", "snakemake", "-s", str(REPO / "Snakefile"), "--configfile", str(TINY_CONFIG),
             "--cores", "4", *args],
            cwd=tmp_path, capture_output=True, text=True,
        )  # fmt: skip
        assert result.returncode == 0, result.stderr[-2000:]
        return result

    result = snakemake("-n")
    planned = {"threads": {}, "priority": {}}  # rule -> the values of its planned jobs (printed when not 1 / 0)
    for block in result.stdout.split("\n\n"):
        # a job: [date], rule x:, ... (the first follows the job table after one more blank line)
        lines = [line for line in block.splitlines() if line.strip() and not line.startswith("[")]
        if lines and lines[0].startswith(("rule ", "localrule ")):
            rule = lines[0].split()[1].rstrip(":")
            if any(line.strip().startswith("wildcards:") and re.search(r"model=\w+@", line) for line in lines):
                rule += "@milestone"  # a milestone's sample set (<model>@<milestone>)
            for key, default in (("threads", 1), ("priority", 0)):
                given = [int(line.split(":")[1]) for line in lines if line.strip().startswith(f"{key}:")]
                planned[key].setdefault(rule, set()).add(given[0] if given else default)
    threads, priority = planned["threads"], planned["priority"]
    assert {"fetch_assets", "fetch_perceptual_backbone", "prepare_data"} <= set(priority), sorted(priority)
    assert TIMED_RULES | NETWORK_EVALUATION_RULES <= set(threads), sorted(threads)
    assert all(threads[rule] == {4} for rule in TIMED_RULES), threads
    assert all(threads[rule] == {2} for rule in NETWORK_EVALUATION_RULES | MILESTONE_JOBS), threads
    assert all(max(n) <= 2 for rule, n in threads.items() if rule not in TIMED_RULES), threads
    # training and every rule it depends on, from the rule graph (dot: `3[label = "train_diffusion", ...]`, `4 -> 3`)
    graph = snakemake("--rulegraph").stdout
    names = dict(re.findall(r'^\s*(\d+)\[label = "(\w+)"', graph, re.MULTILINE))
    edges = re.findall(r"^\s*(\d+) -> (\d+)", graph, re.MULTILINE)
    first = {"train_autoencoder", "train_diffusion"}
    while grown := {names[a] for a, b in edges if names[b] in first} - first:
        first |= grown
    assert {"prepare_data", "fetch_perceptual_backbone"} < first and "reference_features" not in first, first
    assert len({p for rule in first for p in priority[rule]}) == 1, priority
    assert min(min(priority[rule]) for rule in first) > max(max(p) for r, p in priority.items() if r not in first)
    # then the timed sampling jobs, so the evaluation jobs after them never wait for a timed one
    timed_sampling = TIMED_RULES - first
    tiers = [timed_sampling, LONG_EVALUATION_JOBS, MILESTONE_JOBS]
    for higher, lower in itertools.pairwise(tiers):
        assert min(min(priority[rule]) for rule in higher) > max(max(priority[rule]) for rule in lower), priority
    assert min(min(priority[rule]) for rule in MILESTONE_JOBS) > max(
        max(p) for r, p in priority.items() if r not in first.union(*tiers)
    ), priority


def test_lint():
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--lint", "--configfile", str(TINY_CONFIG)],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0 and "Congratulations" in result.stdout + result.stderr, result.stdout + result.stderr


def test_results_equal_those_before_the_refactor(run):
    """With step budgets the tiny experiment gives the images and numbers that commit 048e5dc gave
    (tests/golden/tiny_results.json): moving code between modules changed no result. (Precision and
    recall were re-recorded when they moved to equal set sizes, and KID when it became the U-statistic
    over all pairs: deliberate changes.)

    On this machine kind they are bit-identical. The tolerances cover another CPU only: the same
    float32 arithmetic in another order moves a sampled value by ~1e-6, which can round a pixel that
    sits on a uint8 boundary to the next level (hence <= 1 level, on few pixels), and a k-NN
    membership at the border can flip for one of the 6 samples (hence precision/recall within 1/6).
    Features move with the images by far less than 1 % for such changes, while a real change of the
    pipeline (seeds, scaling, schedule, resize) moves images by many levels and FID by tens of %."""
    import base64
    import math

    workdir, config = run
    golden = json.loads((REPO / "tests" / "golden" / "tiny_results.json").read_text())
    layout = Layout(str(workdir / "results"))
    for key, expected in golden["samples"].items():
        model, sampler, steps = key.split("/")
        want = np.frombuffer(base64.b64decode(expected["uint8_base64"]), np.uint8).reshape(expected["shape"])
        with np.load(layout.samples(model, sampler, steps)) as data:
            diff = np.abs(data["images"].astype(int) - want)
        assert diff.max() <= 1 and (diff > 0).mean() <= 0.01, (key, diff.max(), (diff > 0).mean())
        distribution = json.loads(Path(layout.distribution_metrics(model, sampler, steps)).read_text())
        lpips = json.loads(Path(layout.lpips_metrics(model, sampler, steps)).read_text())
        got = {**distribution, **lpips}
        for name, value in golden["metrics"][key].items():
            if name in ("precision", "recall"):
                assert abs(got[name] - value) <= 1 / 6 + 1e-9, (key, name, got[name], value)
            else:
                assert math.isclose(got[name], value, rel_tol=1e-2, abs_tol=1e-6), (key, name, got[name], value)
    for model, expected in golden["reconstruction"].items():
        got = json.loads(Path(layout.reconstruction_metrics(model)).read_text())
        for name, value in expected.items():
            assert math.isclose(got[name], value, rel_tol=1e-2), (model, name, got[name], value)
    for name, expected in golden["training"].items():
        model, _, stage = name.partition("/")
        record = layout.autoencoder_record(model) if stage else layout.training_record(model)
        got = json.loads(Path(record).read_text())
        assert got["steps"] == expected["steps"]
        for key in ("final_loss", "scaling_factor"):
            if key in expected:
                assert math.isclose(got[key], expected[key], rel_tol=1e-4), (name, key, got[key], expected[key])
