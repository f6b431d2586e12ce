# Publication: the R package, called through rpy2, writes tables (LaTeX, HTML, Markdown), figures
# (PDF, PNG) and the methods section from the study's results files.


rule report:
    input:
        unpack(get_report_inputs),
    output:
        done=f"{RESULTS}/{{study}}/report/provenance.json",
    log:
        "logs/{study}/report.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/report.tsv"
    params:
        results=lambda wc: result(wc.study),
        formats=lambda wc: study_cfg(wc.study)["report"]["formats"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/r.yaml"
    script:
        "../scripts/report.py"
