from diffbench.jobs import end_process, job
from diffbench.stages.train import milestone_snapshot

with job(snakemake.log[0], snakemake.threads):
    milestone_snapshot(
        name=snakemake.wildcards.model,
        model_spec=snakemake.params.spec,
        dataset_spec=snakemake.params.dataset_spec,
        milestone=snakemake.params.milestone,
        train_images=snakemake.input.train,
        autoencoder_dir=snakemake.input.autoencoder[0] if snakemake.input.autoencoder else None,
        autoencoder_record=snakemake.input.autoencoder_record[0] if snakemake.input.autoencoder_record else None,
        states_dir=snakemake.input.states,
        training_record=snakemake.input.training_record,
        training_loss=snakemake.input.training_loss,
        device=snakemake.params.device,
        precision=snakemake.params.precision,
        out_dir=snakemake.output.model,
        out_record=snakemake.output.record,
    )
end_process()
