# Human evaluation (config human_eval): a rating page made from the sample sets under study, and
# the scores of the answer files raters drop into <ratings_dir>/<study>/. A new answer file
# changes this rule's inputs, so the next run scores it (and rebuilds the report).
HUMAN_EVAL = config["human_eval"]


# Both are small: on a cluster they run where snakemake runs.
localrules:
    human_eval_study,
    human_eval_scores,


rule human_eval_study:
    input:
        samples=[layout.samples(r["model"], r["sampler"], r["steps"]) for r in EXPERIMENT.human_eval_runs()],
        reference=lambda w: REFERENCE_IMAGES[REFERENCE](EXPERIMENT.human_eval_runs()[0]["dataset"]),
    output:
        page=layout.human_eval_page("{study}"),
        trials=layout.human_eval_trials("{study}"),
    log:
        layout.log("human_eval_study", "{study}"),
    conda:
        "../../environment.yml"
    params:
        # only what decides the trials: a change of how answers are scored keeps the page
        settings={key: HUMAN_EVAL[key] for key in TRIAL_SETTINGS} if HUMAN_EVAL else {},
        runs=EXPERIMENT.human_eval_runs(),
        reference_set=REFERENCE,
    script:
        "../scripts/human_eval_study.py"


rule human_eval_scores:
    input:
        study=layout.human_eval_trials("{study}"),
        answers=lambda w: answer_files(EXPERIMENT.human_eval.ratings_dir, w.study),
    output:
        record=layout.human_eval_scores("{study}"),
    log:
        layout.log("human_eval_scores", "{study}"),
    conda:
        "../../environment.yml"
    params:
        settings=HUMAN_EVAL,
    script:
        "../scripts/human_eval_scores.py"
