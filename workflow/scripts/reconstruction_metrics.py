from diffbench.jobs import job
from diffbench.stages.reconstruction import reconstruction_metrics

with job(snakemake.log[0], snakemake.threads):
    reconstruction_metrics(
        model_dir=snakemake.input.model,
        heldout_images=snakemake.input.images,
        heldout_features=snakemake.input.features,
        assets=snakemake.input.assets,
        model=snakemake.wildcards.model,
        evaluation=snakemake.params.evaluation,
        device=snakemake.params.device,
        out_record=snakemake.output.record,
    )
