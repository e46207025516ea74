"""The report from a fixture results tree (records as the jobs write them; no models needed)."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from kaleido.errors import ChromeNotFoundError
from PIL import Image
from plotly.offline import get_plotlyjs

from diffbench.experiment import Experiment
from diffbench.io import write_npz
from diffbench.paths import Layout
from diffbench.records import (
    AUTOENCODER_TRAINING,
    DISTRIBUTION,
    RECONSTRUCTION,
    SAMPLING,
    TRAINING,
)
from diffbench.report.build import SECTIONS
from diffbench.report.findings import NETWORK_FORMS, infinity_line, network_form_words, pareto_front, summary
from diffbench.report.outputs import ReportPaths, result_files
from diffbench.report.tables import TRAINING_COLUMNS, collect, unread_keys
from diffbench.specs import Comparison
from diffbench.stages.report import report as build_report
from helpers import headless_chromium, needs_chromium
from report_fixture import FID, fixture_config, write_comparison, write_results


@pytest.fixture
def results(tmp_path):
    config = fixture_config(tmp_path)
    write_results(config)
    return config


def test_pareto_front_hand_checked():
    cost = pd.Series([1.0, 2.0, 3.0, 4.0, 2.0, math.nan])
    quality = pd.Series([5.0, 3.0, 4.0, 1.0, 3.5, 0.0])
    assert pareto_front(cost, quality).tolist() == [True, True, False, True, False, False]


def test_tables_one_row_per_run_with_units(results):
    tables = collect(Experiment.of(results))
    assert tables.missing == []
    runs = tables.runs
    assert len(runs) == 6 and set(runs.family) == {"pixel", "latent"}
    assert {
        "fid",
        "fid_ci_low",
        "fid_ci_high",
        "kid",
        "precision",
        "recall",
        "lpips_diversity",
        "lpips_convergence",
        "sampling_s_per_image",
        "sampling_images_per_s",
        "sampling_decode_share",
        "nfe",
        "n_samples",
        "seed_first",
        "seed_last",
        "total_train_s",
        "total_train_gflops",
        "budget_scope",
        "unet_train_images_seen",
        "unet_gflops_per_nfe",
        "sampling_peak_host_rss_mb",
        "train_device",
        "train_precision",
        "downsampling_factor",
    } <= set(runs)
    row = runs.set_index(["model", "steps"]).loc[("latent_f4", 10)]
    assert row.fid == 45.0 and row.nfe == 10 and row.n_samples == 6 and row.downsampling_factor == 4
    assert row.timestep_spacing == "trailing" and row.timesteps == "999, 899, ..., 99 (10)"
    from diffbench.report.figures import model_colors, quality_figures

    figures = quality_figures(runs, model_colors(list(tables.models.model)))
    hovered = [d[-1] for fig in figures.values() for trace in fig.data if trace.customdata is not None
               for d in trace.customdata]  # fmt: skip
    assert "999, 899, ..., 99 (10)" in hovered
    assert "timesteps %{customdata[15]}" in figures["fid_vs_nfe"].data[0].hovertemplate
    models = tables.models.set_index("model")
    # An LDM's training compute includes its first stage, the scaling-factor estimate and the encoding.
    assert models.loc["latent_f4", "total_train_s"] == 83.0 and models.loc["pixel", "total_train_s"] == 60.0
    assert models.loc["latent_f4", "total_train_gflops"] == 425.0 and models.loc["latent_f4", "encoding_s"] == 2.0
    assert np.isnan(models.loc["pixel", "encoding_s"]) and models.loc["pixel", "denoiser_gflops"] == 320.0
    assert models.loc["latent_f4", "reconstruction_psnr_db"] == 25.0
    assert models.loc["latent_f4", "autoencoder_loss"] == "L1 + 1 LPIPS-vgg + 1e-06 KL"
    assert set(tables.curves.stage) == {"unet", "autoencoder"} and len(tables.curves) == 300
    assert any("latent_f4/ddim/5" in w for w in tables.warnings)
    assert any("dataset shapes: 1 unreadable image files were skipped" in w for w in tables.warnings)


def test_models_table_has_peak_gpu_memory_of_both_training_stages(results):
    """On CUDA both training jobs record peak memory, allocated and reserved; CPU runs leave NaN."""
    layout = Layout(results["results_dir"])
    stages = [(layout.training_record("latent_f4"), TRAINING, (300.0, 512.0)),
              (layout.autoencoder_record("latent_f4"), AUTOENCODER_TRAINING, (700.0, 1024.0))]  # fmt: skip
    for path, kind, peaks in stages:
        kind.write(path, {**kind.read(path), "peak_gpu_memory_mb": peaks[0], "peak_gpu_reserved_mb": peaks[1]})
    models = collect(Experiment.of(results)).models.set_index("model")
    row = models.loc["latent_f4"]
    assert (row.train_peak_gpu_memory_mb, row.train_peak_gpu_reserved_mb) == (300.0, 512.0)
    assert (row.autoencoder_peak_gpu_memory_mb, row.autoencoder_peak_gpu_reserved_mb) == (700.0, 1024.0)
    assert np.isnan(models.loc["pixel", "autoencoder_peak_gpu_memory_mb"])
    assert np.isnan(models.loc["pixel", "train_peak_gpu_memory_mb"])


def test_summary_states_the_comparison_from_the_data(results):
    tables = collect(Experiment.of(results))
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    # No best-of-family: each latent model against each pixel model at matched sampler and NFE.
    assert "Best latent run" not in text and "Best of each family" not in text
    # The verdict is KID's (with its p-value); FID's difference stands beside it.
    assert (
        "latent_f4 vs pixel (ddim, 5 steps): KID 0.06 vs 0.08, difference -0.02 [-0.023, -0.017] (95% interval, "
        "p = 0.0012); FID 60 vs 80, difference -20 [-23, -17]: latent_f4 is better." in text
    )
    assert (
        "latent_f4 vs pixel (ddim, 20 steps): KID 0.044 vs 0.04, difference 0.004 [0.001, 0.007] (95% interval, "
        "p = 0.029); FID 44 vs 40, difference 4 [1, 7]: pixel is better." in text
    )
    assert "Verdict over 3 paired comparisons at matched sampler and NFE, decided by KID, the unbiased " in text
    # Holm: p = 0.0012, 0.019, 0.029 against 0.05/3, 0.05/2, 0.05: all three stand.
    assert "with Holm's correction so that the chance of any false claim here is at most 5%" in text
    assert "latent better in 2, pixel better in 1, and the data cannot tell in 0" in text
    # The fixture's latent model cost 83 s against the pixel model's 60 s: said, not hidden.
    assert "latent_f4 vs pixel, UNEQUAL total training compute (83 s / 425 GFLOPs vs 60 s / 320 GFLOPs)" in text
    assert "Caution: latent_f4 vs pixel had unequal training compute" in text
    assert "4 runs are on the FID-vs-time Pareto frontier (3 latent, 1 pixel)" in text
    assert "FID at infinity (Chong & Forsyth 2020" in text and "pixel (ddim, 5 steps) 70 [65, 75]" in text
    assert "Rough here: with fewer images than feature dimensions FID is not linear in 1/N" in text  # 6 < 2048
    assert "Caution: some FIDs use fewer generated samples or reference images than feature dimensions" in text
    assert (
        "Equal footing: every model shares the noise schedule, the noise levels drawn in training "
        "(uniform timesteps), denoiser architecture" in text
    )
    assert (
        "and every sampler treats the models alike: x0 clipped to its data's range (pixel ±1, latent_f4 ±4.25), "
        "trailing timestep spacing." in text
    )
    assert set(tables.runs.x0_handling) == {"clipped to its data's range (±4.25)", "clipped to its data's range (±1)"}
    assert "Brackets are 95% intervals (delete-a-group jackknife)" in text
    assert "samples against 8 held-out images (never trained on) (inception-v3-compat" in text
    assert (tables.runs.reference == "heldout").all() and (tables.comparisons.reference_set == "heldout").all()
    assert (
        "latent_f4: its first stage's reconstructions of 6 images independent of the reference, scored as its "
        "samples are, reach KID 0.02 [0.015, 0.025] (rFID 30; the paired rFID of held-out reconstructions, as the "
        "LDM paper reports it, is 12 and not comparable with a sample set's FID). Its runs: ddim, 5 steps, KID 0.06 "
        "[0.057, 0.063] (above it: the first stage is not what limits this run);" in text
    )
    assert "best FID" not in text  # no minimum over runs


@pytest.mark.parametrize("reference, words", [("train", "the 8 training images (as DDPM, DDIM and LDM report FID)"),
                                               ("full", "all 8 images of the dataset")])  # fmt: skip
def test_the_summary_and_runs_table_say_which_reference_set_fid_used(tmp_path, reference, words):
    config = fixture_config(tmp_path)
    config["evaluation"]["reference"] = reference
    write_results(config)
    tables = collect(Experiment.of(config))
    assert f"samples against {words} (inception-v3-compat" in " ".join(
        summary(tables.runs, tables.models, tables.comparisons)
    )
    assert (tables.runs.reference == reference).all()


def test_identical_models_cannot_be_told_apart_and_matched_compute_is_said(results):
    layout = Layout(results["results_dir"])
    for steps in results["sampling"]["steps"]:
        write_comparison(results, steps, 0.4, half_width=2.0)
    record = TRAINING.read(layout.training_record("pixel"))
    TRAINING.write(layout.training_record("pixel"), {**record, "total_train_s": 80.0})
    tables = collect(Experiment.of(results))
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    assert "in none of the 3 paired comparisons of latent and pixel models at matched sampler and NFE" in text
    assert "exclude 0 at 95% with Holm's correction for 3 comparisons" in text
    assert "these data cannot decide between the families" in text and "the data cannot tell which is better" in text
    assert (
        "latent_f4 vs pixel, matched total training compute (in s, not in GFLOPs: "
        "83 s / 425 GFLOPs vs 80 s / 320 GFLOPs)" in text
    )
    assert "unequal training compute" not in text


def test_models_that_differ_in_schedule_or_device_are_flagged(results):
    layout = Layout(results["results_dir"])
    record = TRAINING.read(layout.training_record("latent_f4"))
    TRAINING.write(
        layout.training_record("latent_f4"),
        {**record, "noise_schedule": "linear 0.0001->0.02, T=1000", "noise_levels": "ln sigma ~ N(-1.2, 1.2^2)"},
    )
    sampling = SAMPLING.read(layout.sampling_record("pixel", "ddim", 5))
    SAMPLING.write(
        layout.sampling_record("pixel", "ddim", 5),
        {**sampling, "device_name": "NVIDIA H100", "step_noise_on": "cuda", "speedups": "channels_last"},
    )
    tables = collect(Experiment.of(results))
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    assert "Not on equal footing: the models differ in noise schedule (latent_f4: linear 0.0001->0.02, T=1000; " in text
    assert "pixel: scaled_linear 0.0015->0.0195, T=1000, epsilon)" in text
    assert (
        "noise levels drawn in training (diffusion.timestep_sampling) (latent_f4: ln sigma ~ N(-1.2, 1.2^2); "
        "pixel: uniform timesteps)" in text
    )
    assert "sampling device (pixel: NVIDIA H100, x86_64; latent_f4: x86_64)" in text
    assert (
        "where the noise of stochastic sampling steps was drawn (sampling.step_noise) "
        "(latent_f4: cpu; pixel: cpu, cuda)" in text
    )
    assert "sampling speed options (sampling.speedups) (pixel: channels_last, none; latent_f4: none)" in text
    assert "Equal footing" not in text and tables.models.noise_schedule.nunique() == 2


def test_report_has_every_section_and_no_network_reference(results, tmp_path):
    provenance = build_report(config=results, workflow_dir=tmp_path, published=[])
    paths = ReportPaths.of(Experiment.of(results))
    html = open(paths.html, encoding="utf-8").read()
    for section, _ in SECTIONS:
        # the human evaluation section is there only when the config has a study (test_human_eval.py)
        assert (f'<section id="{section}">' in html) == (section != "human")
    for figure in (
        "fid_vs_time",
        "fid_vs_nfe",
        "fid_vs_training",
        "fid_vs_gflops",
        "lpips_diversity",
        "lpips_convergence",
        "training_curves",
    ):
        assert f'id="fig-{figure}"' in html
    assert get_plotlyjs() in html and "Plotly.newPlot" in html  # plotly.js itself is embedded, once
    # Nothing of ours loads from the network (plotly.js holds map-tile URLs it never uses here;
    # the browser test checks that no request is made at all).
    ours = html.replace(get_plotlyjs(), "")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", ours)
    for table in ("reconstruction", "models", "runs"):
        assert f'<table class="dataframe data sortable" id="{table}-table">' in html
    assert ours.count('src="data:image/png;base64,') == 3  # one grid per (sampler, steps)
    assert provenance["config_sha256"] in html and provenance["missing"] == []
    # Tables: CSV and Parquet hold the same rows.
    pd.testing.assert_frame_equal(pd.read_csv(paths.runs_csv), pd.read_parquet(paths.runs_parquet), check_dtype=False)
    assert json.loads(open(paths.provenance).read())["static_figures"] == {"formats": [], "written": [], "error": None}
    assert set(result_files(Experiment.of(results))) >= {
        Layout(results["results_dir"]).lpips_metrics("pixel", "ddim", 5)
    }


def test_grid_rows_are_the_data_its_reconstructions_and_the_models_and_columns_seeds(results, tmp_path):
    """Rows: the held-out images, the latent model's D(E(x)) of the same images (its first stage's
    bound on its samples), then each model's samples; columns: seeds."""
    from diffbench.report.grids import CELL, GAP

    build_report(config=results, workflow_dir=tmp_path, published=[])
    grid = np.asarray(Image.open(ReportPaths.of(Experiment.of(results)).grids[("ddim", 10)]))
    assert grid.shape == (4 * CELL + 3 * GAP, 4 * CELL + 3 * GAP, 3)  # real, D(E(x)), pixel, latent_f4
    np.testing.assert_array_equal(grid[:CELL, :CELL], 77)  # the fixture's held-out images
    np.testing.assert_array_equal(grid[CELL + GAP : 2 * CELL + GAP, -CELL:], 80)  # their reconstructions
    with np.load(Layout(results["results_dir"]).samples("latent_f4", "ddim", 10)) as data:
        seed_1 = data["images"][1]
    # Row 4 (latent_f4), column 2 (the second seed), enlarged by nearest neighbour.
    cell = grid[3 * (CELL + GAP) : 4 * CELL + 3 * GAP, CELL + GAP : 2 * CELL + GAP]
    np.testing.assert_array_equal(cell[:: CELL // 8, :: CELL // 8], seed_1)
    html = open(ReportPaths.of(Experiment.of(results)).html, encoding="utf-8").read()
    assert "latent_f4 D(E(x))" in html


def test_a_partial_run_still_reports_and_names_what_is_missing(results, tmp_path):
    layout = Layout(results["results_dir"])
    gone = layout.distribution_metrics("pixel", "ddim", 10)
    os.remove(gone)
    provenance = build_report(config=results, workflow_dir=tmp_path, published=[])
    assert provenance["missing"] == [gone]
    html = open(ReportPaths.of(Experiment.of(results)).html, encoding="utf-8").read()
    assert "1 expected result files are missing" in html and gone in html
    runs = pd.read_csv(ReportPaths.of(Experiment.of(results)).runs_csv)
    assert runs.fid.isna().sum() == 1


@pytest.mark.parametrize(
    "kaleido_answer, words",
    [
        (ChromeNotFoundError("no Chrome found"), ["no Chrome found", "Install Chrome"]),
        # kaleido returns, not raises, a figure's failure (a timeout under load): plotly.io drops it
        ((TimeoutError("figure 2 took too long"),), ["figure 2 took too long", "retries them"]),
        ((), ["no file was written for"]),
    ],
)
def test_static_figures_failure_is_reported_not_silent(results, tmp_path, monkeypatch, kaleido_answer, words):
    import kaleido

    def render(*args, **kwargs):
        if isinstance(kaleido_answer, Exception):
            raise kaleido_answer
        return kaleido_answer

    monkeypatch.setattr(kaleido, "write_fig_from_object_sync", render)
    results["report"]["static_formats"] = ["svg"]
    provenance = build_report(config=results, workflow_dir=tmp_path, published=[])
    error = provenance["static_figures"]["error"]
    assert all(word in error for word in words) and "report.static_formats" in error
    assert provenance["static_figures"]["written"] == []
    assert "kaleido could not render static figures" in open(ReportPaths.of(Experiment.of(results)).html).read()


@needs_chromium
def test_report_renders_in_headless_chromium_with_the_network_off(results, tmp_path):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    build_report(config=results, workflow_dir=tmp_path, published=[])
    driver = headless_chromium("1400,1000", performance_log=True)
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd(
            "Network.emulateNetworkConditions",
            {"offline": True, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
        )
        driver.get(Path(ReportPaths.of(Experiment.of(results)).html).as_uri())
        plots = (
            "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => "
            "[p.id, p.querySelectorAll('.main-svg').length, p.querySelectorAll('.scatterlayer .trace').length])"
        )
        WebDriverWait(driver, 60).until(lambda d: len(d.execute_script(plots)) == 8)
        rendered = driver.execute_script(plots)
        assert all(svgs > 0 and traces > 0 for _, svgs, traces in rendered), rendered
        # the answer first: the dataset's headline beside its figure, above the summary's bullets
        assert rendered[0][0] == "fig-answer_shapes"
        headline = driver.find_element(By.CSS_SELECTOR, "#answer-shapes .headline")
        assert headline.text.startswith("shapes, at the end of training")
        figure = driver.find_element(By.CSS_SELECTOR, "#answer-shapes .figure").rect
        assert figure["x"] > headline.rect["x"] + headline.rect["width"] - 1  # beside it, not below
        # KID first, FID one click away
        title = "return document.getElementById('fig-fid_vs_nfe').layout.yaxis.title.text"
        assert driver.execute_script(title) == "KID (lower is better)"
        kid, fid = driver.find_elements(By.CSS_SELECTOR, "#fig-fid_vs_nfe .updatemenu-button")
        fid.click()
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(title) == "FID (lower is better)")
        driver.save_screenshot(str(tmp_path / "report.png"))
        assert Image.open(tmp_path / "report.png").size[0] >= 1000

        # The runs table sorts by a clicked column, numerically.
        header = driver.find_elements(By.CSS_SELECTOR, "#runs-table thead th")
        fid_column = [h.text for h in header].index("fid")
        header[fid_column].click()
        column = driver.execute_script(
            "return Array.from(document.querySelectorAll('#runs-table tbody tr'))"
            f".map(r => r.cells[{fid_column}].textContent)"
        )
        assert [float(v) for v in column] == sorted(FID.values())

        # Every plot fits its card at common widths, loaded at that width (one column, two columns).
        outside = (
            "return Array.from(document.querySelectorAll('.js-plotly-plot')).filter(p => {"
            "const card = p.closest('.figure').getBoundingClientRect();"
            "const svg = p.querySelector('.main-svg').getBoundingClientRect();"
            "return svg.left < card.left || svg.right > card.right + 0.5; }).map(p => p.id)"
        )
        for width in (1000, 1400, 1920):
            driver.set_window_size(width, 1000)
            driver.get(Path(ReportPaths.of(Experiment.of(results)).html).as_uri())
            WebDriverWait(driver, 60).until(lambda d: len(d.execute_script(plots)) == 8)
            try:
                WebDriverWait(driver, 10).until(lambda d: d.execute_script(outside) == [])
            except TimeoutException:
                pytest.fail(f"at {width} px these plots overflow their card: {driver.execute_script(outside)}")

        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert errors == []
        requests = [json.loads(entry["message"])["message"] for entry in driver.get_log("performance")]
        urls = [m["params"]["request"]["url"] for m in requests if m["method"] == "Network.requestWillBeSent"]
        assert [u for u in urls if not u.startswith(("file:", "data:", "blob:"))] == []
    finally:
        driver.quit()


@needs_chromium
def test_the_curves_along_training_render_in_chromium_with_fid_one_click_away(tmp_path):
    """With milestones the answer is the curves: the headline reads them (the crossing is where the
    fixture's KIDs cross, linear in log compute between 280 and 320 GFLOPs), its figure draws each
    model's milestones and final point, and the curves' KID/FID buttons work offline."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    config = fixture_config(tmp_path, milestones=True)
    write_results(config)
    build_report(config=config, workflow_dir=tmp_path, published=[])
    driver = headless_chromium("1100,1000")  # docs/report.png's width
    try:
        driver.get(Path(ReportPaths.of(Experiment.of(config)).html).as_uri())
        plots = "return Array.from(document.querySelectorAll('.js-plotly-plot')).map(p => p.id)"
        WebDriverWait(driver, 60).until(lambda d: len(d.execute_script(plots)) == 10)
        assert driver.execute_script(plots)[:3] == [
            "fig-answer_shapes", "fig-quality_along_training", "fig-quality_along_training_s"
        ]  # fmt: skip
        headline = driver.find_element(By.CSS_SELECTOR, "#answer-shapes .headline").text
        assert headline.startswith("shapes: latent_f4's KID at the end of its training is 0.044")
        assert "Their curves cross at 301 GFLOPs" in headline and "(latent_f4 is better below it)" in headline
        lines = (
            "return document.getElementById('fig-answer_shapes').data"
            ".filter(t => t.mode && t.mode.includes('lines') && t.visible !== false)"
            ".map(t => [t.x, t.y].map(v => Array.from(v._inputArray || v).map(u => Number(u.toFixed(6)))))"
        )
        drawn = driver.execute_script(lines)
        assert [[210, 280, 320], [0.09, 0.06, 0.04]] in drawn and [[210, 280, 425], [0.07, 0.05, 0.044]] in drawn
        # the mode bar (in the page even before a hover shows it) leaves the headline figure's title clear
        boxes = driver.execute_script(
            "const f = document.getElementById('fig-answer_shapes');"
            "return ['.modebar', '.gtitle'].map(s => f.querySelector(s).getBoundingClientRect().toJSON())"
        )
        bar, heading = boxes
        assert bar["width"] > 0 and heading["width"] > 0
        assert heading["right"] <= bar["left"] or heading["top"] >= bar["bottom"], boxes
        title = "return document.getElementById('fig-quality_along_training').layout.yaxis.title.text"
        assert driver.execute_script(title) == "KID (lower is better)"
        kid, fid = driver.find_elements(By.CSS_SELECTOR, "#fig-quality_along_training .updatemenu-button")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", fid)  # below the fold
        fid.click()
        WebDriverWait(driver, 10).until(lambda d: d.execute_script(title) == "FID (lower is better)")
        assert [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"] == []
    finally:
        driver.quit()


def test_a_record_with_a_renamed_key_is_an_error_naming_file_and_key(results):
    from diffbench.errors import ResultError

    path = Layout(results["results_dir"]).distribution_metrics("pixel", "ddim", 10)
    record = json.loads(Path(path).read_text())
    record["frechet"] = record.pop("fid")  # a renamed key, as from another version
    Path(path).write_text(json.dumps(record))
    with pytest.raises(ResultError, match=rf"{re.escape(path)}: distribution metrics record lacks key\(s\) \['fid'\]"):
        collect(Experiment.of(results))
    with pytest.raises(ResultError, match="lacks key"):  # the writer refuses such a record too
        DISTRIBUTION.write(path, record)


def test_a_record_with_a_value_of_another_type_is_an_error_naming_file_key_and_type(results):
    from diffbench.errors import ResultError

    path = Layout(results["results_dir"]).distribution_metrics("pixel", "ddim", 10)
    record = json.loads(Path(path).read_text())
    record["n_generated"] = "128"  # a number written as text, as by hand or another version
    Path(path).write_text(json.dumps(record))
    wanted = rf"{re.escape(path)}: distribution metrics record's 'n_generated' is '128', not of type integer"
    with pytest.raises(ResultError, match=wanted):
        collect(Experiment.of(results))
    with pytest.raises(ResultError, match="not of type integer"):  # the writer refuses it too
        DISTRIBUTION.write(path, record)


def test_record_fields_take_numpy_scalars_as_the_numbers_they_are_and_refuse_what_json_reads_otherwise(tmp_path):
    from diffbench.errors import ResultError
    from diffbench.records import INT, NUM, STR, RecordKind, maybe

    kind = RecordKind("test", {"n": INT, "x": NUM, "why": maybe(STR)}, optional={"extra": NUM})
    kind.write(tmp_path / "ok.json", {"n": np.int64(3), "x": np.float32(0.5), "why": None})
    assert kind.read(tmp_path / "ok.json") == {"n": 3, "x": 0.5, "why": None}
    kind.check({"n": 3, "x": 2, "why": "because"}, "p")  # an integer is a number; extra keys may be absent
    for bad in [{"n": 2.5}, {"n": True}, {"x": "1.0"}, {"why": 1}, {"extra": None}]:
        with pytest.raises(ResultError, match=f"'{next(iter(bad))}' is .* not of type"):
            kind.check({"n": 3, "x": 1.0, "why": None} | bad, "p")


def test_a_key_the_kind_does_not_declare_is_refused_where_it_is_written_and_read(tmp_path):
    """A kind lists every key of its records: a misspelt optional key (which no required-key check
    would notice) fails in the writer, and a file holding one fails in the reader, naming both."""
    from diffbench.errors import ResultError
    from diffbench.records import INT, RecordKind

    kind = RecordKind("test", {"n": INT}, optional={"peak_mb": INT})
    with pytest.raises(ResultError, match=r"test record has key\(s\) \['peak_mib'\] it does not declare"):
        kind.write(tmp_path / "typo.json", {"n": 1, "peak_mib": 2})
    assert not (tmp_path / "typo.json").exists()
    (tmp_path / "old.json").write_text(json.dumps({"m": 1, "peak_mb": 2}))
    wanted = r"old.json: test record lacks key\(s\) \['n'\] and has key\(s\) \['m'\] it does not declare"
    with pytest.raises(ResultError, match=wanted):
        kind.read(tmp_path / "old.json")


def test_nested_record_fields_are_typed_too(results):
    """A training record's stage costs and budget are checked inside: an unknown stage (a renamed
    one) or a limit of another type is refused, naming the field and the part."""
    from diffbench.errors import ResultError

    path = Layout(results["results_dir"]).training_record("latent_f4")
    record = TRAINING.read(path)
    renamed = {**record, "stage_seconds": {**record["stage_seconds"], "encode": 1.0}}
    with pytest.raises(ResultError, match=r"record's 'stage_seconds' has Additional properties .*'encode'"):
        TRAINING.write(path, renamed)
    budget = {**record["budget"], "limits": {**record["budget"]["limits"], "max_gflops": "400"}}
    with pytest.raises(ResultError, match=r"record's 'budget' has \['limits'\]\['max_gflops'\]: '400' is not of type"):
        TRAINING.write(path, {**record, "budget": budget})


def test_every_report_column_reads_a_key_its_record_defines():
    """The column maps are checked against the record kinds (at import, and here): a record key
    renamed in records.py without its column map fails."""
    assert unread_keys() == {}
    renamed = {"training": (TRAINING, {**TRAINING_COLUMNS, "wall_seconds": "unet_train_wall_time_s"})}
    assert unread_keys(renamed) == {"training": {"wall_seconds"}}


def test_a_model_whose_records_are_missing_has_every_column_empty(results):
    """Text columns read "", numbers NaN, and a pixel model still has downsampling factor 1."""
    layout = Layout(results["results_dir"])
    os.remove(layout.training_record("pixel"))
    os.remove(layout.autoencoder_record("latent_f4"))
    models = collect(Experiment.of(results)).models.set_index("model")
    pixel, latent = models.loc["pixel"], models.loc["latent_f4"]
    assert pixel.train_device == "" and pixel.noise_schedule == "" and np.isnan(pixel.unet_train_steps)
    assert pixel.downsampling_factor == 1
    assert latent.autoencoder_loss == "" and np.isnan(latent.autoencoder_train_steps)
    assert latent.unet_train_steps > 0 and latent.train_device == "cpu"


def test_the_small_sample_caution_looks_at_the_reference_set_too(results):
    """2048-d features: 3000 samples are enough, but 8 reference images are not."""
    layout = Layout(results["results_dir"])
    for model in results["models"]:
        for steps in results["sampling"]["steps"]:
            path = layout.sampling_record(model, "ddim", steps)
            SAMPLING.write(path, {**SAMPLING.read(path), "num_images": 3000})
    tables = collect(Experiment.of(results))
    assert (tables.runs.n_samples == 3000).all() and (tables.runs.n_reference == 8).all()
    assert tables.runs.fid_set_below_feature_dim.all()
    assert "Caution: some FIDs use fewer generated samples or reference images" in " ".join(
        summary(tables.runs, tables.models, tables.comparisons)
    )


def test_an_amortised_first_stage_is_said(results):
    layout = Layout(results["results_dir"])
    record = TRAINING.read(layout.training_record("latent_f4"))
    TRAINING.write(layout.training_record("latent_f4"), {**record, "budget_scope": "denoiser"})
    tables = collect(Experiment.of(results))
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    assert "Training compute, every stage (first stage, latent encoding, denoiser): " in text
    assert "latent_f4 83 s, 425 GFLOPs" in text
    assert "The first stage of latent_f4 is treated as amortised (budget_scope: denoiser)" in text


def test_a_latent_kid_overlapping_its_reconstructions_is_called_bounded_by_the_autoencoder(results):
    """The bound is the KID of reconstructions of an independent set, scored like samples; each run
    is set beside it by interval (runs' KIDs: 0.06, 0.045, 0.044, each +- 0.003)."""
    path = Layout(results["results_dir"]).reconstruction_metrics("latent_f4")
    RECONSTRUCTION.write(path, {**RECONSTRUCTION.read(path), "rkid": 0.045, "rkid_ci_low": 0.04, "rkid_ci_high": 0.05})
    tables = collect(Experiment.of(results))
    assert (tables.runs[tables.runs.model == "latent_f4"].reconstruction_rkid == 0.045).all()
    assert tables.runs[tables.runs.model == "pixel"].reconstruction_rkid.isna().all()
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    assert "ddim, 5 steps, KID 0.06 [0.057, 0.063] (above it: the first stage is not what limits this run)" in text
    assert "ddim, 20 steps, KID 0.044 [0.041, 0.047] (its interval overlaps the bound's: as far as these data " in text
    RECONSTRUCTION.write(path, {**RECONSTRUCTION.read(path), "rkid": 0.2, "rkid_ci_low": 0.1, "rkid_ci_high": 0.3})
    tables = collect(Experiment.of(results))
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    assert "(below it, which samples decoded by the same autoencoder are not expected to reach)" in text
    assert "the autoencoder bounds it" not in text


def test_the_verdict_from_features_with_a_known_truth(results, tmp_path):
    """compare_runs on Gaussian features, through the tables into the summary: two models drawn
    from one distribution cannot be told apart; a model far from the data loses, and is named.
    Images that were NaN in either run are left out of both, keeping the pairing by seed."""
    from diffbench.stages.compare import compare_runs

    rng = np.random.default_rng(0)
    layout = Layout(results["results_dir"])
    write_npz(tmp_path / "reference.npz", features=rng.normal(size=(300, 16)).astype(np.float32))

    def sample_set(name, shift, finite=None):
        finite = np.ones(150, bool) if finite is None else finite
        features = (rng.normal(size=(150, 16)) + shift)[finite].astype(np.float32)
        write_npz(tmp_path / f"{name}.npz", features=features, finite=finite, nonfinite_excluded=int((~finite).sum()))
        return tmp_path / f"{name}.npz"

    one_nan = np.ones(150, bool)
    one_nan[7] = False
    cases = {
        5: (sample_set("a5", 0.0, one_nan), sample_set("b5", 0.0)),
        10: (sample_set("a10", 0.0), sample_set("b10", 1.0)),
    }
    cases[20] = (sample_set("a20", 1.0), sample_set("b20", 0.0))
    for steps, (a, b) in cases.items():
        record = compare_runs(
            features_a=a,
            features_b=b,
            reference_features=tmp_path / "reference.npz",
            run_a=Experiment.of(results).run_key("latent_f4", "ddim", steps),
            run_b=Experiment.of(results).run_key("pixel", "ddim", steps),
            evaluation={**results["evaluation"], "interval_groups": 10},
            out_record=layout.comparison("latent_f4", "pixel", "ddim", steps),
        )
        assert record["n_generated"] == (149 if steps == 5 else 150)
    tables = collect(Experiment.of(results))
    assert tables.comparisons.set_index("steps").better.fillna("none").to_dict() == {
        5: "none",
        10: "latent_f4",
        20: "pixel",
    }
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    assert re.search(r"latent_f4 vs pixel \(ddim, 5 steps\): KID \S+ vs \S+, difference \S+ \[-\S+, \S+\] "
                     r"\(95% interval, p = \S+\); FID \S+ vs \S+, difference \S+ \[\S+, \S+\]: "
                     r"the data cannot tell which is better\.", text)  # fmt: skip
    assert re.search(r"\(ddim, 10 steps\): KID \S+ vs \S+, difference -\S+ \[-\S+, -\S+\] \(95% interval, "
                     r"p = \S+\); FID [^:]+: latent_f4 is better\.", text)  # fmt: skip
    assert "(ddim, 20 steps)" in text and "pixel is better" in text
    assert "latent better in 1, pixel better in 1, and the data cannot tell in 1" in text
    # The report's table leads with the verdict; an undecided pair reads "cannot tell", not a blank.
    build_report(config=results, workflow_dir=tmp_path, published=[])
    html = Path(ReportPaths.of(Experiment.of(results)).html).read_text(encoding="utf-8")
    table = html[html.index('id="comparisons-table"') :].split("</table>")[0]
    headers = re.findall(r"<th>(\w+)</th>", table)
    assert headers[:7] == ["model_a", "model_b", "sampler", "steps", "better", "statistic", "difference"]
    assert table.count("<td>cannot tell</td>") == 1 and table.count("<td>latent_f4</td>") == 3 + 1  # model_a, 1 win


def test_replicates_of_one_model_against_one_pretrained_model_pool_over_its_seeds(tmp_path):
    """A latent model over two training seeds against one pretrained pixel checkpoint: each replicate
    is paired with the checkpoint's one sample set, and the verdict pools them over seeds and image
    groups, saying whose seeds and what every replicate shares."""
    config = fixture_config(tmp_path, seeds=[1, 2], pretrained_pixel="google/ddpm-cifar10-32", seeded=("latent_f4",))
    assert list(config["models"]) == ["pixel", "latent_f4_seed1", "latent_f4_seed2"]
    write_results(config)
    tables = collect(Experiment.of(config))
    assert tables.missing == [] and len(tables.comparisons) == 6 and set(tables.comparisons.model_b) == {"pixel"}
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    # the replicates' FIDs are 44 and 46 at 10 steps (KID 0.044, 0.046) against pixel's 50
    assert (
        "latent_f4 vs pixel (ddim, 10 steps): over 2 training seeds of latent_f4 against pixel's one model: mean KID "
        "0.045 vs 0.05, mean difference -0.005 [" in text
    )
    assert "it holds the training seeds' noise and that of the reference images and pixel's sample set" in text


def test_training_seed_replicates_are_aggregated_and_the_verdict_uses_their_spread(tmp_path):
    """Two seeds per model: the tables hold mean and spread across seeds, and the verdict's interval
    is over seeds and image groups together (not one seed's paired interval, nor the seeds' spread alone)."""
    config = fixture_config(tmp_path, seeds=[1, 2])
    assert list(config["models"]) == ["pixel_seed1", "pixel_seed2", "latent_f4_seed1", "latent_f4_seed2"]
    write_results(config)
    tables = collect(Experiment.of(config))
    assert tables.missing == [] and len(tables.comparisons) == 6  # same-seed pairs only: 2 seeds x 3 steps
    replicates = tables.replicates.set_index(["replicate_of", "steps"])
    assert replicates.loc[("pixel", 10), "seeds"] == 2 and replicates.loc[("pixel", 10), "fid_mean"] == 50.0
    assert replicates.loc[("pixel", 10), "fid_sd"] == pytest.approx(np.sqrt(2))  # FIDs 49 and 51
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    # Both seeds' differences are -0.005 at 10 steps: no spread across seeds, but each seed's image
    # groups still move it (+-0.003 at t_2), and the shared sets do not average out over seeds.
    assert (
        "latent_f4 vs pixel (ddim, 10 steps): over 2 training seeds: mean KID 0.045 vs 0.05, mean difference "
        "-0.005 [-0.008, -0.002] (95% interval over seeds and image groups: it holds the training seeds' noise and "
        "that of the reference images and sampling seeds every replicate shares); FID 45 vs 50: latent_f4 is better."
        in text
    )
    assert "at most 5% (across training seeds where models have replicates)" in text
    assert "latent_f4 vs pixel, UNEQUAL total training compute" in text  # averaged over the replicates
    replicates_csv = ReportPaths.of(Experiment.of(config)).replicates_csv
    build_report(config=config, workflow_dir=tmp_path, published=[])
    assert pd.read_csv(replicates_csv).seeds.tolist() == [2] * 6


def test_a_feature_file_without_the_seed_mask_is_named(results, tmp_path):
    """Feature files of an older diffbench lack the per-seed mask that pairs images by seed."""
    from diffbench.errors import ResultError
    from diffbench.stages.compare import compare_runs

    features = np.random.default_rng(0).normal(size=(30, 4)).astype(np.float32)
    write_npz(tmp_path / "old.npz", features=features)
    write_npz(tmp_path / "new.npz", features=features, finite=np.ones(30, bool))
    with pytest.raises(ResultError, match=r"old\.npz has no per-seed 'finite' mask .* rerun the sample_features rule"):
        compare_runs(
            features_a=tmp_path / "new.npz",
            features_b=tmp_path / "old.npz",
            reference_features=tmp_path / "new.npz",
            run_a=Experiment.of(results).run_key("latent_f4", "ddim", 5),
            run_b=Experiment.of(results).run_key("pixel", "ddim", 5),
            evaluation=results["evaluation"],
            out_record=tmp_path / "c.json",
        )
    assert not (tmp_path / "c.json").exists()


def test_samplers_that_treat_x0_differently_are_flagged(results):
    """Pixel samplers clip x0 at +-1 and the latent model's leave it free: the summary says so, as
    for any other difference in footing, and the runs table says what each run did."""
    layout = Layout(results["results_dir"])
    for steps in results["sampling"]["steps"]:
        sampling = SAMPLING.read(layout.sampling_record("latent_f4", "ddim", steps))
        SAMPLING.write(layout.sampling_record("latent_f4", "ddim", steps),
                       {**sampling, "x0_treatment": {"kind": "none", "limit": None}})  # fmt: skip
    tables = collect(Experiment.of(results))
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    assert (
        "Not on equal footing: the models differ in what the samplers do to the predicted x0 (runs table: "
        "x0_handling) (pixel: clipped to its data's range; latent_f4: none)" in text
    )
    assert "Equal footing" not in text
    assert set(tables.runs[tables.runs.model == "latent_f4"].x0_handling) == {"none"}


def test_the_family_claim_is_holm_corrected_or_comes_from_the_declared_primary(results):
    """Three comparisons whose intervals all exclude 0 on their own (p = 0.0012, 0.047, 0.046): Holm
    keeps only the first (0.046 > 0.05 / 2), so the family claim rests on that one. With a primary
    comparison declared, the claim is that comparison's alone and the others are secondary."""
    write_comparison(results, 5, -20.0, half_width=3.0)
    write_comparison(results, 10, -3.0, half_width=2.9)
    write_comparison(results, 20, 2.5, half_width=2.4)
    tables = collect(Experiment.of(results))
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons))
    assert "latent better in 1, pixel better in 0, and the data cannot tell in 2." in text
    assert "Where the data decide, latent diffusion wins." in text
    assert "(3 of the intervals below exclude 0 on their own, at 95% each; 1 remain after the correction.)" in text
    primary = Comparison("latent_f4", "pixel", "ddim", 20)
    text = " ".join(summary(tables.runs, tables.models, tables.comparisons, primary))
    assert "Verdict, from the primary comparison declared in the config (report.primary), decided by KID" in text
    assert "latent_f4 vs pixel (ddim, 20 steps), KID difference 0.0025 [0.0001, 0.0049] (95% interval): pixel" in text
    assert "In this comparison, pixel-space diffusion wins." in text
    assert "The other 2 comparisons below are secondary" in text and "Holm" not in text


def curve_rows(model: str, family: str, kids, compute, wobble) -> list[dict]:
    """A model's rows of report/curves.csv: milestones, then the final model (the last point)."""
    rows = []
    for k, (kid, gflops) in enumerate(zip(kids, compute, strict=True)):
        final = k == len(kids) - 1
        rows.append({
            "dataset": "shapes", "model": model, "family": family, "replicate_of": model, "sampler": "ddim",
            "steps": 10, "point": "final" if final else "milestone", "milestone": float("nan") if final else gflops,
            "milestone_unit": "GFLOPs", "total_train_gflops": gflops, "total_train_s": gflops / 100,
            "n_generated": 64, "kid": kid, "kid_jackknife_replicates": [kid + w for w in wobble],
        })  # fmt: skip
    return rows


def along_training(rows: list[dict], target: float | None = None) -> list[str]:
    from diffbench.report.training_compute import answers, curve_findings, curve_pairs

    return curve_findings(answers(curve_pairs(pd.DataFrame(rows), [("latent", "pixel")]), 0.95, target), 0.95)


def test_the_answer_along_training_names_the_savings_factor_or_says_the_data_cannot_tell():
    compute = [1000.0, 2000.0, 4000.0, 8000.0]
    pixel_kids = [0.4, 0.3, 0.2, 0.1]  # linear in log compute: read exactly between milestones
    wobble = [0.001, -0.001, 0.0005, -0.0005]
    pixel = curve_rows("pixel", "pixel", pixel_kids, compute, wobble)
    # the latent model at C is the pixel model at 4C: it reaches pixel's final KID at 2000 GFLOPs
    cheaper = curve_rows("latent", "latent", [0.2, 0.1, 0.0, -0.1], compute, [-w for w in wobble])
    [line] = along_training(pixel + cheaper)
    assert line.startswith("Along training (ddim, 10 steps; KID at each milestone against total training GFLOPs")
    assert "latent reaches pixel's final KID (0.1) with 4x [" in line and "less total training compute" in line
    assert "latent is better than pixel at every compute of the common range 1,000-8,000 GFLOPs" in line

    same = curve_rows("latent", "latent", pixel_kids, compute, [-w for w in wobble])
    [line] = along_training(pixel + same)
    assert "Whether their curves cross within 1,000-8,000 GFLOPs the data cannot tell." in line
    assert "the data cannot tell" in line.split("Whether")[0]  # no savings claimed for an identical model
    [line] = along_training(pixel + same, target=0.25)  # a KID both reach within their range
    assert "latent reaches the KID of report.savings_target (0.25) with a savings factor of 1x [" in line
    assert "(pixel's total training compute over latent's at that KID; below 1, latent needs more): the data" in line

    # ends a hair above pixel's final KID, within the noise: no bound is claimed
    level = curve_rows("latent", "latent", [0.4, 0.3, 0.2, 0.1001], compute, [-w for w in wobble])
    [line] = along_training(pixel + level)
    assert "latent's KID at the end of its training is 0.1, 0.0001 [" in line
    assert "whether latent saves compute the data cannot tell." in line
    worse = curve_rows("latent", "latent", [0.5, 0.4, 0.3, 0.2], compute, [-w for w in wobble])
    [line] = along_training(pixel + worse)
    assert "it needs more than 1x pixel's total training compute to reach it." in line
    assert "pixel is better than" not in line and "latent is worse than pixel at every compute" in line
    # at a target both reach, the latent model needs twice the compute: said as a multiple of pixel's
    [line] = along_training(pixel + worse, target=0.3)
    assert "latent needs 2x [" in line and "] (95% interval) pixel's total training compute to reach the KID" in line

    missing = pd.DataFrame(pixel + cheaper)
    missing.loc[len(pixel), "kid"] = float("nan")
    [line] = along_training(missing.to_dict("records"))
    assert line.endswith("latent vs pixel not yet, a milestone's evaluation is missing.")


def test_the_curves_are_drawn_against_gflops_and_seconds():
    from diffbench.report.figures import TRAINING_COMPUTE_AXES, quality_along_training

    compute = [1000.0, 2000.0, 4000.0, 8000.0]
    rows = pd.DataFrame(curve_rows("pixel", "pixel", [0.4, 0.3, 0.2, 0.1], compute, [0.001, -0.001, 0.0005, -0.0005]))
    by_gflops, by_seconds = (
        quality_along_training(rows, {"pixel": "#000"}, *TRAINING_COMPUTE_AXES[name])
        for name in ("quality_along_training", "quality_along_training_s")
    )
    assert list(by_gflops.data[0].x) == compute and list(by_seconds.data[0].x) == [c / 100 for c in compute]
    assert by_gflops.layout.xaxis.type == "log" and "seconds" in by_seconds.layout.title.text


def test_a_savings_target_and_training_seeds_give_their_own_factor():
    """report.savings_target: the factor where both curves reach that KID (pixel 5,657, latent 1,414
    GFLOPs); outside pixel's range, no factor. Two training seeds: one pooled factor."""
    compute = [1000.0, 2000.0, 4000.0, 8000.0]
    wobble = [0.001, -0.001, 0.0005, -0.0005]
    pixel = curve_rows("pixel", "pixel", [0.4, 0.3, 0.2, 0.1], compute, wobble)
    cheaper = curve_rows("latent", "latent", [0.2, 0.1, 0.0, -0.1], compute, [-w for w in wobble])
    [line] = along_training(pixel + cheaper, target=0.15)
    assert "latent reaches the KID of report.savings_target (0.15) with 4x [" in line
    [line] = along_training(pixel + cheaper, target=0.05)
    assert "At the KID of report.savings_target (0.05): no factor, pixel's curve does not span it." in line

    from diffbench.report.training_compute import answers, curve_findings, curve_pairs, savings_table

    second = [
        {**row, "model": f"{row['model']}_s1", "kid": row["kid"] + 0.002}
        for row in curve_rows("pixel", "pixel", [0.4, 0.3, 0.2, 0.1], compute, wobble)
        + curve_rows("latent", "latent", [0.2, 0.1, 0.0, -0.1], compute, [-w for w in wobble])
    ]
    rows = pd.DataFrame(pixel + cheaper + second)
    found = answers(curve_pairs(rows, [("latent", "pixel"), ("latent_s1", "pixel_s1")]), 0.95)
    [line] = curve_findings(found, 0.95)
    assert "over 2 training seeds" in line and "latent reaches pixel's final KID (0.101) with geometric mean" in line
    assert "In every seed, latent is better than pixel at every compute both were measured at." in line
    [row] = savings_table(found, 0.95).to_dict("records")
    assert row["seeds"] == 2 and row["factor"] == pytest.approx(4.0, rel=1e-6) and row["factor_ci_low"] > 1


def test_the_headline_answers_per_dataset_or_says_what_would_decide(results):
    """Along training: the factor and the crossing, or for identical curves that no sample size
    decides; without milestones: the end-of-training verdict under Holm, or how many more samples
    the clearest comparison would need (half-width 3 around -1: (3 / 1)^2 = 9x)."""
    from diffbench.report.headline import headlines
    from diffbench.report.training_compute import answers, curve_pairs

    compute = [1000.0, 2000.0, 4000.0, 8000.0]
    wobble = [0.001, -0.001, 0.0005, -0.0005]
    pixel = curve_rows("pixel", "pixel", [0.4, 0.3, 0.2, 0.1], compute, wobble)
    models = pd.DataFrame({"model": ["pixel", "latent"], "dataset": "shapes", "family": ["pixel", "latent"],
                           "replicate_of": ["pixel", "latent"], "total_train_gflops": 8000.0})  # fmt: skip

    def head(latent_kids, sign=-1):
        rows = pixel + curve_rows("latent", "latent", latent_kids, compute, [sign * w for w in wobble])
        found = answers(curve_pairs(pd.DataFrame(rows), [("latent", "pixel")]), 0.95)
        [line] = headlines(models, pd.DataFrame(), found, 0.95)
        return line

    cheaper = head([0.2, 0.1, 0.0, -0.1])
    assert cheaper.dataset == "shapes" and cheaper.figure == "answer_shapes"
    assert cheaper.sentence.startswith("shapes: latent reaches pixel's final KID (0.1) with 4x [")
    assert "latent is better than pixel at every compute of the common range 1,000-8,000 GFLOPs" in cheaper.sentence
    assert "would decide" not in cheaper.sentence
    same = head([0.4, 0.3, 0.2, 0.1]).sentence
    assert "but the data cannot tell the factor" in same and "(report.savings_target) would give it an interval" in same

    write_comparison(results, 5, -20.0, half_width=3.0)
    tables = collect(Experiment.of(results))
    [decided] = headlines(tables.models, tables.comparisons, [], 0.95)
    assert "at the end of training (total training GFLOPs: " in decided.sentence
    assert "latent_f4 is better than pixel (ddim, 5 steps: KID difference -0.02 [-0.023, -0.017])" in decided.sentence
    assert "decided by KID with Holm's correction over 3 comparisons." in decided.sentence
    for steps in (5, 10, 20):
        write_comparison(results, steps, -1.0, half_width=3.0)
    tables = collect(Experiment.of(results))
    [undecided] = headlines(tables.models, tables.comparisons, [], 0.95)
    assert "the data cannot tell the latent and pixel models apart" in undecided.sentence
    assert "would need about 9x as many samples and reference images if it held." in undecided.sentence


def test_with_several_milestone_settings_the_headline_reads_the_primary_or_the_first_and_says_so():
    from diffbench.report.headline import headlines
    from diffbench.report.training_compute import answers, curve_pairs

    compute = [1000.0, 2000.0, 4000.0, 8000.0]
    wobble = [0.001, -0.001, 0.0005, -0.0005]
    models = pd.DataFrame({"model": ["pixel", "latent"], "dataset": "shapes", "family": ["pixel", "latent"],
                           "replicate_of": ["pixel", "latent"], "total_train_gflops": 8000.0})  # fmt: skip
    at_10 = curve_rows("pixel", "pixel", [0.4, 0.3, 0.2, 0.1], compute, wobble) + curve_rows(
        "latent", "latent", [0.2, 0.1, 0.0, -0.1], compute, [-w for w in wobble]
    )  # latent 4x cheaper at 10 steps; identical curves at 25 steps
    at_25 = [{**row, "steps": 25, "kid": row["kid"] if row["family"] == "pixel" else row["kid"] + 0.2} for row in at_10]
    found = answers(curve_pairs(pd.DataFrame(at_10 + at_25), [("latent", "pixel")]), 0.95)

    [first] = headlines(models, pd.DataFrame(), found, 0.95)
    assert "latent reaches pixel's final KID (0.1) with 4x [" in first.sentence
    assert "ddim, 10 steps (the first of 2 sampling.milestone_settings; the others are below)" in first.sentence
    [primary] = headlines(models, pd.DataFrame(), found, 0.95, Comparison("latent", "pixel", "ddim", 25))
    assert "latent reaches pixel's final KID (0.1) with a savings factor of 1x [" in primary.sentence
    assert "ddim, 25 steps (report.primary's setting of 2)" in primary.sentence
    [single] = headlines(
        models, pd.DataFrame(), answers(curve_pairs(pd.DataFrame(at_10), [("latent", "pixel")]), 0.95), 0.95
    )
    assert "ddim, 10 steps;" in single.sentence


def test_the_curves_show_seeds_as_a_band_the_frontier_and_fid_one_click_away():
    from diffbench.report.figures import TRAINING_COMPUTE_AXES, along_training_toggle

    compute = [1000.0, 2000.0, 4000.0, 8000.0]
    wobble = [0.001, -0.001, 0.0005, -0.0005]
    first = curve_rows("pixel", "pixel", [0.4, 0.3, 0.2, 0.1], compute, wobble)
    second = [{**r, "model": "pixel_s1", "kid": r["kid"] + 0.02} for r in first]
    rows = pd.DataFrame(first + second).assign(fid=lambda f: f.kid * 1000)
    fig = along_training_toggle(rows, {"pixel": "#000"}, *TRAINING_COMPUTE_AXES["quality_along_training"])
    band, mean, frontier, *fid = fig.data
    assert band.fill == "toself" and list(band.y) == pytest.approx([0.42, 0.32, 0.22, 0.12, 0.1, 0.2, 0.3, 0.4])
    assert mean.name == "pixel · ddim 10 (mean of 2 seeds)" and list(mean.y) == pytest.approx([0.41, 0.31, 0.21, 0.11])
    assert frontier.name == "Pareto frontier" and list(frontier.y) == pytest.approx([0.4, 0.3, 0.2, 0.1])
    assert [t.visible for t in fig.data] == [True] * 3 + [False] * 3 and len(fid) == 3
    kid_button, fid_button = fig.layout.updatemenus[0].buttons
    assert (kid_button.label, fid_button.label) == ("KID", "FID")
    assert fid_button.args[0]["visible"] == [False] * 3 + [True] * 3
    assert fid_button.args[1] == {"yaxis.title.text": "FID (lower is better)", "yaxis.type": "log"}

    from diffbench.report.figures import static_views

    views = static_views({"curves": fig})
    assert list(views) == ["curves", "curves_fid"] and not views["curves_fid"].layout.updatemenus
    assert [t.visible for t in views["curves_fid"].data] == [False] * 3 + [True] * 3
    assert views["curves_fid"].layout.yaxis.type == "log" and views["curves"].layout.yaxis.type == "linear"


def test_the_summary_says_why_fid_at_infinity_is_missing():
    """Runs whose sets are below fid_infinity_min_size get one sentence with the size they needed."""
    done = pd.DataFrame({
        "model": ["a", "b"], "fid_infinity": [math.nan, math.nan], "n_samples": [10000, 128],
        "n_reference": [50000, 128], "fid_infinity_min_size": [40960, 40960],
    })  # fmt: skip
    (line,) = infinity_line(done)
    assert line.startswith("FID at infinity is not computed for 2 of 2 runs")
    assert "at least 40960 images" in line and "smallest subset" in line and "these hold 128." in line


def test_the_summary_names_how_the_feature_network_ran():
    """Folded batch norms and channels-last kernels move features by rounding; the sentence on the
    features says which runs had them, and results from before a form existed stay silent on it."""
    both = pd.DataFrame({"feature_channels_last": [True, True], "feature_fold_batch_norm": [True, True]})
    assert network_form_words(both) == ", " + ", ".join(NETWORK_FORMS.values())
    mixed = both.assign(feature_fold_batch_norm=[True, False])
    layout, folded = NETWORK_FORMS["feature_channels_last"], NETWORK_FORMS["feature_fold_batch_norm"]
    assert network_form_words(mixed) == f", {layout}, some runs' features with {folded}"
    assert network_form_words(pd.DataFrame({"feature_channels_last": [False]})) == ""
