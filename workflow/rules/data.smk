# Data layer: raw corpus -> canonical Parquet -> stratified splits with nested training sizes.


rule prepare_corpus:
    input:
        corpus=get_corpus_raw,
        codebook=get_codebook,
    output:
        corpus=f"{RESULTS}/{{study}}/corpus.parquet",
    log:
        "logs/{study}/prepare_corpus.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/prepare_corpus.tsv"
    params:
        corpus=lambda wc: study_cfg(wc.study)["corpus"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/prepare_corpus.py"


rule split:
    input:
        corpus=rules.prepare_corpus.output.corpus,
    output:
        splits=f"{RESULTS}/{{study}}/splits.parquet",
        record=f"{RESULTS}/{{study}}/split.json",
    log:
        "logs/{study}/split.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/split.tsv"
    params:
        split=lambda wc: study_cfg(wc.study)["split"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/split.py"
