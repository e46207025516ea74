# Assets: everything a job reads that would otherwise be downloaded (evaluation weights, hub
# checkpoints, torchvision datasets). These are local rules: they run where snakemake runs, which
# has the network; compute jobs run with HF_HUB_OFFLINE=1 (common.smk) and only read what these left.
localrules:
    fetch_assets,
    fetch_dataset,
    fetch_pretrained,
    fetch_perceptual_backbone,


rule fetch_assets:
    output:
        record=layout.assets_record(),
    log:
        layout.log("fetch_assets", "assets"),
    conda:
        "../../environment.yml"
    params:
        evaluation=EVALUATION,
    script:
        "../scripts/fetch_assets.py"


rule fetch_dataset:
    output:
        record=layout.dataset_assets("{dataset}"),
    log:
        layout.log("fetch_dataset", "{dataset}"),
    wildcard_constraints:
        dataset=one_of(TORCHVISION_DATASETS),
    priority: TRAINING_PRIORITY
    conda:
        "../../environment.yml"
    params:
        spec=lambda w: config["datasets"][w.dataset],
    script:
        "../scripts/fetch_dataset.py"


rule fetch_pretrained:
    output:
        record=layout.model_assets("{model}"),
    log:
        layout.log("fetch_pretrained", "{model}"),
    wildcard_constraints:
        model=one_of(EXPERIMENT.models_where(source="pretrained")),
    conda:
        "../../environment.yml"
    params:
        pretrained=lambda w: config["models"][w.model]["pretrained"],
    script:
        "../scripts/fetch_pretrained.py"


# The LPIPS backbone of a first stage's perceptual loss (models.<m>.autoencoder.perceptual_net).
rule fetch_perceptual_backbone:
    output:
        record=layout.perceptual_assets("{net}"),
    log:
        layout.log("fetch_perceptual_backbone", "{net}"),
    wildcard_constraints:
        net=one_of(PERCEPTUAL_NETS),
    priority: TRAINING_PRIORITY
    conda:
        "../../environment.yml"
    script:
        "../scripts/fetch_perceptual_backbone.py"
