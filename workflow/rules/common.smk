import re

from diffbench.config import (
    all_seeds,
    check_input_paths,
    read_config_file,
    shard_ranges,
    shard_seeds,
    validate_config,
)
from diffbench.data.sources import TORCHVISION_SOURCES
from diffbench.experiment import Experiment
from diffbench.humaneval.answers import answer_files
from diffbench.humaneval.trials import TRIAL_SETTINGS
from diffbench.jobs import hub_offline_for_jobs
from diffbench.paths import Layout
from diffbench.specs import EvaluationSpec
from diffbench.published import published_files
from diffbench.report.outputs import ReportPaths, result_files

# Fails here, before any job, naming the key, when the config is wrong; fills every default.
# Snakemake has parsed the config files already; read them again strictly, since its YAML loader
# silently keeps the last of a key given twice.
for _configfile in dict.fromkeys([*(workflow.overwrite_configfiles or []), *workflow.configfiles]):
    read_config_file(_configfile)
validate_config(config)
check_input_paths(config)
# The rules ask this one object what runs, comparisons and models the experiment has; their
# params stay plain data (the config's dicts), which each stage turns into specs on entry.
EXPERIMENT = Experiment.of(config)
# Snakemake compares a job's params with its last run's key order included, so a config whose keys
# are only written in another order would rerun everything: the config's dicts in the specs' order.
_canonical = EXPERIMENT.as_dict()
config.clear()
config.update(_canonical)

layout = Layout(config["results_dir"])
SAMPLING = config["sampling"]
SHARDS = list(range(len(shard_ranges(SAMPLING["num_samples"], SAMPLING["images_per_shard"]))))
EVALUATION = config["evaluation"]
REFERENCE = EVALUATION["reference"]  # the reference set of distribution metrics
FEATURES = EvaluationSpec.of(EVALUATION).features_key
MAX_STEPS = max(SAMPLING["steps"])  # the reference step count for LPIPS convergence
# Threads of the evaluation jobs that run a network. They are not timed, so two share the machine
# and one's start-up (imports, weights) overlaps the other's work; training and sampling jobs are
# timed: they take every core (threads: workflow.cores), so nothing runs beside them. Milestones
# are not: a snapshot's seconds are its model's run's, and its sample sets are scored for quality
# only (timed_sampling).
EVALUATION_THREADS = max(1, workflow.cores // 2)
# Scheduling priority of training and of the jobs it waits for (data, the perceptual loss's
# backbone): the chain every run waits for goes first. Otherwise an evaluation job that is ready
# sooner (the reference features) starts beside it and holds it back while a core idles.
TRAINING_PRIORITY = 10
# Then the timed sampling jobs, one after another right after training: the untimed evaluation
# jobs come after them in one stretch, two at a time, instead of a core idling whenever a timed
# job waits for both cores between them.
SAMPLING_PRIORITY = 5
# Then the long untimed jobs that the report waits for and that feed no chain of their own: the
# reference features (every metric job reads them) and a latent model's reconstruction metrics
# (~40 s, one job). At the default 0, Snakemake's scheduler, which prefers jobs that free temporary
# files, left reconstruction for last in two measured runs: it ran alone for ~30 s while a core idled.
LONG_EVALUATION_PRIORITY = 2
# Then the milestones' snapshots and samples, untimed: theirs is the longest chain of the rest
# (snapshot, samples, features, metrics), so it starts first there.
MILESTONE_PRIORITY = 1
TORCHVISION_DATASETS = [n for n, spec in EXPERIMENT.datasets.items() if spec.source in TORCHVISION_SOURCES]
# The LPIPS backbones of the first stages' perceptual losses (models.<m>.autoencoder.perceptual_net).
PERCEPTUAL_NETS = sorted({spec.autoencoder.perceptual_net for spec in EXPERIMENT.models.values() if spec.latent})

# Jobs read the hub only from the HF_HOME cache; the fetch rules (assets.smk) download first.
hub_offline_for_jobs()


def one_of(names):
    """Wildcard regex matching exactly these config names (none: a regex that never matches)."""
    names = [str(n) for n in names]
    return "|".join(re.escape(n) for n in names) if names else "(?!)"


wildcard_constraints:
    dataset=one_of(config["datasets"]),
    # a milestone's snapshot is sampled and evaluated as <model>@<milestone> (experiment.py)
    model=one_of([*EXPERIMENT.models, *EXPERIMENT.milestone_models()]),
    sampler=one_of(SAMPLING["samplers"]),
    steps=one_of(SAMPLING["steps"]),
    shard=one_of(SHARDS),
    study=one_of([EXPERIMENT.human_eval.study] if EXPERIMENT.human_eval is not None else []),


def model_dataset(wildcards):
    return EXPERIMENT.models[EXPERIMENT.base_model(wildcards.model)].dataset


def training_run_spec(model):
    """A trained model's config without its milestones: each is a job of its own, so adding one
    changes no training job's params (Snakemake would rerun it)."""
    return EXPERIMENT.models[model].training_run().as_dict()


def timed_sampling(model):
    """A final model's sample sets are timed (their seconds per image are in the report); a
    milestone's (<model>@<milestone>) are scored for quality only."""
    return EXPERIMENT.base_model(model) == model


def run_key_of(wildcards):
    return EXPERIMENT.run_key(wildcards.model, wildcards.sampler, wildcards.steps)


def all_targets():
    targets = []
    for run in EXPERIMENT.runs():
        keys = (run.model, run.sampler, run.steps)
        targets += [
            layout.samples(*keys),
            layout.sampling_record(*keys),
            layout.sample_pngs(*keys),
            layout.distribution_metrics(*keys),
            layout.lpips_metrics(*keys),
        ]
    targets += [layout.distribution_metrics(r.model, r.sampler, r.steps) for r in EXPERIMENT.milestone_runs()]
    targets += [layout.reconstruction_metrics(m) for m in EXPERIMENT.models_where(family="latent")]
    targets += [layout.comparison(c.model_a, c.model_b, c.sampler, c.steps) for c in EXPERIMENT.comparisons()]
    if EXPERIMENT.human_eval is not None:
        targets.append(layout.human_eval_page(EXPERIMENT.human_eval.study))
    return targets + [ReportPaths.of(EXPERIMENT).html]
