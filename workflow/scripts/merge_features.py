from diffbench.evaluation import merge_features
from diffbench.jobs import job

with job(snakemake.log[0], snakemake.threads):
    merge_features(snakemake.input.parts, snakemake.output.features)
