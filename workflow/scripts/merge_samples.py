from diffbench.jobs import end_process, job
from diffbench.stages.merge import merge_samples

with job(snakemake.log[0], snakemake.threads):
    merge_samples(
        shard_images=snakemake.input.images,
        shard_records=snakemake.input.records,
        expected_seeds=snakemake.params.seeds,
        run={
            "model": snakemake.wildcards.model,
            "sampler": snakemake.wildcards.sampler,
            "steps": int(snakemake.wildcards.steps),
        },
        out_images=snakemake.output.images,
        out_png_dir=snakemake.output.pngs,
        out_record=snakemake.output.record,
    )
end_process()
