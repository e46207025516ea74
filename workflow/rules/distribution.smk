# FID (with its interval and FID at infinity), KID and precision/recall of one run against the
# reference set, from stored features.
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
