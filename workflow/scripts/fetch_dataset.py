from diffbench.jobs import end_process, job
from diffbench.stages.assets import fetch_dataset

with job(snakemake.log[0], snakemake.threads):
    fetch_dataset(name=snakemake.wildcards.dataset, spec=snakemake.params.spec, out_record=snakemake.output.record)
end_process()
