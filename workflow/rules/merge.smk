# Merging a run's shards is a few seconds of file I/O that never imports torch: on a cluster it
# runs where snakemake runs. Sample images are merged here, their features in sample_features.
localrules:
    merge_samples,
    sample_features,


rule merge_samples:
    input:
        images=expand(layout.shard_images("{{model}}", "{{sampler}}", "{{steps}}", "{shard}"), shard=SHARDS),
        records=expand(layout.shard_record("{{model}}", "{{sampler}}", "{{steps}}", "{shard}"), shard=SHARDS),
    output:
        images=layout.samples("{model}", "{sampler}", "{steps}"),
        pngs=directory(layout.sample_pngs("{model}", "{sampler}", "{steps}")),
        record=layout.sampling_record("{model}", "{sampler}", "{steps}"),
    log:
        layout.log("merge_samples", "{model}", "{sampler}", "{steps}"),
    conda:
        "../../environment.yml"
    params:
        seeds=all_seeds(SAMPLING),
    script:
        "../scripts/merge_samples.py"


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
