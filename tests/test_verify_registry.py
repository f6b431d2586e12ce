"""The registry of decision-log importers (verify.mode: import): names, dispatch, unknown formats."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
import yaml

from llmcoder.codebook import load_codebook
from llmcoder.errors import InputError, rule_errors
from llmcoder.stages import import_verification
from llmcoder.study import SCHEMA_PATH
from llmcoder.verify.adapters import IMPORTERS, get_importer, import_decisions, register_importer
from llmcoder.verify.decide import DECISION_SCHEMA

REPO = Path(__file__).resolve().parents[1]
FLOURISHING_CODEBOOK = REPO / "config" / "studies" / "codebooks" / "flourishing.yaml"

#: One small valid file per format, with the codebook it is read against (None: the tests' mini codebook).
SAMPLES: dict[str, tuple[str, Path | None]] = {
    "decisions": ("doc_id,coder,label,decision,llm_coder\n"
                  "d1,ann,health,keep,gpt\n"
                  "d1,ann,Education,reject,gpt|llama\n", None),
    "flourishing": ("dimension,value,id,coder,accepted,llm\n"
                    "Feeling having a political voice,high,7,1,Y,GPT4\n"
                    "happiness,low,7,1,N,LLAMA2\n", FLOURISHING_CODEBOOK),
}


def _schema_formats() -> list[str]:
    """The enum of ``studies.<study>.verify.decisions_format`` in the config schema (following its $refs)."""
    root = yaml.safe_load(SCHEMA_PATH.read_text(encoding="utf-8"))

    def resolve(node: dict) -> dict:
        while "$ref" in node:
            target = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    node = root
    for step in ("studies", "*", "verify", "decisions_format"):
        node = resolve(node)
        node = node["additionalProperties"] if step == "*" else node["properties"][step]
    return resolve(node)["enum"]


def test_registry_names_are_the_config_schemas_formats():
    """verify.decisions_format is validated by the schema's enum: it and the registry name the same formats."""
    assert sorted(IMPORTERS) == sorted(_schema_formats())


def test_every_registered_format_has_a_sample_here():
    assert set(SAMPLES) == set(IMPORTERS), "add a small sample file for the new format to SAMPLES"


@pytest.mark.parametrize("fmt", sorted(IMPORTERS))
def test_import_decisions_dispatches_through_the_registry(fmt, monkeypatch, codebook_path):
    calls = []

    def spy(path, codebook):
        calls.append((path, codebook))
        return "decisions", "proposals"

    monkeypatch.setitem(IMPORTERS, fmt, spy)
    cb = load_codebook(codebook_path)
    assert import_decisions("log.csv", cb, fmt=fmt) == ("decisions", "proposals")
    assert calls == [("log.csv", cb)]


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_every_registered_importer_reads_its_format(fmt, tmp_path, codebook_path):
    text, codebook = SAMPLES[fmt]
    (tmp_path / "log.csv").write_text(text, encoding="utf-8")
    cb = load_codebook(codebook or codebook_path)
    decisions, proposals = import_decisions(tmp_path / "log.csv", cb, fmt=fmt)
    assert dict(decisions.schema) == DECISION_SCHEMA
    assert decisions.height == 2 and set(decisions["label"]) <= set(cb.ids)
    assert proposals is not None and set(proposals.columns) == {"doc_id", "label", "llm_coders"}
    assert decisions.equals(get_importer(fmt)(tmp_path / "log.csv", cb)[0])


@pytest.mark.parametrize("fmt", ["csv", "Decisions", "", None, ["decisions"]])
def test_unknown_format_is_an_input_error_naming_the_known_formats(fmt, tmp_path, codebook_path):
    with pytest.raises(InputError) as e:
        import_decisions(tmp_path / "absent.csv", load_codebook(codebook_path), fmt=fmt)  # type: ignore[arg-type]
    msg = str(e.value)
    assert "unknown decision-log format" in msg and repr(fmt) in msg
    assert all(name in msg for name in IMPORTERS)
    assert e.value.path == "verify.decisions_format"


def test_unknown_format_ends_a_workflow_job_with_exit_status_2(tmp_path, codebook_path, capsys):
    (tmp_path / "log.csv").write_text(SAMPLES["decisions"][0], encoding="utf-8")
    corpus = tmp_path / "corpus.parquet"
    pl.DataFrame({"doc_id": ["d1"], "text": ["a text"]}).write_parquet(corpus)
    with pytest.raises(SystemExit) as e, rule_errors():
        import_verification(tmp_path / "log.csv", corpus, codebook_path, tmp_path / "out", fmt="spreadsheet",
                            overlap_policy="adjudicate", study="s")
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert "unknown decision-log format 'spreadsheet'" in err and "decisions, flourishing" in err
    assert "Traceback" not in err and not (tmp_path / "out").exists()


def test_a_format_name_is_registered_once():
    before = dict(IMPORTERS)
    with pytest.raises(ValueError, match="registered twice"):
        register_importer("decisions")(lambda path, codebook: (pl.DataFrame(), None))
    assert IMPORTERS == before
