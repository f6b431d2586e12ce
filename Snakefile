# llmcoder: from raw texts to validated, published measurements. One call regenerates everything:
#   snakemake --cores 2 --workflow-profile workflow/profiles/default
from snakemake.utils import min_version

min_version("8.20")


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/coders.smk"
include: "workflow/rules/verify.smk"
include: "workflow/rules/finetune.smk"
include: "workflow/rules/evaluate.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        get_final_output(),
    default_target: True


onsuccess:
    for message in missing_human_sheets():
        print(message)
