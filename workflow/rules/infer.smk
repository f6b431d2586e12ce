# Findings: label shares and regressions estimated from a surrogate's labels (an LLM coder or the deployed
# fine-tuned model) corrected with a labelled sample of known inclusion probabilities (naive, classical,
# PPI++ and DSL side by side; llmcoder.inference).


rule infer:
    input:
        surrogate=lambda wc: inference_surrogate(wc.study)[1],
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
        codebook=get_codebook,
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
