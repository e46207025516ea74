from diffbench.jobs import end_process, job
from diffbench.stages.human_eval import human_eval_scores

with job(snakemake.log[0], snakemake.threads):
    human_eval_scores(
        study=snakemake.input.study,
        answer_files=list(snakemake.input.answers),
        settings=snakemake.params.settings,
        out_record=snakemake.output.record,
    )
end_process()
