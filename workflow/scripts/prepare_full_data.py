from diffbench.jobs import end_process, job
from diffbench.stages.data import prepare_full_data

with job(snakemake.log[0], snakemake.threads):
    prepare_full_data(snakemake.wildcards.dataset, snakemake.params.spec, snakemake.output.images)
end_process()
