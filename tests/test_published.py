"""Published numbers (config/published/) and the report's published-vs-ours table."""

from __future__ import annotations

import dataclasses

import pandas as pd
import pytest
import yaml

from diffbench.errors import ConfigError
from diffbench.experiment import Experiment
from diffbench.published import closest, differences, load_published, published_files
from diffbench.report.findings import published_findings
from diffbench.report.outputs import ReportPaths
from diffbench.report.published import published_table
from diffbench.report.tables import collect
from diffbench.stages.report import report as build_report
from helpers import REPO
from report_fixture import fixture_config, write_results

# The protocol of the DDIM paper's 10-step CIFAR-10 number, in run_protocol's terms.
DDIM_10 = {
    "model_id": "google/ddpm-cifar10-32",
    "num_samples": 50_000,
    "reference": "full",
    "reference_images": 50_000,
    "sampler_type": "ddim",
    "steps": 10,
    "timestep_spacing": "quadratic",
    "steps_offset": 0,
    "eta": 0.0,
    "clip_sample": False,
    "variance_type": "fixed_large",
    "precision": "fp32",
    "resize": "tf-bilinear",
    "feature_extractor": "inception-v3-compat",
}


@pytest.fixture(scope="module")
def shipped():
    return load_published(published_files(None, REPO))


def test_the_shipped_files_hold_the_papers_numbers(shipped):
    values = {(e.entry["model_id"], e.entry["sampler"]["type"], e.entry["steps"]): e.entry["value"] for e in shipped}
    assert values[("google/ddpm-cifar10-32", "ddpm", 1000)] == 3.17
    ddim = {steps: values[("google/ddpm-cifar10-32", "ddim", steps)] for steps in (10, 20, 50, 100)}
    assert ddim == {10: 13.36, 20: 6.84, 50: 4.67, 100: 4.16}
    assert values[("CompVis/ldm-celebahq-256", "ddim", 500)] == 5.11
    assert all(e.link.startswith("https://arxiv.org/abs/") for e in shipped)


def test_a_run_with_the_papers_protocol_has_no_difference(shipped):
    entry, found = closest(shipped, DDIM_10)
    assert entry.entry["value"] == 13.36 and found == []


def test_every_protocol_difference_is_listed(shipped):
    """A typical quick run of the same checkpoint: 5,000 samples against 5,000 held-out images,
    leading spacing, fp16. Its closest entry is still DDIM at 10 steps, with each difference named."""
    run = {**DDIM_10, "num_samples": 5000, "reference": "heldout", "reference_images": 5000,
           "timestep_spacing": "leading", "precision": "fp16", "clip_sample": True}  # fmt: skip
    entry, found = closest(shipped, run)
    assert entry.entry["value"] == 13.36
    assert found == [
        "N: ours 5,000 vs paper 50,000",
        "reference: ours heldout vs paper full",
        "reference images: ours 5,000 vs paper 50,000",
        "spacing: ours leading vs paper quadratic",
        "x0 clipping: ours on vs paper off",
        "precision: ours fp16 vs paper fp32",
    ]
    ancestral = {**DDIM_10, "sampler_type": "ddpm", "steps": 100, "eta": None, "clip_sample": True}
    entry, found = closest(shipped, ancestral)
    assert entry.entry["value"] == 3.17 and found == ["steps: ours 100 vs paper 1,000"]


def test_a_drawn_reference_is_never_the_papers_images(shipped):
    """Equal names and counts do not make the same images: a seeded train or heldout split is ours
    alone, and our interval lacks the noise of the paper's own draw, so such an entry gets no verdict."""
    entry = next(e for e in shipped if e.entry["value"] == 13.36)
    drawn = dataclasses.replace(entry, entry={**entry.entry, "reference": "train"})
    assert differences(drawn, {**DDIM_10, "reference": "train"}) == [
        "reference images: ours a seeded train split of the source, the paper's its own"
    ]
    assert differences(drawn, DDIM_10) == ["reference: ours full vs paper train"]  # named once, as itself
    assert differences(entry, DDIM_10) == []  # every image of the same source: the same images


def test_what_the_paper_does_not_state_is_not_compared(shipped):
    """LDM's Table 1 states no eta or spacing: a DDIM run of its checkpoint differs only in N here."""
    ldm = next(e for e in shipped if e.entry["model_id"] == "CompVis/ldm-celebahq-256")
    run = {**DDIM_10, "model_id": "CompVis/ldm-celebahq-256", "steps": 500, "reference_images": 30_000,
           "eta": 1.0, "timestep_spacing": "leading", "num_samples": 10_000}  # fmt: skip
    assert differences(ldm, run) == ["N: ours 10,000 vs paper 50,000"]
    assert closest(shipped, {**run, "model_id": None}) is None  # a model trained here matches nothing


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda d: d["entries"][0].pop("value"), r"key 'entries.0': 'value' is a required property"),
        (lambda d: d["entries"][0].update(reference="test"), r"key 'entries.0.reference': 'test' is not one of"),
        (lambda d: d["entries"][0]["sampler"].update(order=2), r"key 'entries.0.sampler': Additional properties"),
        (lambda d: d.pop("link"), r"key '<top level>': 'link' is a required property"),
    ],
)
def test_a_bad_published_file_is_an_error_naming_file_and_key(tmp_path, mutate, message):
    data = yaml.safe_load((REPO / "config" / "published" / "ddpm_ho2020.yaml").read_text())
    mutate(data)
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=rf"published numbers file {path}, {message}"):
        load_published([path])
    with pytest.raises(ConfigError, match="does not exist"):
        load_published([tmp_path / "nothing.yaml"])


def published_fixture(tmp_path, value: float, **protocol) -> str:
    """A published file for the fixture's pretrained model, its protocol that of the fixture's runs."""
    entry = {
        "table": "Table 9",
        "dataset": "shapes",
        "model_id": "google/ddpm-cifar10-32",
        "sampler": {"type": "ddim", "timestep_spacing": "trailing"},
        "steps": 20,
        "num_samples": 6,
        "reference": "full",
        "reference_images": 8,
        "resize": "tf-bilinear",
        "feature_extractor": "inception-v3-compat",
        "precision": "fp32",
        "metric": "fid",
        "value": value,
        **protocol,
    }
    path = tmp_path / "paper.yaml"
    path.write_text(yaml.safe_dump({"paper": "Doe 2030, Pixels", "link": "https://arxiv.org/abs/0000.00000",
                                    "entries": [entry]}))  # fmt: skip
    return str(path)


@pytest.fixture
def pretrained_results(tmp_path):
    """The report fixture with its pixel model a public checkpoint (FIDs 80, 50, 40 [38, 42]), scored
    against every image of its source, as the paper of `published_fixture` is."""
    config = fixture_config(tmp_path, pretrained_pixel="google/ddpm-cifar10-32", reference="full")
    write_results(config)
    return config


def test_the_report_puts_runs_beside_published_numbers(pretrained_results, tmp_path):
    config = pretrained_results
    inside = published_fixture(tmp_path, 41.0)
    build_report(config=config, workflow_dir=tmp_path, published=[inside])
    table = pd.read_csv(ReportPaths.of(Experiment.of(config)).published_csv)
    # Every run of the checkpoint gets its closest entry: 20 steps matches, 5 and 10 differ in steps.
    assert table.model.tolist() == ["pixel"] * 3 and table.steps.tolist() == [5, 10, 20]
    row = table.set_index("steps").loc[20]
    assert (row.published, row.ours, row.ours_ci_low, row.ours_ci_high) == (41.0, 40.0, 38.0, 42.0)
    assert row.difference == pytest.approx(-1.0) and row.protocol_differences == "none"
    # ours - published: -1 +- sqrt(2) x 2 = [-3.83, 1.83], within +-4.1
    assert (row.equivalence_margin, row.reproduction) == (0.1, "reproduced")
    assert (row.difference_ci_low, row.difference_ci_high) == pytest.approx((-1 - 2 * 2**0.5, -1 + 2 * 2**0.5))
    assert table.set_index("steps").loc[5].protocol_differences == "steps: ours 5 vs paper 20"
    html = open(ReportPaths.of(Experiment.of(config)).html, encoding="utf-8").read()
    assert 'id="published"' in html and "Doe 2030, Pixels" in html
    assert (
        "Published vs ours, pixel (ddim, 20 steps) against Doe 2030, Pixels, Table 9: FID 40 [38, 42] vs 41 "
        "(ours − published = -1); same protocol, and ours − published [-3.83, 1.83] (√2 × our interval, taking the "
        "paper&#39;s value as one draw with our sampling noise) lies within ±10% of the published value (4.1): "
        "reproduced." in html
    )
    assert "not a test of the paper&#39;s number, the protocols differ in steps: ours 5 vs paper 20." in html


def test_a_published_value_outside_our_interval_is_not_reproduced(pretrained_results, tmp_path):
    tables = collect(Experiment.of(pretrained_results))
    table = published_table(
        Experiment.of(pretrained_results), tables.runs, load_published([published_fixture(tmp_path, 30.0)])
    )
    lines = published_findings(table[table.steps == 20])
    assert lines == [
        "Published vs ours, pixel (ddim, 20 steps) against Doe 2030, Pixels, Table 9: FID 40 [38, 42] vs 30 "
        "(ours − published = +10); same protocol, and ours − published [7.17, 12.8] (√2 × our interval, taking the "
        "paper's value as one draw with our sampling noise) lies wholly outside ±10% of the published value (3): "
        "not reproduced."
    ]
    other = published_table(
        Experiment.of(pretrained_results),
        tables.runs,
        load_published([published_fixture(tmp_path, 30.0, precision="fp16", num_samples=50)]),
    )
    assert other.protocol_differences.iloc[-1] == "N: ours 6 vs paper 50; precision: ours fp32 vs paper fp16"
    assert "not a test of the paper's number" in published_findings(other)[-1]


def test_reproduction_is_an_equivalence_test_against_the_declared_margin(pretrained_results, tmp_path):
    """Ours 40 [38, 42]: published 43 lies outside our interval, which a one-sample test called "not
    reproduced"; but ours - published, -3 +- 2.83, reaches past -4.3, so equivalence can be neither
    shown nor excluded: inconclusive. The words follow the interval and the margin only."""
    from diffbench.published import reproduction

    tables = collect(Experiment.of(pretrained_results))
    table = published_table(
        Experiment.of(pretrained_results), tables.runs, load_published([published_fixture(tmp_path, 43.0)])
    )
    row = table[table.steps == 20].iloc[0]
    assert row.reproduction == "inconclusive"
    assert (
        "reaches across the edge of ±10% of the published value (4.3): inconclusive"
        in (published_findings(table[table.steps == 20])[0])
    )
    # ours - published is sqrt(2) x 2 = 2.83 either side of 40 - published
    assert reproduction(40.0, 38.0, 42.0, 40.0, 0.06) == "inconclusive"  # +-2.4: narrower than +-2.83
    assert reproduction(40.0, 38.0, 42.0, 40.0, 0.08) == "reproduced"  # +-3.2
    assert reproduction(40.0, 38.0, 42.0, 50.0, 0.1) == "not reproduced"  # [-12.83, -7.17] vs +-5
    assert reproduction(40.0, float("nan"), float("nan"), 40.0, 0.1) is None
    path = tmp_path / "strict.yaml"
    data = yaml.safe_load(open(published_fixture(tmp_path, 41.0)).read())
    path.write_text(yaml.safe_dump({**data, "equivalence_margin": 0.02}))
    strict = published_table(Experiment.of(pretrained_results), tables.runs, load_published([str(path)]))
    assert strict[strict.steps == 20].reproduction.iloc[0] == "inconclusive"  # [38, 42] vs 41 +- 0.82
