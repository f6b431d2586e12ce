# Findings: label shares and regressions estimated from a surrogate's labels (an LLM coder or the deployed
# fine-tuned model) corrected with a labelled sample of known inclusion probabilities (naive, classical,
# PPI++ and DSL side by side; llmcoder.inference).


rule infer_sample:
    # labels_from: verification -- the labelled sample is drawn before anyone labels it; its documents go
    # onto the verification sheets (rule verify_sheets), and infer takes their verified labels.
    input:
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
        codebook=get_codebook,
        # the uncertainty design weighs documents by the LLM coder's uncertainty; the others need no surrogate
        surrogate=lambda wc: inference_design_surrogate(wc.study),
    output:
        sample=f"{RESULTS}/{{study}}/infer_sample/sample.parquet",
    log:
        "logs/{study}/infer_sample.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/infer_sample.tsv"
    params:
        settings=lambda wc: study_cfg(wc.study)["inference"],
        name=lambda wc: _inference_surrogate_name(wc.study)[0],
        kind=lambda wc: _inference_surrogate_name(wc.study)[1],
        strata=lambda wc: study_cfg(wc.study)["corpus"]["strata"] or [],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/infer_sample.py"


rule infer:
    input:
        surrogate=lambda wc: inference_surrogate(wc.study)[1],
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
        codebook=get_codebook,
        # labels_from: verification -- the sample drawn before verification, and the people's labels of it
        design=lambda wc: inference_design(wc.study),
        verified=lambda wc: (
            [result(wc.study, "verify", "ingest", "verified.parquet")] if inference_verified(wc.study) else []
        ),
        # inference.crossfit: K -- the fold models' predictions (the sample is the fine-tuning's labelled documents)
        crossfit=lambda wc: inference_crossfit(wc.study),
    output:
        done=f"{RESULTS}/{{study}}/inference/summary.json",
    log:
        "logs/{study}/infer.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/infer.tsv"
    params:
        settings=lambda wc: study_cfg(wc.study)["inference"],
        name=lambda wc: inference_surrogate(wc.study)[0],
        kind=lambda wc: inference_surrogate(wc.study)[2],
        strata=lambda wc: study_cfg(wc.study)["corpus"]["strata"] or [],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/infer.py"
