# Evaluation that runs a network: features and LPIPS. Reference features are computed once per
# (dataset, reference set, extractor, resize mode) and shared by every model; sample features once
# per sampling shard (merged in merge.smk). The weights come from the fetch_assets rule
# (assets.smk). The metrics from stored features are in distribution.smk and compare.smk.

# evaluation.reference -> the dataset images that set holds (made in data.smk). Reconstruction
# metrics always use the held-out set.
REFERENCE_IMAGES = {"heldout": layout.heldout_images, "train": layout.train_images, "full": layout.full_images}


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
    priority: LONG_EVALUATION_PRIORITY
    conda:
        "../../environment.yml"
    threads: EVALUATION_THREADS
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
    threads: EVALUATION_THREADS
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        evaluation=EVALUATION,
        device=config["device"],
    script:
        "../scripts/sample_feature_shard.py"


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
