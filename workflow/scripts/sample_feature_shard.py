from diffbench.jobs import end_process, job
from diffbench.stages.evaluate import sample_feature_shard

with job(snakemake.log[0], snakemake.threads):
    sample_feature_shard(
        images=snakemake.input.images,
        assets=snakemake.input.assets,
        evaluation=snakemake.params.evaluation,
        device=snakemake.params.device,
        out_features=snakemake.output.features,
    )
end_process()
