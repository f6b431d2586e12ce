# Validation of the config and the input functions every rule uses. Paths are built here only.
import os
import sys
from pathlib import Path

# Rules import llmcoder from this checkout, in the project venv and in conda envs alike.
_PYSRC = str(Path(workflow.basedir, "pysrc"))
sys.path.insert(0, _PYSRC)
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (_PYSRC, os.environ.get("PYTHONPATH")) if p
)

from llmcoder.study import active_studies, validate_config

config.update(validate_config(config, source="config.yaml"))
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


def get_final_output():
    """Everything 'snakemake' builds by default, for every active study."""
    out = []
    for s in STUDIES:
        out += [result(s, "corpus.parquet"), result(s, "splits.parquet")]
    return out
