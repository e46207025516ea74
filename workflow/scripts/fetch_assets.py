from diffbench.jobs import end_process, job
from diffbench.stages.assets import fetch_assets

with job(snakemake.log[0], snakemake.threads):
    fetch_assets(snakemake.params.evaluation, snakemake.output.record)
end_process()
