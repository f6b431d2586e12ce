# Fine-tuning on the verified labels: one job per model x nested training size x seed, then the
# learning curve, and the whole corpus coded by the model trained on the full training set.


rule finetune:
    input:
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
        verified=get_verified,
        config=lambda wc: finetune_yaml(wc.study, wc.model),
        codebook=get_codebook,
    output:
        metrics=f"{RESULTS}/{{study}}/finetune/{{model}}/size{{size}}_seed{{seed}}/metrics.json",
        predictions=f"{RESULTS}/{{study}}/finetune/{{model}}/size{{size}}_seed{{seed}}/predictions_test.parquet",
        model=directory(f"{RESULTS}/{{study}}/finetune/{{model}}/size{{size}}_seed{{seed}}/model"),
    log:
        "logs/{study}/finetune_{model}_size{size}_seed{seed}.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/finetune_{{model}}_size{{size}}_seed{{seed}}.tsv"
    wildcard_constraints:
        size=r"[0-9.]+",
        seed=r"[0-9]+",
    threads: lambda wc: study_cfg(wc.study)["finetune"]["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=lambda wc: int(study_cfg(wc.study)["finetune"]["gpu"]),
    conda:
        lambda wc: gpu_conda_env(study_cfg(wc.study)["finetune"]["gpu"])
    script:
        "../scripts/finetune.py"


rule learning_curve:
    input:
        runs=lambda wc: finetune_runs(wc.study),
    output:
        curve=f"{RESULTS}/{{study}}/learning_curve.csv",
    log:
        "logs/{study}/learning_curve.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/learning_curve.tsv"
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/learning_curve.py"


rule predict_corpus:
    input:
        model=lambda wc: str(Path(full_run(wc.study, wc.model), "model")),
        corpus=rules.prepare_corpus.output.corpus,
    output:
        predictions=f"{RESULTS}/{{study}}/predictions/{{model}}.parquet",
        routed=f"{RESULTS}/{{study}}/predictions/{{model}}_routed.csv",
    log:
        "logs/{study}/predict_{model}.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/predict_{{model}}.tsv"
    params:
        route_share=lambda wc: study_cfg(wc.study)["predict"]["route_share"],
        precision=lambda wc: study_cfg(wc.study)["predict"]["precision"],
    threads: lambda wc: study_cfg(wc.study)["finetune"]["threads"]
    resources:
        mem_mb=8000,
        runtime=120,
        gpu=lambda wc: int(study_cfg(wc.study)["finetune"]["gpu"]),
    conda:
        lambda wc: gpu_conda_env(study_cfg(wc.study)["finetune"]["gpu"])
    script:
        "../scripts/predict_corpus.py"


rule crossfit:
    # inference.crossfit: K -- the fine-tuning's labelled documents reused as the inference sample: K models,
    # each trained without one fold, predict that fold and every unlabelled document (llmcoder.crossfit).
    input:
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
        verified=get_verified,
        config=lambda wc: finetune_yaml(wc.study, wc.model),
        codebook=get_codebook,
    output:
        record=f"{RESULTS}/{{study}}/crossfit/{{model}}/summary.json",
    log:
        "logs/{study}/crossfit_{model}.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/crossfit_{{model}}.tsv"
    params:
        folds=lambda wc: study_cfg(wc.study)["inference"]["crossfit"],
        seed=lambda wc: study_cfg(wc.study)["inference"]["seed"],
    threads: lambda wc: study_cfg(wc.study)["finetune"]["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=lambda wc: int(study_cfg(wc.study)["finetune"]["gpu"]),
    conda:
        lambda wc: gpu_conda_env(study_cfg(wc.study)["finetune"]["gpu"])
    script:
        "../scripts/crossfit.py"
