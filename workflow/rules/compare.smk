# A latent model against a pixel model at the same sampler, steps and seeds: the FID difference
# with an interval that resamples both sample sets and the shared reference set together.
rule compare_runs:
    input:
        a=layout.sample_features("{model_a}", "{sampler}", "{steps}", FEATURES),
        b=layout.sample_features("{model_b}", "{sampler}", "{steps}", FEATURES),
        reference=lambda w: layout.reference_features(EXPERIMENT.models[w.model_a].dataset, REFERENCE, FEATURES),
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
        run_a=lambda w: EXPERIMENT.run_key(w.model_a, w.sampler, w.steps),
        run_b=lambda w: EXPERIMENT.run_key(w.model_b, w.sampler, w.steps),
    script:
        "../scripts/compare_runs.py"
