rule prepare_data:
    output:
        train=layout.train_images("{dataset}"),
        reference=layout.reference_images("{dataset}"),
        info=layout.data_info("{dataset}"),
    params:
        spec=lambda w: config["datasets"][w.dataset],
    conda:
        "../../environment.yml"
    log:
        layout.log("prepare_data", "{dataset}"),
    benchmark:
        layout.benchmark("prepare_data", "{dataset}")
    script:
        "../scripts/prepare_data.py"
