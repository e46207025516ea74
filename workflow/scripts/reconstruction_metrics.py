from diffbench.jobs import end_process, job
from diffbench.stages.reconstruction import reconstruction_metrics

with job(snakemake.log[0], snakemake.threads):
    reconstruction_metrics(
        model_dir=snakemake.input.model,
        heldout_images=snakemake.input.images,
        heldout_features=snakemake.input.features,
        independent_images=snakemake.input.independent[0] if snakemake.input.independent else None,
        reference_features=snakemake.input.reference,
        num_samples=snakemake.params.num_samples,
        seed=snakemake.params.seed,
        assets=snakemake.input.assets,
        model=snakemake.wildcards.model,
        evaluation=snakemake.params.evaluation,
        device=snakemake.params.device,
        out_record=snakemake.output.record,
        out_examples=snakemake.output.examples,
    )
end_process()
