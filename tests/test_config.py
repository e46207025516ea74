import copy
import re

import pytest
import yaml

from diffbench.config import (
    ConfigError,
    all_seeds,
    load_config,
    schema,
    shard_ranges,
    shard_seeds,
    validate_config,
)
from diffbench.experiment import Experiment
from diffbench.precisions import PRECISIONS
from diffbench.runtime import DTYPES
from diffbench.sampling.options import SAMPLER_TYPES, STEP_NOISE, STEP_OPTIONS
from diffbench.sampling.schedulers import _SCHEDULERS, SAMPLERS
from diffbench.training.noise_levels import TIMESTEP_SAMPLING
from helpers import REPO


def walk_properties(node, path=""):
    """Every (key path, schema) under `properties`, following $refs into $defs."""
    defs = schema()["$defs"]
    if "$ref" in node:
        node = {**defs[node["$ref"].split("/")[-1]], **{k: v for k, v in node.items() if k != "$ref"}}
    for name, sub in node.get("properties", {}).items():
        yield f"{path}.{name}".lstrip("."), sub, name in node.get("required", [])
        yield from walk_properties(sub, f"{path}.{name}")
    extra = node.get("additionalProperties")
    if isinstance(extra, dict):
        yield from walk_properties(extra, f"{path}.<name>")


def test_every_key_has_description_and_default():
    defs = schema()["$defs"]
    seen = 0
    for key, sub, required in walk_properties(schema()):
        resolved = {**defs[sub["$ref"].split("/")[-1]], **sub} if "$ref" in sub else sub
        assert "description" in resolved, f"{key} has no description"
        assert required or "default" in resolved, f"{key} has no default"
        seen += 1
    assert seen > 50


def test_defaults_are_filled(tiny_config):
    model = tiny_config["models"]["kl"]
    assert model["source"] == "train"
    assert model["autoencoder"]["kl_weight"] == 1e-6
    assert model["training"]["learning_rate"] == 0.0002
    assert tiny_config["sampling"]["samplers"]["heun"]["eta"] == 0.0
    assert tiny_config["precision"] == "fp32"


def test_empty_config_gets_a_runnable_default():
    config = validate_config({})
    assert config["models"]["pixel"]["dataset"] == "shapes"
    assert config["datasets"]["shapes"]["source"] == "synthetic"


def test_shipped_configs_are_valid():
    paths = [REPO / "config" / "config.yaml", *sorted((REPO / "config" / "experiments").glob("*.yaml"))]
    assert len(paths) >= 3
    for path in paths:
        load_config(path)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda c: c.update(colour="red"), "unknown key(s) ['colour']"),
        (
            lambda c: c["models"]["kl"]["autoencoder"].update(kind="kl"),
            "config key 'models.kl.autoencoder' has unknown key(s) ['kind']",
        ),
        (lambda c: c["models"]["kl"]["training"].update(max_steps="ten"), "config key 'models.kl.training.max_steps'"),
        (
            lambda c: c["sampling"]["samplers"]["ddim"].update(type="ddimm"),
            "'sampling.samplers.ddim.type': 'ddimm' is not one of",
        ),
        (lambda c: c["sampling"].update(steps=[0]), "config key 'sampling.steps.0'"),
        (
            lambda c: c["models"]["kl"]["autoencoder"].update(downsampling_factor=3),
            "'models.kl.autoencoder.downsampling_factor': 3 is not one of",
        ),
        (
            lambda c: c["models"]["kl"]["autoencoder"].update(downsampling_factor=16),
            "resolution 8 of dataset 'tiny' is not divisible by f=16",
        ),
        (
            lambda c: c["models"]["pix"]["unet"].update(channel_mult=[1, 1, 1, 1, 1]),
            "config key 'models.pix.unet.channel_mult'",
        ),
        (lambda c: c["models"]["pix"].update(dataset="nope"), "'models.pix.dataset': 'nope' is not a datasets entry"),
        (
            lambda c: c["models"]["pix"]["training"].update(max_steps=None),
            "'models.pix.training': set max_steps, max_seconds or max_gflops",
        ),
        (
            lambda c: c["sampling"]["samplers"]["heun"].update(eta=0.5),
            "'sampling.samplers.heun.eta' only applies to type: ddim",
        ),
        (lambda c: c.update(precision="fp16"), "fp16 needs device: cuda"),
        (lambda c: c.update(precision="tf32"), "tf32 needs device: cuda"),
        (
            lambda c: c["sampling"].update(speedups={"cuda_graphs": True}),
            "'sampling.speedups.cuda_graphs': CUDA graphs need device: cuda",
        ),
        (lambda c: c["models"]["pix"].update(source="pretrained"), "'models.pix.pretrained.id'"),
        (
            lambda c: c["models"]["pix"].update(autoencoder={"type": "kl"}),
            "'models.pix.autoencoder' only applies to family: latent",
        ),
        (lambda c: c["models"].update({"bad/name": c["models"]["pix"]}), "does not match"),
        (lambda c: c["models"]["pix"].pop("dataset"), "'dataset' is a required property"),
        (
            lambda c: c["evaluation"].update(feature_extractor="clip"),
            "'evaluation.feature_extractor': 'clip' is not one of",
        ),
        (lambda c: c["sampling"].update(images_per_shard=0), "config key 'sampling.images_per_shard'"),
        (lambda c: c["sampling"].update(num_samples=-1), "config key 'sampling.num_samples'"),
        (
            lambda c: c["models"]["pix"]["training"].update(checkpoint_every=0),
            "config key 'models.pix.training.checkpoint_every'",
        ),
        (lambda c: c["datasets"]["tiny"].update(resolution="big"), "config key 'datasets.tiny.resolution'"),
        (
            lambda c: c["evaluation"].update(interval_groups=4),
            "'evaluation.interval_groups': 4 jackknife groups need at least 8 images per set, but "
            "sampling.num_samples is 6",
        ),
        (lambda c: c["evaluation"].update(interval_groups=1), "config key 'evaluation.interval_groups'"),
        (
            lambda c: c["evaluation"].update(bootstrap_resamples=20),
            "config key 'evaluation': 'bootstrap_resamples' is now 'interval_groups",
        ),
        (
            lambda c: c["evaluation"].update(fid_infinity_fractions=[0.5, 0.5]),
            "'evaluation.fid_infinity_fractions': give at least 2 distinct fractions",
        ),
        (
            lambda c: c["datasets"]["tiny"].update(num_train=0),
            "'datasets.tiny.num_train': model 'pix' trains on this dataset",
        ),
        (
            lambda c: c["datasets"]["tiny"].update(num_reference=0),
            "'datasets.tiny.num_reference' is 0, but evaluation.reference: heldout compares samples with those",
        ),
        (
            lambda c: (c["datasets"]["tiny"].update(num_reference=0), c["evaluation"].update(reference="train")),
            "'datasets.tiny.num_reference' is 0, but latent model 'kl' measures its autoencoder's reconstruction",
        ),
        (
            lambda c: c["evaluation"].update(reference="train", interval_groups=9),
            "'evaluation.interval_groups': 9 jackknife groups need at least 18 images per set, but "
            "sampling.num_samples is 6",
        ),
        (lambda c: c["evaluation"].update(reference="test"), "'evaluation.reference': 'test' is not one of"),
        # budget_scope: total with a GFLOP budget: what the first stage leaves must be known before any job
        (
            lambda c: c["models"]["kl"]["training"].update(max_steps=None, max_gflops=100),
            "'models.kl.autoencoder.training': the model's budget is 100 GFLOPs over every stage "
            "('models.kl.training.max_gflops', budget_scope: total), but its first stage is limited in other units",
        ),
        (
            lambda c: (
                c["models"]["kl"]["training"].update(max_steps=None, max_seconds=60),
                c["models"]["kl"]["autoencoder"]["training"].update(max_seconds=60),
            ),
            "'models.kl.autoencoder.training.max_seconds': the first stage may spend 60 seconds, which reaches the "
            "model's total of 60 ('models.kl.training.max_seconds', budget_scope: total)",
        ),
        (
            lambda c: c["models"]["kl"]["autoencoder"]["training"].update(budget_share=0.5),
            "'models.kl.autoencoder.training.budget_share' needs a total budget to share",
        ),
        (
            lambda c: c["models"]["pix"]["training"].update(budget_share=0.5),
            "'models.pix.training.budget_share' only applies to 'models.pix.autoencoder.training'",
        ),
        (
            lambda c: c["models"]["kl"]["autoencoder"]["training"].update(budget_share=1.0),
            "config key 'models.kl.autoencoder.training.budget_share'",
        ),
        # training.milestones: increasing, below the budget, after the first stage, the model's own
        (
            lambda c: c["models"]["pix"]["training"].update(milestones=[4, 2]),
            "'models.pix.training.milestones': [4, 2] must increase",
        ),
        (
            lambda c: c["models"]["pix"]["training"].update(milestones=[1, 4]),
            "'models.pix.training.milestones': 4 is not below the budget ('models.pix.training.max_steps': 4)",
        ),
        (
            lambda c: (
                c["models"]["kl"]["training"].update(max_steps=None, max_gflops=100, milestones=[10, 50]),
                c["models"]["kl"]["autoencoder"]["training"].update(budget_share=0.2),
            ),
            "'models.kl.training.milestones': 10 lies within what the first stage may spend (20 GFLOPs of the "
            "total, budget_scope: total)",
        ),
        (
            lambda c: c["models"]["pix"]["training"].update(max_gflops=100, milestones=[10]),
            "'models.pix.training.milestones' need a budget in one unit: 'models.pix.training.max_gflops' is set, "
            "so set models.pix.training.max_steps to null.",
        ),
        (
            lambda c: c["models"]["kl"]["autoencoder"]["training"].update(milestones=[1]),
            "'models.kl.autoencoder.training.milestones': milestones are points along the model's training",
        ),
        (
            lambda c: c["datasets"]["tiny"].update(shape_radius=[0.3, 0.2]),
            "'datasets.tiny.shape_radius': the minimum 0.3 exceeds the maximum 0.2",
        ),
        (
            lambda c: c["models"]["kl"]["autoencoder"]["training"].update(kept_states=2),
            "'models.kl.autoencoder.training.kept_states': training states are kept along the model's training",
        ),
    ],
)
def test_bad_config_names_the_key(tiny_raw, mutate, message):
    config = copy.deepcopy(tiny_raw)
    mutate(config)
    with pytest.raises(ConfigError) as err:
        validate_config(config)
    assert message in str(err.value)


def test_pretrained_models_need_no_training_images_with_a_full_reference(tiny_raw):
    """A preset of pretrained pixel models, scored against every image: no split is needed."""
    config = copy.deepcopy(tiny_raw)
    config["models"] = {"ddpm": {"dataset": "tiny", "source": "pretrained", "pretrained": {"id": "google/ddpm"}}}
    config["human_eval"] = None
    config["datasets"]["tiny"].update(num_train=0, num_reference=0)
    config["evaluation"].update(reference="full")
    assert validate_config(copy.deepcopy(config))["evaluation"]["reference"] == "full"
    config["evaluation"].update(reference="train")
    with pytest.raises(ConfigError, match="'datasets.tiny.num_train' is 0, but evaluation.reference: train"):
        validate_config(config)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "nope.yaml")


def test_shards_cover_every_image_once():
    assert shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(10, None) == [(0, 10)]
    sampling = {"num_samples": 10, "images_per_shard": 4, "seed": 7}
    joined = sum((shard_seeds(sampling, k) for k in range(3)), [])
    assert joined == all_seeds(sampling) == list(range(7, 17))


def test_run_matrix(tiny_config):
    keys = {(r.model, r.sampler, r.steps) for r in Experiment.of(tiny_config).runs()}
    assert len(keys) == 3 * 2 * 1
    assert Experiment.of(tiny_config).models_where(family="latent") == ["kl", "vq"]
    # Every latent model against every pixel model, at each sampler and step count: no selection.
    pairs = {(c.model_a, c.model_b, c.sampler, c.steps) for c in Experiment.of(tiny_config).comparisons()}
    assert pairs == {(a, "pix", s, 3) for a in ("kl", "vq") for s in ("ddim", "heun")}
    no_groups = {**tiny_config, "evaluation": {**tiny_config["evaluation"], "interval_groups": 0}}
    assert Experiment.of(no_groups).comparisons() == []


def test_shipped_experiments_compare_families_on_equal_footing():
    """Every trained model of the default experiment and of each preset has the same noise schedule
    and the same UNet, so a family comparison measures the family: the LDM paper's schedule in the
    presets, the cosine one in the 16x16 default (config/config.yaml says why)."""
    paths = [REPO / "config" / "config.yaml", *sorted((REPO / "config" / "experiments").glob("*.yaml"))]
    for path in paths:
        trained = [m for m in load_config(path)["models"].values() if m["source"] == "train"]
        if len({m["family"] for m in trained}) < 2:
            continue
        assert all(m["diffusion"] == trained[0]["diffusion"] for m in trained), path.name
        assert all(m["unet"] == trained[0]["unet"] for m in trained), path.name
        if path.name == "config.yaml":
            assert trained[0]["diffusion"]["beta_schedule"] == "squaredcos_cap_v2"
            continue
        assert trained[0]["diffusion"]["beta_schedule"] == "scaled_linear", path.name
        assert (trained[0]["diffusion"]["beta_start"], trained[0]["diffusion"]["beta_end"]) == (0.0015, 0.0195)


def test_training_seeds_make_one_model_per_seed(tiny_raw):
    raw = copy.deepcopy(tiny_raw)
    raw["models"]["kl"]["training"]["seeds"] = [3, 4]
    raw["models"]["pix"]["training"]["seeds"] = [3, 4]
    # vq (no seeds) is paired with each of pix's replicates: one model against replicates is allowed
    one_sided = Experiment.of(validate_config({**copy.deepcopy(raw), "human_eval": None})).comparisons()
    assert {(c.model_a, c.model_b) for c in one_sided if c.model_a == "vq"} == {
        ("vq", "pix_seed3"),
        ("vq", "pix_seed4"),
    }
    other_seeds = {**copy.deepcopy(raw), "human_eval": None}  # replicates on both sides pair by seed
    other_seeds["models"]["vq"]["training"]["seeds"] = [3, 5]
    with pytest.raises(ConfigError, match=r"'models.vq.training.seeds': vq and pix are compared in pairs, so both"):
        validate_config(other_seeds)
    raw["models"]["vq"]["training"]["seeds"] = [3, 4]
    with pytest.raises(ConfigError, match=r"'human_eval.runs.0.model': 'pix' has training.seeds; name one replicate"):
        validate_config(copy.deepcopy(raw))
    raw["human_eval"]["runs"] = [{**run, "model": f"{run['model']}_seed3"} for run in raw["human_eval"]["runs"]]
    config = validate_config(raw)
    assert list(config["models"]) == ["pix_seed3", "pix_seed4", "kl_seed3", "kl_seed4", "vq_seed3", "vq_seed4"]
    replicate = config["models"]["kl_seed4"]
    assert replicate["replicate_of"] == "kl" and replicate["training"]["seed"] == 4
    assert replicate["autoencoder"]["training"]["seed"] == 4 and replicate["training"]["seeds"] is None
    # Replicates pair by seed.
    pairs = {(c.model_a, c.model_b) for c in Experiment.of(config).comparisons()}
    assert pairs == {("kl_seed3", "pix_seed3"), ("kl_seed4", "pix_seed4"), ("vq_seed3", "pix_seed3"),
                     ("vq_seed4", "pix_seed4")}  # fmt: skip
    bad = copy.deepcopy(tiny_raw)
    bad["models"]["kl"]["autoencoder"]["training"]["seeds"] = [1]
    with pytest.raises(ConfigError, match="'models.kl.autoencoder.training.seeds': replicates are set on the model"):
        validate_config(bad)
    clash = copy.deepcopy(tiny_raw)
    clash["models"]["pix_seed1"] = copy.deepcopy(clash["models"]["pix"])
    clash["models"]["pix"]["training"]["seeds"] = [1]
    with pytest.raises(ConfigError, match="replicate 'pix_seed1' clashes with a model of that name"):
        validate_config(clash)


def test_a_budget_share_gives_the_first_stage_its_part_of_each_total_limit(tiny_raw):
    from diffbench.specs import ModelSpec

    raw = copy.deepcopy(tiny_raw)
    raw["models"]["kl"]["training"].update(max_steps=None, max_seconds=100, max_gflops=400)
    raw["models"]["kl"]["autoencoder"]["training"].update(max_steps=None, max_gflops=50, budget_share=0.25)
    model = validate_config(raw)["models"]["kl"]
    limits = ModelSpec.of(model).first_stage_training()
    assert (limits.max_steps, limits.max_seconds, limits.max_gflops) == (None, 25.0, 50)  # own 50 < 100
    assert model["autoencoder"]["training"]["max_seconds"] is None  # the config itself is unchanged
    model["budget_scope"] = "denoiser"  # nothing is charged to the total: the share has nothing to take from
    assert ModelSpec.of(model).first_stage_training().max_seconds is None


def test_a_primary_comparison_must_be_one_the_run_makes(tiny_raw):
    ok = copy.deepcopy(tiny_raw)
    primary = {"model_a": "kl", "model_b": "pix", "sampler": "ddim", "steps": 3}
    ok["report"] = {**ok.get("report", {}), "primary": primary}
    assert validate_config(copy.deepcopy(ok))["report"]["primary"]["model_a"] == "kl"
    for field, value, message in [
        ("model_a", "pix", "'report.primary.model_a': 'pix' is not a latent model"),
        ("model_b", "kl", "'report.primary.model_b': 'kl' is not a pixel model"),
        ("sampler", "euler", "'report.primary.sampler': 'euler' is not one of"),
        ("steps", 7, "'report.primary.steps': 7 is not one of"),
    ]:
        bad = copy.deepcopy(ok)
        bad["report"]["primary"][field] = value
        with pytest.raises(ConfigError, match=re.escape(message)):
            validate_config(bad)


def test_removed_kid_subset_keys_get_a_clear_error(tiny_raw):
    old = copy.deepcopy(tiny_raw)
    old["evaluation"]["kid_subsets"] = 100
    with pytest.raises(ConfigError, match=r"'evaluation.kid_subsets' was removed \(KID is now the U-statistic"):
        validate_config(old)


def test_schema_enums_are_the_owning_modules_constants():
    """The sampler types, step-noise places, training noise levels and precisions the schemas
    accept are the ones the code defines (sampling/options.py and sampler.py,
    training/noise_levels.py, precisions.py), and the sampler registry and dtypes cover exactly them."""
    config_schema = schema()
    published = yaml.safe_load((REPO / "src" / "diffbench" / "schemas" / "published.schema.yaml").read_text())
    published_types = next(iter(_find_key(published, "sampler")))["properties"]["type"]["enum"]
    assert config_schema["$defs"]["sampler"]["properties"]["type"]["enum"] == list(SAMPLER_TYPES)
    assert published_types == list(SAMPLER_TYPES)
    assert list(SAMPLERS) == list(SAMPLER_TYPES) and set(_SCHEDULERS) == set(SAMPLER_TYPES)
    assert set(STEP_OPTIONS) <= set(SAMPLER_TYPES)
    assert config_schema["properties"]["precision"]["enum"] == list(PRECISIONS) == list(DTYPES)
    assert next(iter(_find_key(config_schema, "step_noise")))["enum"] == list(STEP_NOISE)
    assert config_schema["$defs"]["diffusion"]["properties"]["timestep_sampling"]["enum"] == list(TIMESTEP_SAMPLING)


def _find_key(node, key):
    """Every value under `key` anywhere in a nested schema."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == key:
                yield v
            yield from _find_key(v, key)
    elif isinstance(node, list):
        for item in node:
            yield from _find_key(item, key)
