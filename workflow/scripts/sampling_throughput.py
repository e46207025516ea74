from diffbench.jobs import end_process, job
from diffbench.stages.sample import sampling_throughput

with job(snakemake.log[0], snakemake.threads):
    sampling_throughput(
        model_dir=snakemake.input.model,
        model=snakemake.wildcards.model,
        family=snakemake.params.family,
        max_batch=snakemake.params.max_batch,
        configured_batch=snakemake.params.configured_batch,
        speedups=snakemake.params.speedups,
        device=snakemake.params.device,
        precision=snakemake.params.precision,
        out_record=snakemake.output.record,
    )
end_process()
