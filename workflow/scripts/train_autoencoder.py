from diffbench.jobs import end_process, job
from diffbench.stages.train import train_autoencoder

with job(snakemake.log[0], snakemake.threads):
    train_autoencoder(
        name=snakemake.wildcards.model,
        model_spec=snakemake.params.spec,
        dataset_spec=snakemake.params.dataset_spec,
        train_images=snakemake.input.train,
        device=snakemake.params.device,
        precision=snakemake.params.precision,
        out_dir=snakemake.output.model,
        out_record=snakemake.output.record,
        out_loss=snakemake.output.loss,
        checkpoint=snakemake.params.checkpoint,
    )
end_process()
