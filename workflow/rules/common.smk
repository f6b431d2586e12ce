# Validation of the config and the input functions every rule uses. Paths are built here only.
import os
import re
import sys
from pathlib import Path

# Rules import llmcoder from this checkout (workflow/Snakefile lies in workflow/, the package in pysrc/),
# in the project venv and in conda envs alike.
_PYSRC = str(Path(workflow.basedir).parent / "pysrc")
sys.path.insert(0, _PYSRC)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_PYSRC, os.environ.get("PYTHONPATH")) if p
)
# Shell rules find the Python that runs Snakemake (the project venv) first; a conda env, when used,
# is put in front of it by Snakemake.
os.environ["PATH"] = os.pathsep.join((str(Path(sys.executable).parent), os.environ.get("PATH", "")))

from snakemake.exceptions import WorkflowError

from llmcoder.study import active_studies, validate_config

config.update(validate_config(config, source=" + ".join(map(str, getattr(workflow, "configfiles", []))) or "config/config.yaml"))
RESULTS = config["results"]
STUDIES = list(active_studies(config))


wildcard_constraints:
    study="[A-Za-z0-9][A-Za-z0-9_-]*",


def study_cfg(study):
    """The config block of one study."""
    return config["studies"][study]


def result(study, *parts):
    """Path of an output under results/<study>/."""
    return str(Path(RESULTS, study, *parts))


def get_corpus_raw(wildcards):
    return study_cfg(wildcards.study)["corpus"]["path"]


def get_codebook(wildcards):
    return study_cfg(wildcards.study)["codebook"]


def has_gold(study):
    corpus = study_cfg(study)["corpus"]
    return bool(corpus.get("label") or corpus.get("labels"))


def coder_names(study):
    """LLM coders of a study, named by their YAML file."""
    return [Path(p).stem for p in study_cfg(study)["coders"]]


def coder_yaml(study, coder):
    return {Path(p).stem: p for p in study_cfg(study)["coders"]}[coder]


def _ensembles():
    """The names of the coders that are ensembles (kind: ensemble) in any study."""
    from llmcoder.coders.ensemble import is_ensemble

    return sorted({Path(p).stem for c in config["studies"].values() for p in c.get("coders") or [] if is_ensemble(p)})


ENSEMBLES = _ensembles()
# code_ensemble makes the ensembles' codings (its wildcard matches only their names), code_llm the others'
ENSEMBLE_CODER = "|".join(re.escape(n) for n in ENSEMBLES) or "(?!)"


def ensemble_members(study, coder):
    """The members of an ensemble coder (checked when the workflow is read: _check_ensembles)."""
    from llmcoder.coders.ensemble import EnsembleConfig

    return list(EnsembleConfig.from_yaml(coder_yaml(study, coder)).members)


def _check_ensembles():
    """Every ensemble of an active study lists coders of that study, none an ensemble; a wrong one stops
    the run before anything is built (an error inside an input function would only make the rule
    inapplicable)."""
    from llmcoder.coders.ensemble import EnsembleConfig
    from llmcoder.errors import InputError

    for study in STUDIES:
        for path in study_cfg(study)["coders"]:
            if Path(path).stem not in ENSEMBLES:
                continue
            try:
                cfg = EnsembleConfig.from_yaml(path)
            except InputError as e:
                raise WorkflowError(str(e)) from None
            others = [m for m in cfg.members if m not in coder_names(study) or m in ENSEMBLES]
            if others:
                raise WorkflowError(f"{path}: members {', '.join(others)} are not LLM coders of study '{study}' "
                                    f"(its coders: {', '.join(coder_names(study))}); list each member under "
                                    "the study's coders too (an ensemble cannot be a member)")


def finetune_names(study):
    return [Path(p).stem for p in study_cfg(study)["finetune"]["models"]]


def finetune_yaml(study, model):
    return {Path(p).stem: p for p in study_cfg(study)["finetune"]["models"]}[model]


def size_tag(size):
    """A training-size fraction as it appears in paths: 0.25 -> '0.25', 1 -> '1.0'."""
    return repr(float(size))


def _study_pattern(names):
    """A wildcard constraint matching exactly these study names (and nothing when there are none)."""
    import re

    return "|".join(re.escape(n) for n in names) or "(?!)"


# Studies whose verification was done elsewhere and is imported (verify.mode: import), and the others:
# each kind gets its own rule for verify/ingest/verified.parquet.
IMPORTED = _study_pattern([s for s, c in config["studies"].items() if c["verify"]["mode"] == "import"])
NOT_IMPORTED = _study_pattern([s for s, c in config["studies"].items() if c["verify"]["mode"] != "import"])


def filled_sheets(study):
    """Filled verification sheets: simulated ones (a rule makes them) or the people's (they put them there;
    with verify.allow_missing, only those that are there)."""
    v = study_cfg(study)["verify"]
    folder = "simulated" if v["mode"] == "simulate" else "filled"
    sheets = [result(study, "verify", folder, f"{h}.xlsx") for h in v["humans"]]
    if v["mode"] in ("human", "web") and v["allow_missing"]:
        sheets = [p for p in sheets if Path(p).exists()]
    return sheets


def get_filled_input(wildcards):
    """Input of the ingest: the simulated sheets' folder, or each human's filled sheet."""
    if study_cfg(wildcards.study)["verify"]["mode"] == "simulate":
        return result(wildcards.study, "verify", "simulated")
    return filled_sheets(wildcards.study)


def adjudicated_sheet(study):
    """The filled adjudication sheet (results/<study>/verify/adjudicated.xlsx) when it is there, else none."""
    path = result(study, "verify", "adjudicated.xlsx")
    return [path] if Path(path).exists() else []


def exported_timing(study):
    """timing.csv of a browser verification (verify.mode: web) once 'llmcoder verify export' wrote it."""
    path = result(study, "verify", "filled", "timing.csv")
    return [path] if study_cfg(study)["verify"]["mode"] == "web" and Path(path).exists() else []


def verification_ready(study):
    """True when the ingest can run: simulated verification, or every human sheet filled in."""
    v = study_cfg(study)["verify"]
    if v["mode"] in ("simulate", "import"):
        return True
    sheets = filled_sheets(study)
    return v["mode"] in ("human", "web") and bool(sheets) and all(Path(p).exists() for p in sheets)


def finetune_ready(study):
    cfg = study_cfg(study)
    if not cfg["finetune"]["models"]:
        return False
    return cfg["finetune"]["train_on"] == "gold" or verification_ready(study)


def get_verified(wildcards):
    """Training labels of a fine-tuning job: the verified table, or nothing (gold from the corpus)."""
    if study_cfg(wildcards.study)["finetune"]["train_on"] == "verified":
        return result(wildcards.study, "verify", "ingest", "verified.parquet")
    return []


def model_sizes(study, model):
    """Training sizes of a model: its own (finetune.sizes) or the study's nested sizes."""
    cfg = study_cfg(study)
    return cfg["finetune"]["sizes"].get(model, cfg["split"]["sizes"])


def finetune_runs(study):
    """metrics.json of every fine-tuning job: model x training size x seed."""
    cfg = study_cfg(study)
    return [
        result(study, "finetune", m, f"size{size_tag(s)}_seed{seed}", "metrics.json")
        for m in finetune_names(study)
        for s in model_sizes(study, m)
        for seed in cfg["finetune"]["seeds"]
    ]


def full_run(study, model):
    """The job on the model's largest training size with the first seed: the model evaluated and deployed."""
    seed = study_cfg(study)["finetune"]["seeds"][0]
    return result(study, "finetune", model, f"size{size_tag(max(model_sizes(study, model)))}_seed{seed}")


def systems(study):
    """Every evaluated coder: LLM coders and fine-tuned models, by name -> predictions file."""
    out = {c: result(study, "coders", f"{c}.parquet") for c in coder_names(study)}
    if finetune_ready(study):
        for m in finetune_names(study):
            out[m] = str(Path(full_run(study, m), "predictions_test.parquet"))
    return out


def routed_inputs(study):
    """The corpus predictions and routed CSV of predict.model, for the bias step's routed-vs-rest scores
    (empty when no model coded the corpus)."""
    model = study_cfg(study)["predict"]["model"]
    if not model or not finetune_ready(study):
        return []
    return [result(study, "predictions", f"{model}.parquet"), result(study, "predictions", f"{model}_routed.csv")]


def _inference_surrogate_name(study):
    """(name, kind) of the inference stage's surrogate: an LLM coder, or predict.model (null: predict.model,
    else the first LLM coder)."""
    cfg = study_cfg(study)
    name = cfg["inference"]["surrogate"] or cfg["predict"]["model"] or (coder_names(study) or [None])[0]
    if name in coder_names(study):
        return name, "llm_coder"
    if name is not None and name not in finetune_names(study):
        raise WorkflowError(
            f"studies.{study}.inference.surrogate: '{name}' is neither an LLM coder nor a fine-tuned model "
            f"of the study (coders: {', '.join(coder_names(study)) or 'none'}; predict.model: "
            f"{cfg['predict']['model']})"
        )
    if name is not None and name != cfg["predict"]["model"]:
        raise WorkflowError(
            f"studies.{study}.inference.surrogate: the fine-tuned model '{name}' codes the corpus only as "
            f"predict.model; set predict.model: {name}, or choose an LLM coder"
        )
    return (name, "finetuned") if name is not None else None


def inference_crossfit(study):
    """[the cross-fitting record of the fine-tuned surrogate] when inference.crossfit is on, else []."""
    inf = study_cfg(study)["inference"]
    if not inf["enabled"] or not inf["crossfit"]:
        return []
    chosen = _inference_surrogate_name(study)
    if chosen is None or chosen[1] != "finetuned":
        raise WorkflowError(
            f"studies.{study}.inference.crossfit: cross-fitting trains the fine-tuned surrogate again without "
            "each fold, so inference.surrogate must be predict.model (a fine-tuned model); set crossfit: 0 for "
            "an LLM coder"
        )
    return [result(study, "crossfit", chosen[0], "summary.json")]


def inference_verified(study):
    """True when the inference sample is labelled on the verification sheets (labels_from: verification)."""
    inf = study_cfg(study)["inference"]
    if not inf["enabled"] or inf["labels_from"] != "verification" or inf["crossfit"]:
        return False
    if study_cfg(study)["verify"]["mode"] == "none":
        raise WorkflowError(
            f"studies.{study}.inference.labels_from: verification needs a verification (verify.mode is none); "
            "set verify.mode (human, web, simulate or import), or labels_from: gold"
        )
    return _inference_surrogate_name(study) is not None


def inference_design(study):
    """[the labelled sample drawn before verification] (labels_from: verification), else []."""
    return [result(study, "infer_sample", "sample.parquet")] if inference_verified(study) else []


def inference_design_surrogate(study):
    """[the LLM coder's codings] when the sample drawn before verification weighs by its uncertainty."""
    chosen = _inference_surrogate_name(study)
    if study_cfg(study)["inference"]["design"] != "uncertainty" or chosen is None or chosen[1] != "llm_coder":
        return []
    return [result(study, "coders", f"{chosen[0]}.parquet")]


def inference_surrogate(study):
    """(name, file, kind) of the inference stage's surrogate, or None when the stage is off or cannot run
    yet: an LLM coder's codings, or the corpus predictions of predict.model. The stage needs gold labels
    (labels_from: gold) or the verified labels (labels_from: verification)."""
    inf = study_cfg(study)["inference"]
    if not inf["enabled"]:
        return None
    if inference_verified(study):
        if not verification_ready(study):
            return None
    elif not inf["crossfit"] and not has_gold(study):  # cross-fitting labels: the fine-tuning's own
        return None
    chosen = _inference_surrogate_name(study)
    if chosen is None:
        return None
    name, kind = chosen
    if kind == "llm_coder":
        return name, result(study, "coders", f"{name}.parquet"), kind
    if finetune_ready(study):
        return name, result(study, "predictions", f"{name}.parquet"), kind
    return None


def study_products(s):
    """The declared outputs of a study's steps up to the report, as far as its data allow: what the
    study's manifest lists (with the files each step writes beside them, see llmcoder.results)."""
    cfg = study_cfg(s)
    out = [result(s, "corpus.parquet"), result(s, "splits.parquet")]
    out += [result(s, "coders", f"{c}.parquet") for c in coder_names(s)]
    out += inference_design(s)
    if cfg["verify"]["mode"] == "import":
        out.append(result(s, "verify", "ingest", "verified.parquet"))
    elif cfg["verify"]["mode"] != "none" and coder_names(s):
        out.append(result(s, "verify", "sheets", "manifest.json"))
        if verification_ready(s):
            out.append(result(s, "verify", "ingest", "verified.parquet"))
    if finetune_ready(s):
        out += finetune_runs(s)
        out.append(result(s, "learning_curve.csv"))
        if cfg["predict"]["model"]:
            out.append(result(s, "predictions", f"{cfg['predict']['model']}.parquet"))
    if has_gold(s):
        out += [result(s, "evaluation", name, "metrics.json") for name in systems(s)]
        if coder_names(s):
            out.append(result(s, "reliability", "coders_vs_gold.csv"))
        if systems(s):
            out.append(result(s, "bias", "provenance.json"))
    if inference_surrogate(s):
        out += inference_crossfit(s)
        out.append(result(s, "inference", "summary.json"))
    return out


def report_ready(s):
    """True when the study has something to report: gold to validate against, or verified labels."""
    return study_cfg(s)["report"]["enabled"] and (has_gold(s) or verification_ready(s))


def get_final_output():
    """Everything 'snakemake' builds by default, for every active study: its products, its manifest
    (results/<study>/manifest.json, what R's read_results() reads) and the report."""
    out = []
    for s in STUDIES:
        out += study_products(s)
        out.append(result(s, "manifest.json"))
        if report_ready(s):
            out.append(result(s, "report", "provenance.json"))
    return out


def missing_human_sheets():
    """Messages for studies whose human verification sheets are not filled in yet, or whose adjudication
    queue awaits the adjudicator."""
    from llmcoder.verify import adjudication_message, missing_sheets_message

    msgs = []
    for s in STUDIES:
        v = study_cfg(s)["verify"]
        if v["mode"] in ("human", "web") and coder_names(s):
            web, cb = v["mode"] == "web", study_cfg(s)["codebook"]
            msgs.append(missing_sheets_message(s, v["humans"], sheets_dir=result(s, "verify", "sheets"),
                                               filled_dir=result(s, "verify", "filled"), web=web, codebook=cb))
            msgs.append(adjudication_message(s, ingest_dir=result(s, "verify", "ingest"),
                                             adjudicated=result(s, "verify", "adjudicated.xlsx"), web=web,
                                             codebook=cb))
    return [m for m in msgs if m]


_check_ensembles()
