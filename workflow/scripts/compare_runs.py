from diffbench.jobs import end_process, job
from diffbench.stages.compare import compare_runs

with job(snakemake.log[0], snakemake.threads):
    compare_runs(
        features_a=snakemake.input.a,
        features_b=snakemake.input.b,
        reference_features=snakemake.input.reference,
        run_a=snakemake.params.run_a,
        run_b=snakemake.params.run_b,
        evaluation=snakemake.params.evaluation,
        out_record=snakemake.output.record,
    )
end_process()
