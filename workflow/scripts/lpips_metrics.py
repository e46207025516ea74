from diffbench.jobs import end_process, job
from diffbench.stages.evaluate import lpips_metrics

with job(snakemake.log[0], snakemake.threads):
    lpips_metrics(
        images=snakemake.input.images,
        reference_run_images=snakemake.input.reference,
        reference_steps=snakemake.params.reference_steps,
        assets=snakemake.input.assets,
        run=snakemake.params.run,
        evaluation=snakemake.params.evaluation,
        device=snakemake.params.device,
        out_record=snakemake.output.record,
    )
end_process()
