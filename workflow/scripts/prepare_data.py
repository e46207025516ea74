from diffbench.jobs import end_process, job
from diffbench.stages.data import prepare_data

with job(snakemake.log[0], snakemake.threads):
    prepare_data(
        snakemake.wildcards.dataset,
        snakemake.params.spec,
        snakemake.output.train,
        snakemake.output.heldout,
        snakemake.output.info,
    )
end_process()
