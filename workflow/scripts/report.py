from diffbench.jobs import job
from diffbench.report.build import build_report

with job(snakemake.log[0], snakemake.threads):
    build_report(snakemake.params.config, snakemake.params.workflow_dir)
