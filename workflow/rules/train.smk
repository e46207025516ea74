rule train_autoencoder:
    input:
        train=lambda w: layout.train_images(model_dataset(w)),
    output:
        model=directory(layout.autoencoder_dir("{model}")),
        record=layout.autoencoder_record("{model}"),
        loss=layout.autoencoder_loss("{model}"),
    params:
        spec=lambda w: config["models"][w.model],
        dataset_spec=lambda w: config["datasets"][model_dataset(w)],
        device=config["device"],
        precision=config["precision"],
        # outside the outputs: Snakemake deletes a failed job's outputs, the rerun resumes from it
        checkpoint=lambda w: layout.training_checkpoint(w.model, "autoencoder"),
    wildcard_constraints:
        model=one_of(models_where(config, family="latent", source="train")),
    threads: workflow.cores
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    conda:
        "../../environment.yml"
    log:
        layout.log("train_autoencoder", "{model}"),
    benchmark:
        layout.benchmark("train_autoencoder", "{model}")
    script:
        "../scripts/train_autoencoder.py"


rule train_diffusion:
    input:
        train=lambda w: layout.train_images(model_dataset(w)),
        autoencoder=lambda w: (
            [layout.autoencoder_dir(w.model)]
            if config["models"][w.model]["family"] == "latent"
            else []
        ),
    output:
        model=directory(layout.pipeline_dir("{model}")),
        record=layout.training_record("{model}"),
        loss=layout.training_loss("{model}"),
    params:
        spec=lambda w: config["models"][w.model],
        dataset_spec=lambda w: config["datasets"][model_dataset(w)],
        device=config["device"],
        precision=config["precision"],
        checkpoint=lambda w: layout.training_checkpoint(w.model, "diffusion"),
    wildcard_constraints:
        model=one_of(models_where(config, source="train")),
    threads: workflow.cores
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    conda:
        "../../environment.yml"
    log:
        layout.log("train_diffusion", "{model}"),
    benchmark:
        layout.benchmark("train_diffusion", "{model}")
    script:
        "../scripts/train_diffusion.py"


rule import_pretrained:
    input:
        fetched=layout.model_assets("{model}"),
    output:
        model=directory(layout.pipeline_dir("{model}")),
        record=layout.training_record("{model}"),
    params:
        spec=lambda w: config["models"][w.model],
        dataset_spec=lambda w: config["datasets"][model_dataset(w)],
    wildcard_constraints:
        model=one_of(models_where(config, source="pretrained")),
    conda:
        "../../environment.yml"
    log:
        layout.log("import_pretrained", "{model}"),
    script:
        "../scripts/import_pretrained.py"
