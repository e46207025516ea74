"""The result layout, in one place: Snakemake rules and the CLI both build paths here.

Call with real names for a file, or with "{model}"-style strings for a Snakemake pattern.
"""

from __future__ import annotations

from dataclasses import dataclass

from diffbench.experiment import MILESTONE_SEPARATOR, milestone_name


@dataclass(frozen=True)
class Layout:
    root: str = "results"

    # data
    def train_images(self, dataset: str) -> str:
        return f"{self.root}/data/{dataset}/train.npz"

    def heldout_images(self, dataset: str) -> str:
        return f"{self.root}/data/{dataset}/heldout.npz"

    def full_images(self, dataset: str) -> str:
        """Every image of the source (evaluation.reference: full)."""
        return f"{self.root}/data/{dataset}/full.npz"

    def data_info(self, dataset: str) -> str:
        return f"{self.root}/data/{dataset}/info.json"

    # models
    def autoencoder_dir(self, model: str) -> str:
        return f"{self.root}/models/{model}/autoencoder"

    def autoencoder_record(self, model: str) -> str:
        return f"{self.root}/models/{model}/autoencoder_training.json"

    def autoencoder_loss(self, model: str) -> str:
        return f"{self.root}/models/{model}/autoencoder_loss.csv"

    def pipeline_dir(self, model: str) -> str:
        return f"{self.root}/models/{model}/pipeline"

    def training_record(self, model: str) -> str:
        return f"{self.root}/models/{model}/training.json"

    def training_checkpoint(self, model: str, stage: str) -> str:
        """Resumable training state (not a Snakemake output, so a failed job leaves it)."""
        return f"{self.root}/checkpoints/{model}/{stage}.pt"

    def training_loss(self, model: str) -> str:
        return f"{self.root}/models/{model}/loss.csv"

    def training_states(self, model: str) -> str:
        """The model's whole training states along its budget (training.kept_states), which its
        milestones train from."""
        return f"{self.root}/models/{model}/states"

    def states_staging(self, model: str) -> str:
        """Kept training states while the model trains (not an output: a killed job keeps them)."""
        return f"{self.root}/checkpoints/{model}/states"

    def milestone_dir(self, model: str, milestone) -> str:
        """The model's EMA snapshot at one training milestone, in the diffusers layout."""
        return f"{self.root}/models/{model}/milestones/{_milestone(milestone)}/pipeline"

    def milestone_record(self, model: str, milestone) -> str:
        """Where the snapshot stands in the model's training (records.MILESTONE)."""
        return f"{self.root}/models/{model}/milestones/{_milestone(milestone)}/milestone.json"

    def model_weights(self, model: str) -> str:
        """What sampling loads for a sampled model's name: a final model's pipeline, or the snapshot
        a milestone name (<model>@<milestone>, Experiment.milestone_models) stands for."""
        base, _, milestone = model.partition(MILESTONE_SEPARATOR)
        return self.milestone_dir(base, milestone) if milestone else self.pipeline_dir(base)

    # samples
    def sample_dir(self, model: str, sampler: str, steps) -> str:
        return f"{self.root}/samples/{model}/{sampler}/{steps}"

    def shard_images(self, model: str, sampler: str, steps, shard) -> str:
        return f"{self.sample_dir(model, sampler, steps)}/shards/{shard}.npz"

    def shard_batches(self, model: str, sampler: str, steps, shard) -> str:
        """Finished batches of a shard being sampled (not a Snakemake output, so a failed job leaves them)."""
        return f"{self.sample_dir(model, sampler, steps)}/partial/{shard}"

    def shard_record(self, model: str, sampler: str, steps, shard) -> str:
        return f"{self.sample_dir(model, sampler, steps)}/shards/{shard}.json"

    def samples(self, model: str, sampler: str, steps) -> str:
        return f"{self.sample_dir(model, sampler, steps)}/images.npz"

    def sample_pngs(self, model: str, sampler: str, steps) -> str:
        return f"{self.sample_dir(model, sampler, steps)}/png"

    def sampling_record(self, model: str, sampler: str, steps) -> str:
        return f"{self.sample_dir(model, sampler, steps)}/sampling.json"

    # assets, fetched on the machine that runs snakemake (compute jobs may have no network)
    def assets_record(self) -> str:
        """Evaluation weights (Inception or DINOv2, LPIPS backbone)."""
        return f"{self.root}/assets/assets.json"

    def dataset_assets(self, dataset: str) -> str:
        return f"{self.root}/assets/datasets/{dataset}.json"

    def model_assets(self, model: str) -> str:
        return f"{self.root}/assets/models/{model}.json"

    def perceptual_assets(self, net: str) -> str:
        """The LPIPS backbone of a first stage's perceptual loss."""
        return f"{self.root}/assets/perceptual/{net}.json"

    # evaluation

    def reference_features(self, dataset: str, reference: str, extractor: str) -> str:
        """Features of a dataset's `reference` set (heldout, train or full)."""
        return f"{self.root}/features/{dataset}/{reference}-{extractor}.npz"

    def sample_features(self, model: str, sampler: str, steps, extractor: str) -> str:
        return f"{self.root}/features/{model}/{sampler}/{steps}/{extractor}.npz"

    def sample_feature_shard(self, model: str, sampler: str, steps, shard, extractor: str) -> str:
        return f"{self.root}/features/{model}/{sampler}/{steps}/shards/{shard}-{extractor}.npz"

    def distribution_metrics(self, model: str, sampler: str, steps) -> str:
        return f"{self.root}/metrics/{model}/{sampler}/{steps}/distribution.json"

    def lpips_metrics(self, model: str, sampler: str, steps) -> str:
        return f"{self.root}/metrics/{model}/{sampler}/{steps}/lpips.json"

    def comparison(self, model_a: str, model_b: str, sampler: str, steps) -> str:
        return f"{self.root}/metrics/compare/{model_a}-vs-{model_b}/{sampler}/{steps}/comparison.json"

    def throughput(self, model: str) -> str:
        return f"{self.root}/metrics/{model}/throughput.json"

    def human_eval_page(self, study: str) -> str:
        """The rating page raters open (self-contained)."""
        return f"{self.root}/human_eval/{study}/index.html"

    def human_eval_trials(self, study: str) -> str:
        """The study's trials with their answers (what the page shows, plus the truth)."""
        return f"{self.root}/human_eval/{study}/trials.json"

    def human_eval_scores(self, study: str) -> str:
        return f"{self.root}/human_eval/{study}/scores.json"

    def reconstruction_metrics(self, model: str) -> str:
        return f"{self.root}/metrics/{model}/reconstruction.json"

    def reconstruction_examples(self, model: str) -> str:
        """D(E(x)) of the first held-out images, in their order (the sample grids' real row)."""
        return f"{self.root}/metrics/{model}/reconstructions.npz"

    # report
    def report(self, name: str) -> str:
        return f"{self.root}/report/{name}"

    def sample_grid(self, sampler: str, steps) -> str:
        return f"{self.root}/report/grids/{sampler}-{steps}.png"

    # logs and benchmarks of the rules
    def log_dir(self, stage: str) -> str:
        return f"{self.root}/logs/{stage}"

    def log(self, stage: str, *keys) -> str:
        return f"{self.log_dir(stage)}/{'/'.join(str(k) for k in keys)}.log"

    def benchmark(self, stage: str, *keys) -> str:
        return f"{self.root}/benchmarks/{stage}/{'/'.join(str(k) for k in keys)}.tsv"


def _milestone(milestone: float | str) -> str:
    """A milestone's path part: a value by its name, a name (or a "{milestone}" pattern) as it is."""
    return milestone if isinstance(milestone, str) else milestone_name(milestone)
