from diffbench.jobs import end_process, job
from diffbench.stages.report import report

with job(snakemake.log[0], snakemake.threads):
    report(
        config=snakemake.params.config,
        workflow_dir=snakemake.params.workflow_dir,
        published=list(snakemake.input.published),
    )
end_process()
