from diffbench.jobs import end_process, job
from diffbench.stages.train import import_pretrained

with job(snakemake.log[0], snakemake.threads):
    import_pretrained(
        name=snakemake.wildcards.model,
        model_spec=snakemake.params.spec,
        dataset_spec=snakemake.params.dataset_spec,
        out_dir=snakemake.output.model,
        out_record=snakemake.output.record,
        fetched=snakemake.input.fetched,
    )
end_process()
