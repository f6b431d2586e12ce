# Publication: the R package, called through rpy2, writes tables (LaTeX, HTML, Markdown), figures
# (PDF, PNG) and the methods section from the study's results files.


rule report:
    input:
        unpack(get_report_inputs),
    # The figures, the HTML tables and the methods text are registered for 'snakemake --report'.
    output:
        figures=report(
            directory(f"{RESULTS}/{{study}}/report/figures"),
            patterns=["{name}.png"],
            caption="../report/figures.rst",
            category="{study}",
            subcategory="Figures",
            labels={"study": "{study}", "figure": "{name}"},
        ),
        tables=report(
            directory(f"{RESULTS}/{{study}}/report/tables"),
            patterns=["{name}.html"],
            caption="../report/tables.rst",
            category="{study}",
            subcategory="Tables",
            labels={"study": "{study}", "table": "{name}"},
        ),
        methods=report(
            f"{RESULTS}/{{study}}/report/methods.md",
            caption="../report/methods.rst",
            category="{study}",
            subcategory="Methods",
            labels={"study": "{study}", "text": "methods section"},
        ),
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
