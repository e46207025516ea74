# The images whose reconstructions are scored like samples: the split the reference set is not
# (with evaluation.reference: full there is none).
INDEPENDENT_IMAGES = {"heldout": layout.train_images, "train": layout.heldout_images}


# A latent model's first stage on held-out images: LPIPS, PSNR, SSIM and rFID of x vs D(E(x));
# and rFID/rKID of reconstructions of images independent of the reference, scored as samples are.
rule reconstruction_metrics:
    input:
        model=layout.pipeline_dir("{model}"),
        images=lambda w: layout.heldout_images(model_dataset(w)),
        features=lambda w: layout.reference_features(model_dataset(w), "heldout", FEATURES),
        independent=lambda w: (
            [INDEPENDENT_IMAGES[REFERENCE](model_dataset(w))] if REFERENCE in INDEPENDENT_IMAGES else []
        ),
        reference=lambda w: layout.reference_features(model_dataset(w), REFERENCE, FEATURES),
        assets=layout.assets_record(),
    output:
        record=layout.reconstruction_metrics("{model}"),
        examples=layout.reconstruction_examples("{model}"),
    log:
        layout.log("reconstruction_metrics", "{model}"),
    benchmark:
        layout.benchmark("reconstruction_metrics", "{model}")
    wildcard_constraints:
        model=one_of(EXPERIMENT.models_where(family="latent")),
    priority: LONG_EVALUATION_PRIORITY
    conda:
        "../../environment.yml"
    threads: EVALUATION_THREADS
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        evaluation=EVALUATION,
        num_samples=SAMPLING["num_samples"],
        seed=SAMPLING["seed"],
        device=config["device"],
    script:
        "../scripts/reconstruction_metrics.py"
