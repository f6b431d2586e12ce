"""verify.mode: import -- a verification done elsewhere becomes the study's verified labels."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from conftest import shared_file
from llmcoder.codebook import load_codebook
from llmcoder.errors import InputError
from llmcoder.stages import import_verification
from llmcoder.verify.adapters import decisions_from_flourishing, read_decision_log

REPO = Path(__file__).resolve().parents[1]
FLOURISHING_CODEBOOK = REPO / "config" / "studies" / "codebooks" / "flourishing.yaml"


def _corpus(tmp_path: Path, gold: dict[str, str | None]) -> Path:
    df = pl.DataFrame({"doc_id": list(gold), "text": [f"text {d}" for d in gold], "label": list(gold.values())},
                      schema={"doc_id": pl.Utf8, "text": pl.Utf8, "label": pl.Utf8})
    df.write_parquet(tmp_path / "corpus.parquet")
    return tmp_path / "corpus.parquet"


LOG = """doc_id,coder,label,decision,llm_coder
d1,ann,health,keep,gpt
d1,ann,Education,reject,gpt|llama
d2,ann,energy,Y,llama
d2,bob,energy,N,llama
d3,bob,education,yes,gpt
"""


def test_decision_log_maps_names_and_yes_no(tmp_path, codebook_path):
    (tmp_path / "log.csv").write_text(LOG, encoding="utf-8")
    dec, prop = read_decision_log(tmp_path / "log.csv", load_codebook(codebook_path))
    assert dec["label"].to_list() == ["health", "education", "energy", "energy", "education"]
    assert dec["decision"].to_list() == ["keep", "reject", "keep", "reject", "keep"]
    assert dec["row"].to_list() == [2, 3, 4, 5, 6] and dec["raw"][2] == "Y"
    got = {(d, lab): tuple(c) for d, lab, c in prop.iter_rows()}
    assert got[("d1", "education")] == ("gpt", "llama") and got[("d2", "energy")] == ("llama",)


@pytest.mark.parametrize(("row", "fix_words", "rows"), [
    ("d3,bob,education,maybe,gpt\n", "keep or reject", [7]),
    ("d3,bob,transport,keep,gpt\n", "not in the codebook", [7]),
    ("d1,ann,health,reject,gpt\n", "more than once", [2, 7]),
])
def test_decision_log_errors_name_the_rows(tmp_path, codebook_path, row, fix_words, rows):
    (tmp_path / "log.csv").write_text(LOG + row, encoding="utf-8")
    with pytest.raises(InputError) as e:
        read_decision_log(tmp_path / "log.csv", load_codebook(codebook_path))
    msg = str(e.value)
    assert fix_words in msg and "log.csv" in msg
    assert [p.row for p in e.value.problems] == rows


def test_decision_log_missing_column(tmp_path, codebook_path):
    (tmp_path / "log.csv").write_text("doc_id,coder,label\nd1,ann,health\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"\['decision'\] missing"):
        read_decision_log(tmp_path / "log.csv", load_codebook(codebook_path))


def test_import_stage_writes_verified_labels_and_compares_with_gold(tmp_path, codebook_path):
    (tmp_path / "log.csv").write_text(LOG, encoding="utf-8")
    corpus = _corpus(tmp_path, {"d1": "health", "d2": "energy", "d3": "health", "d4": None})
    summary = import_verification(tmp_path / "log.csv", corpus, codebook_path, tmp_path / "ingest", fmt="decisions",
                                  overlap_policy="adjudicate", study="s")
    verified = pl.read_parquet(tmp_path / "ingest" / "verified.parquet")
    # d1: health kept; d2: ann keeps and bob rejects energy -> adjudication; d3: education kept.
    assert dict(verified.select("doc_id", "label").iter_rows()) == {"d1": "health", "d3": "education"}
    assert summary["n_adjudication_queue"] == 1 and summary["import_format"] == "decisions"
    # Against gold: d1 agrees, d3 does not; d2 waits for adjudication.
    assert summary["vs_corpus_gold"] == {"n_compared": 2, "share_equal": 0.5, "mean_jaccard": 0.5,
                                         "n_reference_only": 1, "n_verified_only": 0}
    acc = pl.read_csv(tmp_path / "ingest" / "acceptance.csv")
    assert set(acc["llm_coder"]) == {"gpt", "llama"}
    assert (tmp_path / "ingest" / "adjudication").is_dir()


def test_import_stage_rejects_documents_outside_the_corpus(tmp_path, codebook_path):
    (tmp_path / "log.csv").write_text(LOG, encoding="utf-8")
    corpus = _corpus(tmp_path, {"d1": "health", "d2": "energy"})
    with pytest.raises(InputError, match="not in the corpus") as e:
        import_verification(tmp_path / "log.csv", corpus, codebook_path, tmp_path / "ingest", fmt="decisions",
                            overlap_policy="adjudicate", study="s")
    assert [p.row for p in e.value.problems] == [6]
    assert not (tmp_path / "ingest").exists()  # nothing written


def test_flourishing_format_onto_the_codebook(tmp_path):
    (tmp_path / "f.csv").write_text(
        "dimension,value,id,coder,accepted,llm\n"
        "Feeling having a political voice,high,7,1,Y,GPT4\n"
        "happiness,low,7,1,N,LLAMA2\n"
        "world peace,high,8,1,Y,GPT4\n", encoding="utf-8")
    cb = load_codebook(FLOURISHING_CODEBOOK)
    with pytest.raises(InputError, match="world peace") as e:
        decisions_from_flourishing(tmp_path / "f.csv", level=False, codebook=cb)
    assert [p.row for p in e.value.problems] == [4]
    with pytest.raises(ValueError, match="level=False"):
        decisions_from_flourishing(tmp_path / "f.csv", codebook=cb)
    lines = (tmp_path / "f.csv").read_text().splitlines()[:3]
    (tmp_path / "f.csv").write_text("\n".join(lines) + "\n")
    d = decisions_from_flourishing(tmp_path / "f.csv", level=False, codebook=cb)
    assert d["label"].to_list() == ["political_voice", "happiness"]


def test_flourishing_import_reproduces_the_published_dimensions(tmp_path):
    """The paper's decisions, dimensions only: every tweet verified without adjudication has
    exactly the published dimension set."""
    from llmcoder.corpus import CorpusSpec, prepare_corpus

    codings = shared_file("rethinking_scale", "flourishing_llm_codings_verified.csv")
    tweets = shared_file("rethinking_scale", "flourishing_tweets.csv")
    cb = load_codebook(FLOURISHING_CODEBOOK)
    prepare_corpus(CorpusSpec(path=str(tweets), labels_col="dimensions", strata=[]), cb, tmp_path / "c.parquet")
    s = import_verification(codings, tmp_path / "c.parquet", FLOURISHING_CODEBOOK, tmp_path / "ingest",
                            fmt="flourishing", overlap_policy="adjudicate", study="flourishing")
    assert (s["n_documents"], s["n_verified"], s["n_adjudication_queue"]) == (2434, 2268, 166)
    assert s["vs_corpus_gold"]["n_compared"] == 2268 and s["vs_corpus_gold"]["share_equal"] == 1.0
    rel = pl.read_csv(tmp_path / "ingest" / "reliability.csv").filter(pl.col("scope") == "all labels")
    assert rel.height and rel["estimate"].is_between(-1, 1).all()
