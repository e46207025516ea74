from diffbench.jobs import end_process, job
from diffbench.stages.merge import sample_features

with job(snakemake.log[0], snakemake.threads):
    sample_features(snakemake.input.parts, snakemake.output.features)
end_process()
