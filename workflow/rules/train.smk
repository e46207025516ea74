rule train_autoencoder:
    input:
        train=lambda w: layout.train_images(model_dataset(w)),
        # the LPIPS backbone of the perceptual loss, fetched where snakemake runs
        perceptual=lambda w: (
            [layout.perceptual_assets(EXPERIMENT.models[w.model].autoencoder.perceptual_net)]
            if EXPERIMENT.models[w.model].autoencoder.perceptual_weight > 0
            else []
        ),
    output:
        model=directory(layout.autoencoder_dir("{model}")),
        record=layout.autoencoder_record("{model}"),
        loss=layout.autoencoder_loss("{model}"),
    log:
        layout.log("train_autoencoder", "{model}"),
    benchmark:
        layout.benchmark("train_autoencoder", "{model}")
    wildcard_constraints:
        model=one_of(EXPERIMENT.models_where(family="latent", source="train")),
    priority: TRAINING_PRIORITY
    conda:
        "../../environment.yml"
    threads: workflow.cores
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        spec=lambda w: training_run_spec(w.model),
        dataset_spec=lambda w: config["datasets"][model_dataset(w)],
        device=config["device"],
        precision=config["precision"],
        # outside the outputs: Snakemake deletes a failed job's outputs, the rerun resumes from it
        checkpoint=lambda w: layout.training_checkpoint(w.model, "autoencoder"),
    script:
        "../scripts/train_autoencoder.py"


rule train_diffusion:
    input:
        train=lambda w: layout.train_images(model_dataset(w)),
        autoencoder=lambda w: ([layout.autoencoder_dir(w.model)] if EXPERIMENT.models[w.model].latent else []),
        # its seconds and GFLOPs are part of the model's training cost (and budget)
        autoencoder_record=lambda w: ([layout.autoencoder_record(w.model)] if EXPERIMENT.models[w.model].latent else []),
    output:
        model=directory(layout.pipeline_dir("{model}")),
        record=layout.training_record("{model}"),
        loss=layout.training_loss("{model}"),
        # whole training states along the budget (training.kept_states), which milestones train from
        states=directory(layout.training_states("{model}")),
    log:
        layout.log("train_diffusion", "{model}"),
    benchmark:
        layout.benchmark("train_diffusion", "{model}")
    wildcard_constraints:
        model=one_of(EXPERIMENT.models_where(source="train")),
    priority: TRAINING_PRIORITY
    conda:
        "../../environment.yml"
    threads: workflow.cores
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        spec=lambda w: training_run_spec(w.model),
        dataset_spec=lambda w: config["datasets"][model_dataset(w)],
        device=config["device"],
        precision=config["precision"],
        checkpoint=lambda w: layout.training_checkpoint(w.model, "diffusion"),
        # kept states wait here (outside the outputs) until training ends
        states_staging=lambda w: layout.states_staging(w.model),
    script:
        "../scripts/train_diffusion.py"


# The EMA model at one of training.milestones: the model's run resumed from its nearest kept state
# below the milestone and stopped there. A job per milestone, so adding one trains only this.
rule milestone_snapshot:
    input:
        train=lambda w: layout.train_images(model_dataset(w)),
        autoencoder=lambda w: ([layout.autoencoder_dir(w.model)] if EXPERIMENT.models[w.model].latent else []),
        autoencoder_record=lambda w: ([layout.autoencoder_record(w.model)] if EXPERIMENT.models[w.model].latent else []),
        states=layout.training_states("{model}"),
        training_record=layout.training_record("{model}"),
        # the run's clock at each step: a milestone's seconds are the run's own
        training_loss=layout.training_loss("{model}"),
    output:
        model=directory(layout.milestone_dir("{model}", "{milestone}")),
        record=layout.milestone_record("{model}", "{milestone}"),
    log:
        layout.log("milestone_snapshot", "{model}", "{milestone}"),
    benchmark:
        layout.benchmark("milestone_snapshot", "{model}", "{milestone}")
    wildcard_constraints:
        model=one_of(EXPERIMENT.models_where(source="train")),
        milestone=r"[0-9][0-9.e+]*",
    # after its model's training (it needs the kept states) and the timed sampling jobs
    priority: MILESTONE_PRIORITY
    conda:
        "../../environment.yml"
    # Not timed (its seconds are the model's run's), so two share the machine; the replay, mostly
    # none or a step, runs on the model's run's thread count (stages.train.milestone_snapshot).
    threads: EVALUATION_THREADS
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        spec=lambda w: training_run_spec(w.model),
        dataset_spec=lambda w: config["datasets"][model_dataset(w)],
        milestone=lambda w: float(w.milestone),
        device=config["device"],
        precision=config["precision"],
    script:
        "../scripts/milestone_snapshot.py"


rule import_pretrained:
    input:
        fetched=layout.model_assets("{model}"),
    output:
        model=directory(layout.pipeline_dir("{model}")),
        record=layout.training_record("{model}"),
    log:
        layout.log("import_pretrained", "{model}"),
    wildcard_constraints:
        model=one_of(EXPERIMENT.models_where(source="pretrained")),
    conda:
        "../../environment.yml"
    params:
        spec=lambda w: config["models"][w.model],
        dataset_spec=lambda w: config["datasets"][model_dataset(w)],
    script:
        "../scripts/import_pretrained.py"
