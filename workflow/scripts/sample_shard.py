from diffbench.jobs import job
from diffbench.stages.sample import sample_shard

with job(snakemake.log[0], snakemake.threads):
    sample_shard(
        model_dir=snakemake.params.weights,
        sampler=snakemake.params.sampler,
        steps=int(snakemake.wildcards.steps),
        seeds=snakemake.params.seeds,
        batch_size=snakemake.params.batch_size,
        step_noise=snakemake.params.step_noise,
        speedups=snakemake.params.speedups,
        device=snakemake.params.device,
        precision=snakemake.params.precision,
        out_images=snakemake.output.images,
        out_record=snakemake.output.record,
        batches_dir=snakemake.params.batches,
    )
