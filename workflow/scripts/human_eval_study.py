from diffbench.jobs import end_process, job
from diffbench.stages.human_eval import human_eval_study

with job(snakemake.log[0], snakemake.threads):
    human_eval_study(
        settings=snakemake.params.settings,
        runs=snakemake.params.runs,
        samples=list(snakemake.input.samples),
        reference_images=snakemake.input.reference,
        reference_set=snakemake.params.reference_set,
        out_page=snakemake.output.page,
        out_trials=snakemake.output.trials,
    )
end_process()
