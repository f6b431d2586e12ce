# Human verification by rejection: blank sheets -> (people, or a simulated verifier for the demo)
# -> ingest into verified labels, a decision log, an adjudication queue and the coders' reliability.


rule verify_sheets:
    input:
        corpus=rules.prepare_corpus.output.corpus,
        splits=rules.split.output.splits,
        codings=lambda wc: [result(wc.study, "coders", f"{c}.parquet") for c in coder_names(wc.study)],
        codebook=get_codebook,
        # inference.labels_from: verification -- the labelled sample's documents are verified too
        sample=lambda wc: inference_design(wc.study),
    output:
        manifest=f"{RESULTS}/{{study}}/verify/sheets/manifest.json",
    log:
        "logs/{study}/verify_sheets.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/verify_sheets.tsv"
    params:
        settings=lambda wc: study_cfg(wc.study)["verify"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/verify_sheets.py"


rule verify_simulate:
    input:
        manifest=rules.verify_sheets.output.manifest,
        corpus=rules.prepare_corpus.output.corpus,
        codebook=get_codebook,
    output:
        filled=directory(f"{RESULTS}/{{study}}/verify/simulated"),
    log:
        "logs/{study}/verify_simulate.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/verify_simulate.tsv"
    params:
        settings=lambda wc: study_cfg(wc.study)["verify"],
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/verify_simulate.py"


rule verify_ingest:
    # In 'human' mode no rule makes the filled sheets: people do. The workflow builds everything up
    # to the blank sheets, says which files to fill and where, and goes on from here once they exist.
    input:
        filled=get_filled_input,
        manifest=rules.verify_sheets.output.manifest,
        codebook=get_codebook,
        corpus=rules.prepare_corpus.output.corpus,
        # the filled adjudication sheet, once the adjudicator has put it there: editing it reruns the ingest
        adjudication=lambda wc: adjudicated_sheet(wc.study),
        # seconds per decision of a browser verification (verify export writes it beside the sheets)
        timing=lambda wc: exported_timing(wc.study),
    output:
        verified=f"{RESULTS}/{{study}}/verify/ingest/verified.parquet",
    log:
        "logs/{study}/verify_ingest.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/verify_ingest.tsv"
    params:
        settings=lambda wc: study_cfg(wc.study)["verify"],
        filled=lambda wc: filled_sheets(wc.study),
    wildcard_constraints:
        study=NOT_IMPORTED,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/verify_ingest.py"


rule verify_import:
    # verify.mode: import -- the verification was done elsewhere (another tool, or the paper's own
    # decisions): its decision log becomes the study's verified labels, with the same tables as ingest.
    input:
        decisions=lambda wc: study_cfg(wc.study)["verify"]["decisions"],
        corpus=rules.prepare_corpus.output.corpus,
        codebook=get_codebook,
    output:
        verified=f"{RESULTS}/{{study}}/verify/ingest/verified.parquet",
    log:
        "logs/{study}/verify_import.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/verify_import.tsv"
    params:
        settings=lambda wc: study_cfg(wc.study)["verify"],
    wildcard_constraints:
        study=IMPORTED,
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/verify_import.py"
