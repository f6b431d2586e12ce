# Publication: the study's manifest (the results files, by their key in the results contract), then
# the R package, called through rpy2, writes tables (LaTeX, HTML, Markdown), figures (PDF, PNG) and the
# methods section from the files the manifest lists.


rule manifest:
    # What R reads (llmcoder::read_results), in RStudio too: the declared outputs of the study's steps
    # and the files each step wrote beside them, each checked against llmcoder/schemas/results.yaml.
    input:
        products=lambda wc: study_products(wc.study),
    output:
        manifest=f"{RESULTS}/{{study}}/manifest.json",
    log:
        "logs/{study}/manifest.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/manifest.tsv"
    params:
        results=lambda wc: result(wc.study),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/manifest.py"


rule report:
    input:
        manifest=rules.manifest.output.manifest,
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
        # every number of the methods text with its results file, key and field
        sources=f"{RESULTS}/{{study}}/report/methods.json",
        done=f"{RESULTS}/{{study}}/report/provenance.json",
    log:
        "logs/{study}/report.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/report.tsv"
    params:
        formats=lambda wc: study_cfg(wc.study)["report"]["formats"],
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/r.yaml"
    script:
        "../scripts/report.py"
