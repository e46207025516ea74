from diffbench.jobs import end_process, job
from diffbench.stages.train import train_diffusion

with job(snakemake.log[0], snakemake.threads):
    train_diffusion(
        name=snakemake.wildcards.model,
        model_spec=snakemake.params.spec,
        dataset_spec=snakemake.params.dataset_spec,
        train_images=snakemake.input.train,
        autoencoder_dir=snakemake.input.autoencoder[0] if snakemake.input.autoencoder else None,
        autoencoder_record=snakemake.input.autoencoder_record[0] if snakemake.input.autoencoder_record else None,
        device=snakemake.params.device,
        precision=snakemake.params.precision,
        out_dir=snakemake.output.model,
        out_record=snakemake.output.record,
        out_loss=snakemake.output.loss,
        out_states=snakemake.output.states,
        checkpoint=snakemake.params.checkpoint,
        states_staging=snakemake.params.states_staging,
    )
end_process()
