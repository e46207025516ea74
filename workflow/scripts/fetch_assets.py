from diffbench.jobs import job
from diffbench.stages.assets import fetch_assets

with job(snakemake.log[0], snakemake.threads):
    fetch_assets(snakemake.params.evaluation, snakemake.output.record)
