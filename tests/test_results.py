"""The results contract (llmcoder/schemas/results.yaml): the real-run fixture, the manifest, the checks."""

from __future__ import annotations

import csv
import hashlib
import json
import shutil
from pathlib import Path

import polars as pl
import pytest

from llmcoder import results
from llmcoder.errors import InputError

REPO = Path(__file__).resolve().parents[1]
#: Made by a small real run of the workflow (tests/fixtures/make_results_mini.py); read by R's tests too.
FIXTURE = REPO / "R" / "tests" / "testthat" / "fixtures" / "results-mini"


@pytest.fixture
def mini(tmp_path: Path) -> Path:
    """A writable copy of the real-run fixture."""
    return Path(shutil.copytree(FIXTURE, tmp_path / "mini"))


def test_contract_loads_with_unique_paths_and_known_steps() -> None:
    c = results.contract()
    paths = [e.path for e in c.values()]
    assert len(paths) == len(set(paths))
    steps = {e.step for e in c.values()}
    rules = set()
    for smk in (REPO / "workflow" / "rules").glob("*.smk"):
        rules |= {line.split()[1].rstrip(":") for line in smk.read_text().splitlines() if line.startswith("rule ")}
    # filled sheets are written by people, the archive by `make archive`; every other step is a rule
    assert steps - rules == {"people", "archive"}, steps - rules
    assert results.entry("evaluation_metrics").wildcards == ("system",)
    with pytest.raises(KeyError, match="known"):
        results.entry("metrics")


def test_paths_and_matching_round_trip() -> None:
    p = results.path_of("finetune_record", model="minilm", size="1.0", seed=2)
    assert p.as_posix() == "finetune/minilm/size1.0_seed2/metrics.json"
    e, wc = results.match(p)
    assert (e.key, wc) == ("finetune_record", {"model": "minilm", "size": "1.0", "seed": "2"})
    assert results.match("coders/gemma3_orders.parquet")[0].key == "coder_orders"  # not coder_codings
    assert results.match("coders/gemma3.parquet")[1] == {"coder": "gemma3"}
    assert results.match("evaluation/x/notes.txt") is None
    with pytest.raises(TypeError, match="system"):
        results.path_of("evaluation_metrics")


def test_the_real_run_fixture_holds_to_the_contract() -> None:
    manifest = results.read_manifest(FIXTURE / "manifest.json")
    assert manifest["study"] == "mini"
    assert results.validate_results(FIXTURE) == {}
    listed = {f["path"] for f in manifest["files"]}
    on_disk = {p.relative_to(FIXTURE).as_posix() for p in FIXTURE.rglob("*") if p.is_file()} - {"manifest.json"}
    assert listed == on_disk
    for f in manifest["files"]:
        data = (FIXTURE / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"] and hashlib.md5(data).hexdigest() == f["md5"]
        assert results.match(f["path"])[0].key == f["key"]
        assert f["key"] in manifest["entries"]
    keys = {f["key"] for f in manifest["files"]}
    for must in ("evaluation_record", "evaluation_metrics", "evaluation_per_class", "evaluation_confusion",
                 "coders_vs_gold", "learning_curve", "bias_positional", "bias_recall_asymmetry", "bias_strata",
                 "verification_summary", "verifier_reliability_csv", "coder_provenance", "finetune_record"):
        assert must in keys, must


def test_full_size_learning_curve_row_equals_the_evaluation() -> None:
    """One scorer: the fine-tuning job's test metrics (learning_curve.csv) are the evaluate rule's numbers."""
    evaluation = json.loads((FIXTURE / "evaluation/tfidf/metrics.json").read_text())
    with open(FIXTURE / "learning_curve.csv", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["model"] == "tfidf" and r["train_fraction"] == "1.0"
                and r["seed"] == "1"]
    assert len(rows) >= 5
    for r in rows:
        assert float(r["value"]) == evaluation[r["metric"]], r["metric"]


def test_checks_name_what_is_wrong() -> None:
    bad = pl.DataFrame({"model": ["a"], "seed": ["x"], "extra": [1]})
    problems = results.check_frame("learning_curve", bad)
    assert "column train_size is missing" in problems
    assert "column seed is String, the contract says integer" in problems
    assert "column extra is not in the contract" in problems
    assert results.check_frame("corpus", pl.DataFrame({"doc_id": ["1"], "text": ["t"], "party": ["A"]})) == []
    assert results.check_record("evaluation_provenance", {"artifact": "evaluation"})[0].startswith("key ")
    assert results.check_record("evaluation_provenance", []) == ["is a JSON list, the contract says an object"]


def test_a_file_outside_the_contract_or_broken_is_reported(mini: Path) -> None:
    (mini / "evaluation/tfidf/notes.txt").write_text("mine")
    per_class = mini / "evaluation/tfidf/per_class.csv"
    per_class.write_text(per_class.read_text().replace("support", "n_gold"))
    problems = results.validate_results(mini)
    assert problems["evaluation/tfidf/notes.txt"] == ["no entry of the results contract names this file"]
    assert "column support is missing" in problems["evaluation/tfidf/per_class.csv"]
    with pytest.raises(RuntimeError, match="per_class.csv: column support is missing"):
        results.write_manifest(mini, [mini / "evaluation/tfidf/metrics.json"], study="mini")


def test_only_benchmarks_and_a_models_own_folder_are_outside_the_contract(mini: Path) -> None:
    """A model's weights and Snakemake's benchmark files are not results; a folder that merely has such a
    name elsewhere (a stray evaluation/x/model/) is checked like any other."""
    job = next((mini / "finetune" / "tfidf").iterdir())
    (job / "model").mkdir(exist_ok=True)
    (job / "model" / "weights.bin").write_bytes(b"\0")
    (mini / "benchmarks").mkdir(exist_ok=True)
    (mini / "benchmarks" / "evaluate_tfidf.tsv").write_text("s\n1\n")
    for stray in ("evaluation/tfidf/model/notes.txt", "verify/logs/x.txt", "coders/adapter/a.txt"):
        (mini / stray).parent.mkdir(parents=True, exist_ok=True)
        (mini / stray).write_text("mine")
    assert sorted(results.validate_results(mini)) == ["coders/adapter/a.txt", "evaluation/tfidf/model/notes.txt",
                                                      "verify/logs/x.txt"]


def test_manifest_lists_a_steps_files_but_not_stale_folders_or_other_coders(mini: Path) -> None:
    shutil.copytree(mini / "evaluation/tfidf", mini / "evaluation/old")  # left by an earlier run
    (mini / "coders/other.json").write_text((mini / "coders/smollm2.json").read_text())
    out = results.write_manifest(mini, [mini / "evaluation/tfidf/metrics.json", mini / "coders/smollm2.parquet"],
                                 study="mini", out=mini / "m.json")
    doc = results.read_manifest(out)
    paths = [f["path"] for f in doc["files"]]
    assert paths == ["evaluation/tfidf/metrics.json", "evaluation/tfidf/confusion.csv",
                     "evaluation/tfidf/metrics.csv", "evaluation/tfidf/per_class.csv",
                     "evaluation/tfidf/provenance.json", "coders/smollm2.parquet", "coders/smollm2.json",
                     "coders/smollm2_orders.parquet"]
    assert doc["entries"]["evaluation_metrics"]["columns"]["estimate"]["type"] == "number"


def test_manifest_of_another_contract_version_is_refused(mini: Path) -> None:
    doc = json.loads((mini / "manifest.json").read_text())
    (mini / "manifest.json").write_text(json.dumps({**doc, "contract_version": 99}))
    with pytest.raises(InputError, match="version 99"):
        results.read_manifest(mini / "manifest.json")
    with pytest.raises(InputError, match="no manifest"):
        results.read_manifest(mini / "nothing.json")
