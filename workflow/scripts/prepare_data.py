from diffbench.data.prepare import prepare_dataset
from diffbench.jobs import job

with job(snakemake.log[0], snakemake.threads):
    prepare_dataset(
        snakemake.wildcards.dataset,
        snakemake.params.spec,
        snakemake.output.train,
        snakemake.output.reference,
        snakemake.output.info,
    )
