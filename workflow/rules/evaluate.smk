# Evaluation. Reference features are computed once per (dataset, reference set, extractor, resize
# mode) and shared by every model; sample features once per sample set. The weights come from the
# fetch_assets rule (assets.smk).

# evaluation.reference -> the dataset images that set holds (made in data.smk). Reconstruction
# metrics always use the held-out set.
REFERENCE_IMAGES = {"heldout": layout.heldout_images, "train": layout.train_images, "full": layout.full_images}
REFERENCE = EVALUATION["reference"]


wildcard_constraints:
    reference=one_of(REFERENCE_IMAGES),


rule reference_features:
    input:
        images=lambda w: REFERENCE_IMAGES[w.reference](w.dataset),
        assets=layout.assets_record(),
    output:
        features=layout.reference_features("{dataset}", "{reference}", FEATURES),
    log:
        layout.log("reference_features", "{dataset}", "{reference}"),
    benchmark:
        layout.benchmark("reference_features", "{dataset}", "{reference}")
    conda:
        "../../environment.yml"
    threads: workflow.cores
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        evaluation=EVALUATION,
        device=config["device"],
    script:
        "../scripts/reference_features.py"


# Features per sampling shard, on the node that has the GPU, then merged exactly (float64 sums)
# on the submitting machine: a sharded sample set needs no job that reads all of it.
rule sample_feature_shard:
    input:
        images=layout.shard_images("{model}", "{sampler}", "{steps}", "{shard}"),
        assets=layout.assets_record(),
    output:
        features=temp(layout.sample_feature_shard("{model}", "{sampler}", "{steps}", "{shard}", FEATURES)),
    log:
        layout.log("sample_feature_shard", "{model}", "{sampler}", "{steps}", "{shard}"),
    benchmark:
        layout.benchmark("sample_feature_shard", "{model}", "{sampler}", "{steps}", "{shard}")
    conda:
        "../../environment.yml"
    threads: workflow.cores
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        evaluation=EVALUATION,
        device=config["device"],
    script:
        "../scripts/sample_feature_shard.py"


localrules:
    sample_features,


rule sample_features:
    input:
        parts=expand(
            layout.sample_feature_shard("{{model}}", "{{sampler}}", "{{steps}}", "{shard}", FEATURES),
            shard=SHARDS,
        ),
    output:
        features=layout.sample_features("{model}", "{sampler}", "{steps}", FEATURES),
    log:
        layout.log("sample_features", "{model}", "{sampler}", "{steps}"),
    conda:
        "../../environment.yml"
    script:
        "../scripts/sample_features.py"


rule distribution_metrics:
    input:
        sample=layout.sample_features("{model}", "{sampler}", "{steps}", FEATURES),
        reference=lambda w: layout.reference_features(model_dataset(w), REFERENCE, FEATURES),
    output:
        record=layout.distribution_metrics("{model}", "{sampler}", "{steps}"),
    log:
        layout.log("distribution_metrics", "{model}", "{sampler}", "{steps}"),
    benchmark:
        layout.benchmark("distribution_metrics", "{model}", "{sampler}", "{steps}")
    conda:
        "../../environment.yml"
    params:
        evaluation=EVALUATION,
        run=run_key_of,
    script:
        "../scripts/distribution_metrics.py"


rule lpips_metrics:
    input:
        images=layout.samples("{model}", "{sampler}", "{steps}"),
        reference=layout.samples("{model}", "{sampler}", MAX_STEPS),
        assets=layout.assets_record(),
    output:
        record=layout.lpips_metrics("{model}", "{sampler}", "{steps}"),
    log:
        layout.log("lpips_metrics", "{model}", "{sampler}", "{steps}"),
    conda:
        "../../environment.yml"
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        evaluation=EVALUATION,
        device=config["device"],
        run=run_key_of,
        reference_steps=MAX_STEPS,
    script:
        "../scripts/lpips_metrics.py"


rule reconstruction_metrics:
    input:
        model=layout.pipeline_dir("{model}"),
        images=lambda w: layout.heldout_images(model_dataset(w)),
        features=lambda w: layout.reference_features(model_dataset(w), "heldout", FEATURES),
        assets=layout.assets_record(),
    output:
        record=layout.reconstruction_metrics("{model}"),
    log:
        layout.log("reconstruction_metrics", "{model}"),
    benchmark:
        layout.benchmark("reconstruction_metrics", "{model}")
    wildcard_constraints:
        model=one_of(models_where(config, family="latent")),
    conda:
        "../../environment.yml"
    threads: workflow.cores
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        evaluation=EVALUATION,
        device=config["device"],
    script:
        "../scripts/reconstruction_metrics.py"


# A latent model against a pixel model at the same sampler, steps and seeds: the FID difference
# with an interval that resamples both sample sets and the shared reference set together.
rule compare_runs:
    input:
        a=layout.sample_features("{model_a}", "{sampler}", "{steps}", FEATURES),
        b=layout.sample_features("{model_b}", "{sampler}", "{steps}", FEATURES),
        reference=lambda w: layout.reference_features(config["models"][w.model_a]["dataset"], REFERENCE, FEATURES),
    output:
        record=layout.comparison("{model_a}", "{model_b}", "{sampler}", "{steps}"),
    log:
        layout.log("compare_runs", "{model_a}-vs-{model_b}", "{sampler}", "{steps}"),
    benchmark:
        layout.benchmark("compare_runs", "{model_a}-vs-{model_b}", "{sampler}", "{steps}")
    wildcard_constraints:
        model_a=one_of(config["models"]),
        model_b=one_of(config["models"]),
    conda:
        "../../environment.yml"
    params:
        evaluation=EVALUATION,
        run_a=lambda w: run_key(config, w.model_a, w.sampler, w.steps),
        run_b=lambda w: run_key(config, w.model_b, w.sampler, w.steps),
    script:
        "../scripts/compare_runs.py"
