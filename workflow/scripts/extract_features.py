from diffbench.evaluation import extract_features
from diffbench.jobs import job

with job(snakemake.log[0], snakemake.threads):
    extract_features(
        images=snakemake.input.images,
        assets=snakemake.input.assets,
        evaluation=snakemake.params.evaluation,
        device=snakemake.params.device,
        out_features=snakemake.output.features,
    )
