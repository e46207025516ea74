rule prepare_data:
    input:
        # torchvision datasets are downloaded by fetch_dataset, on the machine with the network
        fetched=lambda w: [layout.dataset_assets(w.dataset)] if w.dataset in TORCHVISION_DATASETS else [],
    output:
        train=layout.train_images("{dataset}"),
        heldout=layout.heldout_images("{dataset}"),
        info=layout.data_info("{dataset}"),
    log:
        layout.log("prepare_data", "{dataset}"),
    benchmark:
        layout.benchmark("prepare_data", "{dataset}")
    priority: TRAINING_PRIORITY
    conda:
        "../../environment.yml"
    params:
        spec=lambda w: config["datasets"][w.dataset],
    script:
        "../scripts/prepare_data.py"


# Every image of the source, for evaluation.reference: full (e.g. all 50,000 CIFAR-10 training
# images, as DDPM and DDIM report FID).
rule prepare_full_data:
    input:
        fetched=lambda w: [layout.dataset_assets(w.dataset)] if w.dataset in TORCHVISION_DATASETS else [],
    output:
        images=layout.full_images("{dataset}"),
    log:
        layout.log("prepare_full_data", "{dataset}"),
    benchmark:
        layout.benchmark("prepare_full_data", "{dataset}")
    conda:
        "../../environment.yml"
    params:
        spec=lambda w: config["datasets"][w.dataset],
    script:
        "../scripts/prepare_full_data.py"
