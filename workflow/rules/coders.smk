# LLM coders: each coder (model + prompt + settings, one YAML file) codes every document, output
# constrained to the codebook, resumable from its journal, optionally under several label orders.


def gpu_conda_env(gpu):
    """The conda environment (``--sdm conda``) of a job: envs/gpu.yaml (CUDA torch, bitsandbytes) when
    it asks for a GPU (resources gpu=1), else envs/python.yaml (CPU torch). Relative to this file; used
    by the GPU-capable rules here and in finetune.smk (tests/test_conda_envs.py checks the mapping)."""
    return "../../envs/gpu.yaml" if int(gpu) else "../../envs/python.yaml"


rule code_llm:
    input:
        corpus=rules.prepare_corpus.output.corpus,
        codebook=get_codebook,
        coder=lambda wc: coder_yaml(wc.study, wc.coder),
    # The journal (<codings>.journal/) is left undeclared so that it survives a killed job: the
    # rerun resumes from it, or finishes putting the three outputs in place when the job was killed
    # while writing them (they are staged in the journal and renamed together). Bad input (coder
    # YAML, corpus, model, an unreachable server) ends the job with exit 2 and the message in the log.
    output:
        codings=f"{RESULTS}/{{study}}/coders/{{coder}}.parquet",
        orders=f"{RESULTS}/{{study}}/coders/{{coder}}_orders.parquet",
        provenance=f"{RESULTS}/{{study}}/coders/{{coder}}.json",
    log:
        "logs/{study}/code_{coder}.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/code_{{coder}}.tsv"
    params:
        rotations=lambda wc: study_cfg(wc.study)["coding"]["rotations"],
        limit=lambda wc: study_cfg(wc.study)["coding"]["limit"],
    threads: lambda wc: study_cfg(wc.study)["coding"]["threads"]
    resources:
        mem_mb=8000,
        runtime=240,
        gpu=lambda wc: int(study_cfg(wc.study)["coding"]["gpu"]),
    conda:
        lambda wc: gpu_conda_env(study_cfg(wc.study)["coding"]["gpu"])
    script:
        "../scripts/code_llm.py"


# An ensemble's name matches both rules; code_ensemble's wildcard matches only the ensembles' names.
ruleorder: code_ensemble > code_llm


rule code_ensemble:
    # A coder made of coders (kind: ensemble): its members' codings combined by mean probability or
    # majority vote, written in the same format, so that every later step treats it as an LLM coder.
    input:
        codings=lambda wc: [result(wc.study, "coders", f"{m}.parquet") for m in ensemble_members(wc.study, wc.coder)],
        provenance=lambda wc: [result(wc.study, "coders", f"{m}.json") for m in ensemble_members(wc.study, wc.coder)],
        orders=lambda wc: [result(wc.study, "coders", f"{m}_orders.parquet") for m in ensemble_members(wc.study, wc.coder)],
        coder=lambda wc: coder_yaml(wc.study, wc.coder),
    output:
        codings=f"{RESULTS}/{{study}}/coders/{{coder}}.parquet",
        orders=f"{RESULTS}/{{study}}/coders/{{coder}}_orders.parquet",
        provenance=f"{RESULTS}/{{study}}/coders/{{coder}}.json",
    log:
        "logs/{study}/code_{coder}.log",
    benchmark:
        f"{RESULTS}/{{study}}/benchmarks/code_{{coder}}.tsv"
    wildcard_constraints:
        coder=ENSEMBLE_CODER,
    params:
        members=lambda wc: ensemble_members(wc.study, wc.coder),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    conda:
        "../../envs/python.yaml"
    script:
        "../scripts/code_ensemble.py"
