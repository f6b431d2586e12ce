"""build_report: the R package's tables, figures and methods text for a study's manifest.

The results are the real-run fixture (R/tests/testthat/fixtures/results-mini, made by
tests/fixtures/make_results_mini.py), read through its manifest as the workflow's report rule does.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest

pytest.importorskip("rpy2", reason="rpy2 (and R) are needed for the report")

from llmcoder.io import OUTPUT_MARK  # noqa: E402
from llmcoder.metrics import evaluate, write_evaluation  # noqa: E402
from llmcoder.results import write_manifest  # noqa: E402

FIXTURE = Path(__file__).resolve().parents[1] / "R" / "tests" / "testthat" / "fixtures" / "results-mini"


@pytest.fixture(scope="module")
def r_ready():
    from llmcoder.rbridge import r_call

    try:
        ok = bool(r_call("base::requireNamespace", "llmcoder", quietly=True)[0])
    except Exception as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"embedded R does not start: {err}")
    if not ok:
        pytest.skip("the llmcoder R package is not installed (make setup installs it into .rlib)")


def make_results(root: Path, *, extras: bool = True) -> Path:
    """A copy of the real-run fixture; without extras, a manifest of the evaluations only."""
    shutil.copytree(FIXTURE, root)
    if not extras:
        write_manifest(root, sorted(root.glob("evaluation/*/metrics.json")), study="mini")
    return root


def test_build_report_writes_every_part(r_ready, tmp_path):
    from llmcoder.report import build_report

    root = make_results(tmp_path / "demo")
    paths = build_report(root)
    out = root / "report"
    names = {p.relative_to(out).as_posix() for p in paths}
    expected = {f"tables/{part}.{ext}" for part in ("metrics", "per_class", "reliability")
                for ext in ("tex", "html", "md")}
    expected |= {f"figures/{stem}.{ext}" for stem in ("confusion_smollm2", "confusion_tfidf", "learning_curve")
                 for ext in ("pdf", "png")}
    expected |= {"methods.md", "methods.tex", "provenance.json"}
    assert names == expected
    assert all(p.stat().st_size > 0 for p in paths)
    # nothing left behind by the staged write but its mark
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        expected | {OUTPUT_MARK})
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []

    # The table shows the numbers of metrics.csv, with CIs, to 3 decimals.
    m = pl.read_csv(root / "evaluation" / "smollm2" / "metrics.csv").row(
        by_predicate=pl.col("metric") == "accuracy", named=True
    )
    cell = f"{m['estimate']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
    for ext in ("md", "tex", "html"):
        assert cell in (out / "tables" / f"metrics.{ext}").read_text(encoding="utf-8")
    assert "\\toprule" in (out / "tables" / "metrics.tex").read_text(encoding="utf-8")
    assert "<table" in (out / "tables" / "per_class.html").read_text(encoding="utf-8")
    rel_md = (out / "tables" / "reliability.md").read_text(encoding="utf-8")
    assert "smollm2 vs gold" in rel_md and "human verifiers: all labels" in rel_md
    k = pl.read_csv(root / "reliability" / "coders_vs_gold.csv").row(
        by_predicate=pl.col("coefficient") == "cohen_kappa", named=True)
    assert f"{k['estimate']:.3f} [{k['ci_low']:.3f}, {k['ci_high']:.3f}]" in rel_md
    assert (out / "figures" / "confusion_smollm2.pdf").read_bytes()[:4] == b"%PDF"
    assert (out / "figures" / "learning_curve.png").read_bytes()[1:4] == b"PNG"

    methods = (out / "methods.md").read_text(encoding="utf-8")
    codebook = json.loads((root / "coders" / "smollm2.json").read_text())["codebook"]
    assert codebook["name"] in methods and f"{len(codebook['labels'])} labels" in methods
    assert f"{k['estimate']:.2f} [{k['ci_low']:.2f}, {k['ci_high']:.2f}]" in methods
    assert "200 resamples" in methods
    assert "\\section*{Methods}" in (out / "methods.tex").read_text(encoding="utf-8")

    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["step"] == "report" and prov["r_version"].startswith("R version")
    assert set(prov["files"]) == expected - {"provenance.json"}


def test_absent_parts_are_skipped_not_invented(r_ready, tmp_path):
    from llmcoder.report import build_report

    root = make_results(tmp_path / "bare", extras=False)
    out = tmp_path / "elsewhere"
    names = {p.relative_to(out).as_posix() for p in build_report(root, out, formats=("markdown",))}
    assert names == {"tables/metrics.md", "tables/per_class.md", "figures/confusion_smollm2.pdf",
                     "figures/confusion_smollm2.png", "figures/confusion_tfidf.pdf",
                     "figures/confusion_tfidf.png", "methods.md", "provenance.json"}
    methods = (out / "methods.md").read_text(encoding="utf-8")
    assert "vs gold" not in methods and "human verifiers" not in methods.lower()
    assert not (root / "report").exists()


def test_tables_are_rebuilt_identically(r_ready, tmp_path):
    from llmcoder.report import build_report

    root = make_results(tmp_path / "demo")
    build_report(root, formats=("latex",))
    first = {p: (root / "report" / p).read_bytes() for p in ("tables/metrics.tex", "methods.tex")}
    build_report(root, formats=("latex",))  # the report's own provenance.json is not re-read
    assert first == {p: (root / "report" / p).read_bytes() for p in first}


def test_multi_label_results_have_no_confusion_figure(r_ready, tmp_path):
    from llmcoder.report import build_report

    gold = pl.DataFrame({"doc_id": ["a", "a", "b", "c", "d"], "label": ["x", "y", "x", None, "y"]})
    pred = pl.DataFrame({"doc_id": ["a", "b", "c", "d", "d"], "label": ["x", "x", "y", "y", "x"]})
    root = tmp_path / "multi"
    write_evaluation(evaluate(gold, pred, labels=["x", "y"], n_boot=0), root / "evaluation" / "m",
                     system="m")
    write_manifest(root, [root / "evaluation" / "m" / "metrics.json"], study="multi")
    names = {p.relative_to(root / "report").as_posix() for p in build_report(root, formats=("html",))}
    assert names == {"tables/metrics.html", "tables/per_class.html", "methods.md", "provenance.json"}
    assert not any((root / "report" / "figures").iterdir())  # there, empty: the workflow declares it


def test_build_report_checks_its_arguments(tmp_path):
    from llmcoder.report import build_report

    with pytest.raises(ValueError, match="formats"):
        build_report(tmp_path, formats=("docx",))
    with pytest.raises(ValueError, match="formats"):
        build_report(tmp_path, formats=())
    with pytest.raises(FileNotFoundError, match="results directory not found"):
        build_report(tmp_path / "missing")
    from llmcoder.errors import InputError

    with pytest.raises(InputError, match="no manifest"):
        build_report(tmp_path)  # a folder without a manifest: nothing is globbed


def test_a_stale_folder_beside_the_results_is_not_reported(r_ready, tmp_path):
    """A system evaluated by an earlier run (no longer in the manifest) never reaches the tables."""
    from llmcoder.report import build_report

    root = make_results(tmp_path / "demo")
    shutil.copytree(root / "evaluation" / "tfidf", root / "evaluation" / "old-model")
    build_report(root, formats=("markdown",))
    assert "old-model" not in (root / "report" / "tables" / "metrics.md").read_text(encoding="utf-8")
    assert not (root / "report" / "figures" / "confusion_old-model.png").exists()
