rule prepare_data:
    input:
        # torchvision datasets are downloaded by fetch_dataset, on the machine with the network
        fetched=lambda w: [layout.dataset_assets(w.dataset)] if w.dataset in TORCHVISION_DATASETS else [],
    output:
        train=layout.train_images("{dataset}"),
        reference=layout.reference_images("{dataset}"),
        info=layout.data_info("{dataset}"),
    log:
        layout.log("prepare_data", "{dataset}"),
    benchmark:
        layout.benchmark("prepare_data", "{dataset}")
    conda:
        "../../environment.yml"
    params:
        spec=lambda w: config["datasets"][w.dataset],
    script:
        "../scripts/prepare_data.py"
