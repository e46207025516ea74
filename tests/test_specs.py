"""The typed specs (diffbench.specs): exactly the schema's keys, the config's dicts round-trip."""

import ast
import dataclasses
import hashlib
import json
from pathlib import Path

import pytest

from diffbench.config import load_config, schema
from diffbench.experiment import Experiment
from diffbench.report.provenance import config_hash
from diffbench.specs import (
    SCHEMA_SECTIONS,
    Comparison,
    DatasetSpec,
    EvaluationSpec,
    ModelSpec,
    Run,
    SamplerSpec,
    SpeedupsSpec,
)
from helpers import REPO

CONFIGS = [REPO / "config" / "config.yaml", *sorted((REPO / "config" / "experiments").glob("*.yaml"))]


@pytest.mark.parametrize("spec", list(SCHEMA_SECTIONS), ids=lambda c: c.__name__)
def test_a_specs_fields_are_its_schema_sections_keys(spec):
    """A key added to the schema without its field (or a field without its key) fails here."""
    section = schema()
    for part in SCHEMA_SECTIONS[spec].split("/"):
        section = section[part]
    keys = set(section["properties"])
    assert {f.name for f in dataclasses.fields(spec)} == keys


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: Path(p).name)
def test_every_preset_round_trips_through_its_specs(path):
    """as_dict gives the validated dict back, so records and checkpoint fingerprints see the same JSON."""
    config = load_config(path)
    for entry in config["models"].values():
        assert ModelSpec.of(entry).as_dict() == entry
    for entry in config["datasets"].values():
        assert DatasetSpec.of(entry).as_dict() == entry
    assert EvaluationSpec.of(config["evaluation"]).as_dict() == config["evaluation"]
    for entry in config["sampling"]["samplers"].values():
        assert SamplerSpec.of(entry).as_dict() == entry
    assert SpeedupsSpec.of(config["sampling"]["speedups"]).as_dict() == config["sampling"]["speedups"]


def test_the_experiments_fields_are_the_configs_top_level_keys():
    assert {f.name for f in dataclasses.fields(Experiment)} == set(schema()["properties"])


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: Path(p).name)
def test_every_preset_round_trips_through_the_experiment(path):
    """The report hashes `Experiment.as_dict()` into its provenance: it must be the validated config."""
    config = load_config(path)
    experiment = Experiment.of(config)
    assert experiment.as_dict() == config
    canonical = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    assert config_hash(experiment) == hashlib.sha256(canonical.encode()).hexdigest()  # as before the Experiment


def test_an_experiment_is_read_only_and_asks_its_specs():
    experiment = Experiment.of(load_config(CONFIGS[0]))
    with pytest.raises(TypeError):
        experiment.models["pixel"] = experiment.models["latent_kl_f2"]  # a read-only mapping
    assert experiment.models_where(family="latent") == ["latent_kl_f2"]
    assert experiment.runs()[0] == Run("pixel", "ddpm", 10)
    assert experiment.comparisons() == [Comparison("latent_kl_f2", "pixel", "ddpm", s) for s in (10, 25)]
    assert experiment.run_key("pixel", "ddpm", "25")["steps"] == 25  # a wildcard's string


def test_specs_are_frozen_all_the_way_down():
    model = ModelSpec.of(load_config(CONFIGS[0])["models"]["latent_kl_f2"])
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.training.max_gflops = 1.0
    assert isinstance(model.unet.channel_mult, tuple)
    hash(model)  # no list or dict inside
    assert model.latent and model.downsampling_factor == 2


def test_a_key_the_spec_does_not_know_is_named():
    entry = {**load_config(CONFIGS[0])["datasets"]["shapes"], "colour": "red"}
    with pytest.raises(TypeError, match=r"DatasetSpec: keys \['colour'\]"):
        DatasetSpec.of(entry)


# Names under which config sections travel; below the stages they must be typed specs.
SECTION_NAMES = {"spec", "model_spec", "dataset_spec", "model", "dataset", "training", "autoencoder", "unet",
                 "diffusion", "evaluation", "sampler", "entry", "speedups", "sampling", "config",
                 "settings"}  # fmt: skip
LIBRARIES = ("data", "models", "features", "metrics", "sampling", "training", "report", "humaneval")


def test_no_library_below_the_stages_takes_a_config_dict():
    """A function of the libraries the stages call takes specs, never a section of the config as a dict."""
    offenders = []
    for package in LIBRARIES:
        for path in sorted((REPO / "src" / "diffbench" / package).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                    for arg in [*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs]:
                        annotation = ast.unparse(arg.annotation) if arg.annotation else ""
                        if arg.arg in SECTION_NAMES and "dict" in annotation.lower():
                            where = f"{path.relative_to(REPO)}:{node.lineno}"
                            offenders.append(f"{where} {node.name}({arg.arg}: {annotation})")
    assert not offenders, offenders
