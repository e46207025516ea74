from diffbench.evaluation import fetch_assets
from diffbench.jobs import job

with job(snakemake.log[0], snakemake.threads):
    fetch_assets(snakemake.params.evaluation, snakemake.output.record)
