from diffbench.jobs import end_process, job
from diffbench.stages.sample import sample_shard

with job(snakemake.log[0], snakemake.threads):
    sample_shard(
        model_dir=snakemake.params.weights,
        job=snakemake.params.job,
        device=snakemake.params.device,
        precision=snakemake.params.precision,
        out_images=snakemake.output.images,
        out_record=snakemake.output.record,
        batches_dir=snakemake.params.batches,
    )
end_process()
