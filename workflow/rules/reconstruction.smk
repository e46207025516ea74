# A latent model's first stage on held-out images: LPIPS, PSNR, SSIM and rFID of x vs D(E(x)).
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
    threads: EVALUATION_THREADS
    resources:
        gpu=1 if config["device"] != "cpu" else 0,
    params:
        evaluation=EVALUATION,
        device=config["device"],
    script:
        "../scripts/reconstruction_metrics.py"
