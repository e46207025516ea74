from diffbench.jobs import end_process, job
from diffbench.stages.evaluate import reference_features

with job(snakemake.log[0], snakemake.threads):
    reference_features(
        images=snakemake.input.images,
        assets=snakemake.input.assets,
        evaluation=snakemake.params.evaluation,
        device=snakemake.params.device,
        out_features=snakemake.output.features,
    )
end_process()
