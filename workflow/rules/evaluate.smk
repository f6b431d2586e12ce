# Validation: every coder (LLM or fine-tuned) against gold on the test split, agreement among
# coders, and the bias checks (positional, per-class recall, per-stratum).


rule evaluate:
    input:
        codings=lambda wc: systems(wc.study)[wc.system],
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
        codebook=get_codebook,
    output:
        metrics=f"{RESULTS}/{{study}}/evaluation/{{system}}/metrics.json",
    log:
        "logs/{study}/evaluate_{system}.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/evaluate_{{system}}.tsv"
    params:
        settings=lambda wc: study_cfg(wc.study)["evaluate"],
        is_llm_coder=lambda wc: wc.system in coder_names(wc.study),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/evaluate.py"


rule coders_vs_gold:
    input:
        codings=lambda wc: [result(wc.study, "coders", f"{c}.parquet") for c in coder_names(wc.study)],
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
    output:
        table=f"{RESULTS}/{{study}}/reliability/coders_vs_gold.csv",
    log:
        "logs/{study}/coders_vs_gold.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/coders_vs_gold.tsv"
    params:
        names=lambda wc: coder_names(wc.study),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/coders_vs_gold.py"


rule bias_checks:
    input:
        codings=lambda wc: [result(wc.study, "coders", f"{c}.parquet") for c in coder_names(wc.study)],
        orders=lambda wc: [result(wc.study, "coders", f"{c}_orders.parquet") for c in coder_names(wc.study)],
        predictions=lambda wc: list(systems(wc.study).values()),
        evaluations=lambda wc: [result(wc.study, "evaluation", s, "metrics.json") for s in systems(wc.study)],
        routed=lambda wc: routed_inputs(wc.study),
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
        codebook=get_codebook,
    output:
        done=f"{RESULTS}/{{study}}/bias/provenance.json",
    log:
        "logs/{study}/bias_checks.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/bias_checks.tsv"
    params:
        coders=lambda wc: coder_names(wc.study),
        systems=lambda wc: list(systems(wc.study)),
        predict_model=lambda wc: study_cfg(wc.study)["predict"]["model"],
        strata=lambda wc: study_cfg(wc.study)["corpus"]["strata"] or [],
        settings=lambda wc: study_cfg(wc.study)["evaluate"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/bias_checks.py"
