from diffbench.jobs import job
from diffbench.stages.data import prepare_full_data

with job(snakemake.log[0], snakemake.threads):
    prepare_full_data(snakemake.wildcards.dataset, snakemake.params.spec, snakemake.output.images)
