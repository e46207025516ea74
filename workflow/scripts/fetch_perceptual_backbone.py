from diffbench.jobs import end_process, job
from diffbench.stages.assets import fetch_perceptual_backbone

with job(snakemake.log[0], snakemake.threads):
    fetch_perceptual_backbone(snakemake.wildcards.net, snakemake.output.record)
end_process()
