from diffbench.jobs import end_process, job
from diffbench.stages.distribution import distribution_metrics

with job(snakemake.log[0], snakemake.threads):
    distribution_metrics(
        sample_features=snakemake.input.sample,
        reference_features=snakemake.input.reference,
        run=snakemake.params.run,
        evaluation=snakemake.params.evaluation,
        out_record=snakemake.output.record,
    )
end_process()
