"""Experiment config: load, validate against the JSON schema, fill defaults, check semantics.

The schema (workflow/schemas/config.schema.yaml) is the single reference for keys, types,
choices and defaults. Checks that JSON Schema cannot express (cross references, divisibility)
live in `_check_semantics`. Every error names the offending key as a dotted path.
"""

from __future__ import annotations

import copy
import math
from importlib import resources
from pathlib import Path

import jsonschema
import yaml

from diffbench.errors import ConfigError
from diffbench.experiment import Experiment
from diffbench.precisions import CUDA_ONLY_PRECISIONS
from diffbench.sampling.options import CUDA_GRAPHS_NEED, SAMPLER_SETTING_TYPES
from diffbench.specs import TOTAL_BUDGET_UNITS, ModelSpec, TrainingSpec


def schema() -> dict:
    text = resources.files("diffbench").joinpath("schemas/config.schema.yaml").read_text()
    return yaml.safe_load(text)


def _with_defaults(validator_class):
    """Extend a jsonschema validator so that missing properties get their schema default.

    jsonschema validates but never fills defaults; this is the documented extension recipe.
    Defaults are deep-copied so that no two entries share one mutable default.
    """
    validate_properties = validator_class.VALIDATORS["properties"]

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = copy.deepcopy(subschema["default"])
        yield from validate_properties(validator, properties, instance, schema)

    return jsonschema.validators.extend(validator_class, {"properties": set_defaults})


_Validator = _with_defaults(jsonschema.Draft202012Validator)


# Keys of earlier versions whose meaning moved to another key: named in the error, not just rejected.
RENAMED = {"bootstrap_resamples": "interval_groups (FID intervals are jackknife intervals now)"}


def _key(path) -> str:
    return ".".join(str(p) for p in path) or "<top level>"


def _describe(error: jsonschema.ValidationError) -> str:
    key = _key(error.absolute_path)
    if error.validator == "additionalProperties":
        allowed = sorted(error.schema.get("properties", {}))
        unexpected = sorted(set(error.instance) - set(allowed))
        renamed = [f"'{old}' is now '{new}'" for old, new in RENAMED.items() if old in unexpected]
        if renamed:
            return f"config key '{key}': {'; '.join(renamed)} (see config/README.md)."
        where = f"config key '{key}'" if error.absolute_path else "the config"
        return (
            f"{where} has unknown key(s) {unexpected}; allowed keys: {allowed}. "
            "Check the spelling against workflow/schemas/config.schema.yaml."
        )
    if error.validator == "enum":
        return f"config key '{key}': {error.instance!r} is not one of {error.validator_value}."
    if error.validator == "required":
        return f"config key '{key}': {error.message}."
    return f"config key '{key}': {error.message}."


def validate_config(config: dict) -> dict:
    """Validate `config` in place (filling defaults) and return it; raise ConfigError."""
    raw = copy.deepcopy(config)
    _check_removed_keys(config)
    errors = sorted(_Validator(schema()).iter_errors(config), key=lambda e: list(e.absolute_path))
    if errors:
        # The most specific error first: it names the deepest key.
        best = max(errors, key=lambda e: len(e.absolute_path))
        raise ConfigError(_describe(best))
    _check_semantics(config, raw)
    _check_primary(config)
    _check_milestone_settings(config)
    _expand_replicates(config)
    _check_replicate_pairs(config)
    _check_human_eval(config)  # after the expansion: a study may rate one replicate (<model>_seed<n>)
    return config


def filled(section: str, value: dict) -> dict:
    """A copy of `value`, one section of the schema (a JSON pointer such as "$defs/dataset"), with the
    schema's defaults filled in as validate_config fills them; ConfigError if it is invalid. For
    code that builds one spec outside an experiment config (tests, benchmarks)."""
    value = copy.deepcopy(value)
    errors = list(_Validator({"$defs": schema()["$defs"], "$ref": f"#/{section}"}).iter_errors(value))
    if errors:
        raise ConfigError(_describe(max(errors, key=lambda e: len(e.absolute_path))))
    return value


# Keys that earlier versions took, with what replaced them: a config that still sets one gets
# this line rather than the schema's "additional properties" message.
REMOVED_KEYS = {
    ("evaluation", "kid_subsets"): "KID is now the U-statistic over all pairs, with a jackknife interval",
    ("evaluation", "kid_subset_size"): "KID is now the U-statistic over all pairs, with a jackknife interval",
}


def _check_removed_keys(config: dict) -> None:
    for (section, key), why in REMOVED_KEYS.items():
        if isinstance(config.get(section), dict) and key in config[section]:
            raise ConfigError(f"config key '{section}.{key}' was removed ({why}); delete it.")


def _check_human_eval(config: dict) -> None:
    study = config["human_eval"]
    if study is None:
        return
    sampling = config["sampling"]
    seen = set()
    for i, run in enumerate(study["runs"]):
        key = f"human_eval.runs.{i}"
        replicated = [m for m, spec in config["models"].items() if spec.get("replicate_of") == run["model"]]
        if replicated:
            raise ConfigError(
                f"config key '{key}.model': {run['model']!r} has training.seeds; name one replicate, e.g. "
                f"{replicated[0]!r}."
            )
        for field, known in (("model", config["models"]), ("sampler", sampling["samplers"]),
                             ("steps", sampling["steps"])):  # fmt: skip
            if run[field] not in known:
                raise ConfigError(f"config key '{key}.{field}': {run[field]!r} is not one of {sorted(known)}.")
        label = (run["model"], run["sampler"], run["steps"])
        if label in seen:
            raise ConfigError(f"config key '{key}': {'/'.join(map(str, label))} is listed twice.")
        seen.add(label)
    datasets = {config["models"][r["model"]]["dataset"] for r in study["runs"]}
    if len(datasets) > 1:
        raise ConfigError(f"config key 'human_eval.runs': the runs come from several datasets ({sorted(datasets)}).")
    if "which_is_better" in study["kinds"] and len(study["runs"]) < 2:
        raise ConfigError("config key 'human_eval.kinds': which_is_better needs at least two runs in human_eval.runs.")
    if sampling["num_samples"] < study["trials_per_kind"]:
        raise ConfigError(
            f"config key 'human_eval.trials_per_kind': {study['trials_per_kind']} trials need as many seeds, but "
            f"sampling.num_samples is {sampling['num_samples']}."
        )
    count_key = REFERENCE_COUNT_KEYS[config["evaluation"]["reference"]]
    needed = study["trials_per_kind"] // 2 + study["attention_checks"]
    if count_key and config["datasets"][datasets.pop()][count_key] < needed:
        raise ConfigError(
            f"config key 'human_eval.trials_per_kind': the study shows up to {needed} reference images, more than "
            f"the evaluation.reference set holds ({count_key})."
        )


def _check_replicate_pairs(config: dict) -> None:
    """Refuse a paired comparison whose two models have different training seeds: replicates pair by
    seed, and a replicate without its partner would be left out. Replicates on one side only (a
    latent model over seeds against one pretrained pixel model, say) are fine: each is paired with the
    other model's one sample set, whose noise the pooled interval holds (metrics.intervals
    .seeds_and_groups; benchmarks/verdict_truth.py --seeds --one-sided). After the expansion of
    replicates, whose names it checks first."""
    if not config["evaluation"]["interval_groups"]:
        return
    bases: dict[str, dict] = {}  # base model -> its family, dataset and replicate seeds ([] = none)
    for name, spec in config["models"].items():
        base = spec.get("replicate_of") or name
        entry = bases.setdefault(base, {"family": spec["family"], "dataset": spec["dataset"], "seeds": []})
        if spec.get("replicate_of"):
            entry["seeds"].append(spec["training"]["seed"])
    for a, spec_a in bases.items():
        for b, spec_b in bases.items():
            if (spec_a["family"], spec_b["family"]) != ("latent", "pixel") or spec_a["dataset"] != spec_b["dataset"]:
                continue
            if spec_a["seeds"] and spec_b["seeds"] and spec_a["seeds"] != spec_b["seeds"]:
                raise ConfigError(
                    f"config key 'models.{a}.training.seeds': {a} and {b} are compared in "
                    f"pairs, so both need the same training seeds (now {spec_a['seeds']} and {spec_b['seeds']}); "
                    "give both the same list, or seeds to one of them only."
                )


def _check_primary(config: dict) -> None:
    """report.primary must name a comparison the run makes: a latent and a pixel model of one dataset."""
    primary = config["report"]["primary"]
    if primary is None:
        return
    models = config["models"]
    for field, family in (("model_a", "latent"), ("model_b", "pixel")):
        name = primary[field]
        if name not in models or models[name]["family"] != family:
            known = sorted(m for m, spec in models.items() if spec["family"] == family)
            raise ConfigError(
                f"config key 'report.primary.{field}': {name!r} is not a {family} model (known: {known})."
            )
    if models[primary["model_a"]]["dataset"] != models[primary["model_b"]]["dataset"]:
        raise ConfigError("config key 'report.primary': the two models are trained on different datasets.")
    for field, known in (("sampler", config["sampling"]["samplers"]), ("steps", config["sampling"]["steps"])):
        if primary[field] not in known:
            raise ConfigError(f"config key 'report.primary.{field}': {primary[field]!r} is not one of {sorted(known)}.")
    if not config["evaluation"]["interval_groups"]:
        raise ConfigError("config key 'report.primary': paired comparisons need evaluation.interval_groups > 0.")


def _check_milestone_settings(config: dict) -> None:
    sampling = config["sampling"]
    for i, setting in enumerate(sampling["milestone_settings"] or []):
        for field, known in (("sampler", sampling["samplers"]), ("steps", sampling["steps"])):
            if setting[field] not in known:
                raise ConfigError(
                    f"config key 'sampling.milestone_settings.{i}.{field}': {setting[field]!r} is not one of "
                    f"{sorted(known)}."
                )


def _expand_replicates(config: dict) -> None:
    """A model with `training.seeds` becomes one model per seed (<model>_seed<seed>), in place and in
    order, each trained in full with that seed: the DAG, the paths and the tables then treat every
    replicate as a model, and `replicate_of` ties them together for aggregation."""
    expanded = {}
    for name, spec in config["models"].items():
        seeds = spec["training"]["seeds"] if spec["source"] == "train" else None
        if not seeds:
            expanded[name] = spec
            continue
        for seed in seeds:
            replicate = copy.deepcopy(spec)
            replicate["training"].update(seed=seed, seeds=None)
            if spec["family"] == "latent":
                replicate["autoencoder"]["training"]["seed"] = seed
            replicate["replicate_of"] = name
            label = f"{name}_seed{seed}"
            if label in config["models"] or label in expanded:
                raise ConfigError(
                    f"config key 'models.{name}.training.seeds': replicate {label!r} clashes with a model of that name."
                )
            expanded[label] = replicate
    config["models"] = expanded


class _StrictLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (PyYAML keeps the last one
    silently, so a second `pixel:` under `models:` would replace the first without a word)."""

    def construct_mapping(self, node, deep=False):
        seen = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if key in seen:
                raise ConfigError(
                    f"key {key!r} is given twice in one mapping (line {seen[key] + 1} and line "
                    f"{key_node.start_mark.line + 1}); keep one."
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def read_config_file(path: str | Path) -> dict:
    """The mapping a YAML config file holds, as written (no defaults); one-line errors naming the
    file and, for a syntax error or a duplicate key, the line and column."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist (pass --config / --configfile).")
    try:
        config = yaml.load(path.read_text(), Loader=_StrictLoader) or {}
    except ConfigError as err:
        raise ConfigError(f"config file {path}: {err}") from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = " ".join(str(err.problem or err.context or "invalid YAML").split())
        hint = " (YAML indents with spaces, never tabs)" if "\\t" in problem else ""
        raise ConfigError(f"config file {path}{where}: {problem}{hint}.") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"config file {path}: not valid YAML ({' '.join(str(err).split())}).") from None
    if not isinstance(config, dict):
        raise ConfigError(f"config file {path} must hold a mapping of keys, not {type(config).__name__}.")
    return config


def load_config(path: str | Path) -> dict:
    """Read, validate and fill a config file."""
    return validate_config(read_config_file(path))


def check_input_paths(config: dict) -> None:
    """Inputs the user provides must exist before any job runs (an image folder given as a
    dataset); what the workflow fetches or makes is not checked here. Kept out of
    validate_config so that a preset naming a folder you have not made yet still validates as a
    config, while `diffbench validate` and the workflow stop at once."""
    for name in Experiment.of(config).datasets_in_use():
        spec = config["datasets"][name]
        if spec["source"] == "imagefolder" and not Path(spec["root"]).expanduser().is_dir():
            raise ConfigError(
                f"datasets.{name}: image folder '{spec['root']}' does not exist (config key 'datasets.{name}.root')."
            )


def _check_semantics(config: dict, raw: dict) -> None:
    """The checks a schema cannot express, one section at a time."""
    _check_devices(config)
    for name, dataset in config["datasets"].items():
        low, high = dataset["shape_radius"]
        if low > high:
            key = f"datasets.{name}.shape_radius"
            raise ConfigError(f"config key '{key}': the minimum {low} exceeds the maximum {high}.")
    for name, model in config["models"].items():
        _check_model(config, name, model, raw.get("models", {}).get(name, {}))
    _check_evaluation(config)
    _check_samplers(config["sampling"]["samplers"])


def _check_devices(config: dict) -> None:
    precision = config["precision"]
    if precision in CUDA_ONLY_PRECISIONS and config["device"] == "cpu":
        instead = CUDA_ONLY_PRECISIONS[precision]
        raise ConfigError(f"config key 'precision': {precision} needs device: cuda ({instead}).")
    if config["sampling"]["speedups"].get("cuda_graphs") and config["device"] == "cpu":
        raise ConfigError(f"config key 'sampling.speedups.cuda_graphs': {CUDA_GRAPHS_NEED}.")


def _check_model(config: dict, name: str, model: dict, given: dict) -> None:
    """One models entry; `given`: the keys the user wrote (before the defaults were filled)."""
    key = f"models.{name}"
    if model["dataset"] not in config["datasets"]:
        raise ConfigError(
            f"config key '{key}.dataset': {model['dataset']!r} is not a datasets entry "
            f"(known: {sorted(config['datasets'])})."
        )
    if model["source"] == "pretrained":
        _check_pretrained(model, key, given)
        return
    if "pretrained" in given:
        raise ConfigError(f"config key '{key}.pretrained' only applies to source: pretrained.")
    if given.get("autoencoder", {}).get("training", {}).get("seeds") is not None:
        raise ConfigError(
            f"config key '{key}.autoencoder.training.seeds': replicates are set on the model "
            f"({key}.training.seeds); each trains its own first stage with its seed."
        )
    if model["family"] == "pixel" and "autoencoder" in given:
        raise ConfigError(f"config key '{key}.autoencoder' only applies to family: latent.")
    _check_budget(model["training"], f"{key}.training")
    _check_milestones(model, key)
    if model["training"]["budget_share"] is not None:
        raise ConfigError(
            f"config key '{key}.training.budget_share' only applies to '{key}.autoencoder.training' (the share "
            "of the model's total budget its first stage may spend)."
        )
    dataset = config["datasets"][model["dataset"]]
    if dataset["num_train"] < 1:
        raise ConfigError(
            f"config key 'datasets.{model['dataset']}.num_train': model {name!r} trains on this dataset; "
            "give it at least 1 training image."
        )
    side = dataset["resolution"]
    if model["family"] == "latent":
        _check_first_stage(model, key, side)
        side //= model["autoencoder"]["downsampling_factor"]
    levels = len(model["unet"]["channel_mult"])
    if side % 2 ** (levels - 1) or side < 2 ** (levels - 1):
        raise ConfigError(
            f"config key '{key}.unet.channel_mult': {levels} levels downsample {levels - 1} times, "
            f"but the UNet input is {side}x{side}; use at most {int(math.log2(side & -side)) + 1} levels."
        )


def _check_pretrained(model: dict, key: str, given: dict) -> None:
    if not model["pretrained"]["id"]:
        raise ConfigError(f"config key '{key}.pretrained.id': set a hub id or local folder for source: pretrained.")
    for trained_only in ("autoencoder", "unet", "diffusion", "training", "budget_scope"):
        if trained_only in given:
            raise ConfigError(
                f"config key '{key}.{trained_only}' only applies to source: train; "
                "a pretrained model brings its own architecture and schedule."
            )
    if model["family"] == "pixel" and model["pretrained"]["latent_scaling_factor"] is not None:
        raise ConfigError(f"config key '{key}.pretrained.latent_scaling_factor' only applies to family: latent.")


def _check_first_stage(model: dict, key: str, side: int) -> None:
    """A trained latent model's autoencoder, on images `side` px wide."""
    ae = model["autoencoder"]
    _check_budget(ae["training"], f"{key}.autoencoder.training", share_allowed=True)
    _check_first_stage_budget(model, key)
    f = ae["downsampling_factor"]
    if side % f:
        raise ConfigError(
            f"config key '{key}.autoencoder.downsampling_factor': resolution {side} of dataset "
            f"{model['dataset']!r} is not divisible by f={f}."
        )
    if ae["max_channels"] < ae["base_channels"]:
        raise ConfigError(f"config key '{key}.autoencoder.max_channels' must be >= base_channels.")
    if ae["scale_equivariance_weight"] and ae["type"] != "kl":
        raise ConfigError(f"config key '{key}.autoencoder.scale_equivariance_weight' applies to type: kl only.")
    if ae["scale_equivariance_weight"] and (side // f) % 2:
        raise ConfigError(
            f"config key '{key}.autoencoder.scale_equivariance_weight': the {side // f}x{side // f} latents of "
            f"{side} px images at f={f} cannot be halved exactly; set it to 0."
        )
    if ae["scale_equivariance_start_step"] and not ae["scale_equivariance_weight"]:
        raise ConfigError(
            f"config key '{key}.autoencoder.scale_equivariance_start_step' is set but "
            f"scale_equivariance_weight is 0; set the weight or remove the start step."
        )
    disc = ae["discriminator"]
    # the patch map of `layers` stride-2 and two stride-1 4x4 convolutions (models/discriminator.py)
    if disc["start_step"] is not None and side < 3 * 2 ** disc["layers"]:
        raise ConfigError(
            f"config key '{key}.autoencoder.discriminator.layers': {disc['layers']} layers need images of at "
            f"least {3 * 2 ** disc['layers']} px, dataset {model['dataset']!r} has {side}; use fewer layers."
        )


def _check_evaluation(config: dict) -> None:
    evaluation = config["evaluation"]
    if evaluation["inception_weights"] and evaluation["feature_extractor"] != "inception-v3-compat":
        raise ConfigError(
            "config key 'evaluation.inception_weights' only applies to feature_extractor: inception-v3-compat."
        )
    _check_reference_sets(config)
    groups = evaluation["interval_groups"]
    sizes = {"sampling.num_samples": config["sampling"]["num_samples"]}
    count_key = REFERENCE_COUNT_KEYS[evaluation["reference"]]
    if count_key:  # a full reference is the whole source: its size is known once the data are read
        in_use = Experiment.of(config).datasets_in_use()
        sizes.update({f"datasets.{d}.{count_key}": config["datasets"][d][count_key] for d in in_use})
    smallest = min(sizes, key=sizes.get)
    if groups and sizes[smallest] < 2 * groups:
        raise ConfigError(
            f"config key 'evaluation.interval_groups': {groups} jackknife groups need at least {2 * groups} "
            f"images per set, but {smallest} is {sizes[smallest]}; lower interval_groups or use more images."
        )
    if len(set(evaluation["fid_infinity_fractions"])) == 1:
        raise ConfigError("config key 'evaluation.fid_infinity_fractions': give at least 2 distinct fractions, or [].")


def _check_samplers(samplers: dict) -> None:
    for name, sampler in samplers.items():
        if sampler["type"] != "ddim" and sampler["eta"] != 0:
            raise ConfigError(f"config key 'sampling.samplers.{name}.eta' only applies to type: ddim.")
        if sampler["timestep_spacing"] == "quadratic" and sampler["type"] != "ddim":
            raise ConfigError(
                f"config key 'sampling.samplers.{name}.timestep_spacing': quadratic (the DDIM paper's) only "
                "applies to type: ddim."
            )
        for key, types in SAMPLER_SETTING_TYPES.items():
            if sampler[key] is not None and sampler["type"] not in types:
                raise ConfigError(
                    f"config key 'sampling.samplers.{name}.{key}' only applies to type: {', '.join(sorted(types))}."
                )


# evaluation.reference -> the dataset key that counts its images (None: every image of the source).
REFERENCE_COUNT_KEYS = {"heldout": "num_reference", "train": "num_train", "full": None}


def _check_reference_sets(config: dict) -> None:
    """The image sets evaluation reads must not be empty: the FID reference, and the held-out images
    latent models' reconstruction is measured on."""
    count_key = REFERENCE_COUNT_KEYS[config["evaluation"]["reference"]]
    for name in Experiment.of(config).datasets_in_use():
        dataset = config["datasets"][name]
        if count_key and dataset[count_key] < 1:
            raise ConfigError(
                f"config key 'datasets.{name}.{count_key}' is 0, but evaluation.reference: "
                f"{config['evaluation']['reference']} compares samples with those images; give some, or choose "
                "another evaluation.reference."
            )
        latent = Experiment.of(config).models_where(dataset=name, family="latent")
        if latent and dataset["num_reference"] < 1:
            raise ConfigError(
                f"config key 'datasets.{name}.num_reference' is 0, but latent model {latent[0]!r} measures its "
                "autoencoder's reconstruction on those held-out images; give some."
            )


def _check_budget(training: dict, key: str, share_allowed: bool = False) -> None:
    limits = ("max_steps", "max_seconds", "max_gflops") + (("budget_share",) if share_allowed else ())
    if all(training[limit] is None for limit in limits):
        raise ConfigError(f"config key '{key}': set {', '.join(limits[:-1])} or {limits[-1]} (all are null).")


def _check_first_stage_budget(model: dict, key: str) -> None:
    """Under budget_scope: total the first stage must leave the denoiser some of every total limit,
    and that must be known before any job: a first-stage cost fixed in another unit (steps under a
    seconds budget) depends on the machine, or is only known once counted (steps under GFLOPs)."""
    ae = model["autoencoder"]["training"]
    limits = ModelSpec.of(model).total_limits()
    if ae["budget_share"] is not None:
        if not limits:
            raise ConfigError(
                f"config key '{key}.autoencoder.training.budget_share' needs a total budget to share: "
                f"'{key}.training' max_seconds or max_gflops with '{key}.budget_scope: total'."
            )
        return
    for limit, total in limits.items():
        unit = TOTAL_BUDGET_UNITS[limit]
        if ae[limit] is None:
            raise ConfigError(
                f"config key '{key}.autoencoder.training': the model's budget is {total:g} {unit} over every stage "
                f"('{key}.training.{limit}', budget_scope: total), but its first stage is limited in other units, "
                f"so what it leaves the denoiser is not known in advance; set '{key}.autoencoder.training."
                f"budget_share' (a share of the total) or its own {limit} below {total:g}."
            )
        if ae[limit] >= total:
            raise ConfigError(
                f"config key '{key}.autoencoder.training.{limit}': the first stage may spend {ae[limit]:g} {unit}, "
                f"which reaches the model's total of {total:g} ('{key}.training.{limit}', budget_scope: total) and "
                "leaves the denoiser nothing; lower it, use budget_share, or raise the total."
            )


def _check_milestones(model: dict, key: str) -> None:
    """training.milestones and kept_states on the model's training only; milestones increasing,
    below the budget's limit in its unit and, in total scope, beyond what the first stage may spend
    (its limit there, or its share of the total)."""
    if model["autoencoder"]["training"]["milestones"] is not None:
        raise ConfigError(
            f"config key '{key}.autoencoder.training.milestones': milestones are points along the model's "
            f"training; set them in '{key}.training.milestones'."
        )
    if model["autoencoder"]["training"]["kept_states"] is not None:
        raise ConfigError(
            f"config key '{key}.autoencoder.training.kept_states': training states are kept along the model's "
            f"training, for its milestones; set it in '{key}.training.kept_states'."
        )
    milestones = model["training"]["milestones"]
    if milestones is None:
        return
    limit = TrainingSpec.of(model["training"]).budget_unit
    total = model["training"][limit]
    where = f"config key '{key}.training.milestones'"
    others = [
        other for other in ("max_steps", "max_seconds", "max_gflops") if other != limit and model["training"][other]
    ]
    if others:
        # another limit could end training before a milestone, which would then never come
        raise ConfigError(
            f"{where} need a budget in one unit: '{key}.training.{limit}' is set, so set "
            f"{' and '.join(f'{key}.training.{o}' for o in others)} to null."
        )
    if any(b <= a for a, b in zip(milestones, milestones[1:], strict=False)):
        raise ConfigError(f"{where}: {milestones} must increase.")
    if milestones[-1] >= total:
        raise ConfigError(
            f"{where}: {milestones[-1]:g} is not below the budget ('{key}.training.{limit}': {total:g}); the final "
            "model is the last point of every curve."
        )
    spec = ModelSpec.of(model)
    if spec.latent and limit in spec.total_limits():
        first = getattr(spec.first_stage_training(), limit)
        if first is not None and milestones[0] <= first:
            raise ConfigError(
                f"{where}: {milestones[0]:g} lies within what the first stage may spend ({first:g} "
                f"{TOTAL_BUDGET_UNITS[limit]} of the total, budget_scope: total); a latent model's milestones come "
                "after its autoencoder."
            )


# --- sampling shards (the run matrix itself: Experiment.runs) ---------------------------------


def shard_ranges(num_samples: int, images_per_shard: int | None) -> list[tuple[int, int]]:
    """Half-open image-index ranges, one per sampling job."""
    per = images_per_shard or num_samples
    return [(start, min(start + per, num_samples)) for start in range(0, num_samples, per)]


def shard_seeds(sampling: dict, shard: int) -> list[int]:
    """Seeds of the images in one shard: image k has seed `sampling.seed + k`."""
    start, stop = shard_ranges(sampling["num_samples"], sampling["images_per_shard"])[shard]
    return list(range(sampling["seed"] + start, sampling["seed"] + stop))


def all_seeds(sampling: dict) -> list[int]:
    return list(range(sampling["seed"], sampling["seed"] + sampling["num_samples"]))
