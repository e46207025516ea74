rule sample_shard:
    input:
        # the trained model's folder, or its snapshot at a milestone (<model>@<milestone>)
        model=lambda w: layout.model_weights(w.model),
    output:
        images=temp(layout.shard_images("{model}", "{sampler}", "{steps}", "{shard}")),
        record=temp(layout.shard_record("{model}", "{sampler}", "{steps}", "{shard}")),
    log:
        layout.log("sample_shard", "{model}", "{sampler}", "{steps}", "{shard}"),
    benchmark:
        layout.benchmark("sample_shard", "{model}", "{sampler}", "{steps}", "{shard}")
    priority: lambda w: SAMPLING_PRIORITY if timed_sampling(w.model) else MILESTONE_PRIORITY
    conda:
        "../../environment.yml"
    # A final model's sets are timed (every core, nothing beside them); a milestone's are scored
    # for quality only: their shard records, the one place their seconds would be, are temporary.
    threads: lambda w: workflow.cores if timed_sampling(w.model) else EVALUATION_THREADS
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        # what this job draws (specs.ShardJob)
        job=lambda w: {
            "sampler": SAMPLING["samplers"][w.sampler],
            "steps": int(w.steps),
            "seeds": shard_seeds(SAMPLING, int(w.shard)),
            "batch_size": SAMPLING["batch_size"],
            "step_noise": SAMPLING["step_noise"],
            "speedups": SAMPLING["speedups"],
        },
        device=config["device"],
        precision=config["precision"],
        # outside the outputs: Snakemake deletes a failed job's outputs, the rerun reuses these
        batches=lambda w: layout.shard_batches(w.model, w.sampler, w.steps, w.shard),
        weights=lambda w: layout.model_weights(w.model),
    script:
        "../scripts/sample_shard.py"


# Each model's speed over batch sizes, on the device that samples (sampling.throughput_max_batch).
rule sampling_throughput:
    input:
        model=layout.pipeline_dir("{model}"),
    output:
        record=layout.throughput("{model}"),
    log:
        layout.log("sampling_throughput", "{model}"),
    benchmark:
        layout.benchmark("sampling_throughput", "{model}")
    wildcard_constraints:
        model=one_of(EXPERIMENT.models),
    priority: SAMPLING_PRIORITY
    conda:
        "../../environment.yml"
    threads: workflow.cores
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        family=lambda w: config["models"][w.model]["family"],
        max_batch=SAMPLING["throughput_max_batch"],
        configured_batch=SAMPLING["batch_size"],
        speedups=SAMPLING["speedups"],
        device=config["device"],
        precision=config["precision"],
    script:
        "../scripts/sampling_throughput.py"
