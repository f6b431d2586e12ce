"""build_report: the R package's tables, figures and methods text for a results directory.

The results directory is made by the real evaluation code (``llmcoder.metrics``) plus hand-written
reliability, learning-curve and provenance files with the contract's columns.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytest.importorskip("rpy2", reason="rpy2 (and R) are needed for the report")

from llmcoder.io import OUTPUT_MARK  # noqa: E402
from llmcoder.metrics import evaluate, write_evaluation  # noqa: E402

LABELS = ["health", "education", "energy"]


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
    """Two evaluated systems on 90 documents; with extras: reliability, learning curve, records."""
    rng = np.random.default_rng(11)
    n = 90
    gold = pl.DataFrame({"doc_id": [f"d{i:03d}" for i in range(n)],
                         "label": [LABELS[i % 3] for i in range(n)]})
    for system, err in (("gemma3-270m", 0.3), ("minilm ft/v2", 0.1)):
        wrong = pl.Series(rng.random(n) < err)
        pred = gold.with_columns(
            pl.when(wrong).then(pl.lit("energy")).otherwise(pl.col("label")).alias("label")
        )
        result = evaluate(gold, pred, labels=LABELS, n_boot=200, random_state=0)
        write_evaluation(result, root / "evaluation" / system.replace("/", "_"), system=system)
    if extras:
        rel = root / "reliability"
        rel.mkdir(parents=True)
        pl.DataFrame({
            "comparison": ["gemma3-270m vs gold"], "coefficient": ["cohen_kappa"],
            "estimate": [0.61], "se": [0.05], "ci_low": [0.5], "ci_high": [0.7],
            "n_units": [90], "n_coders": [2],
        }).write_csv(rel / "coders_vs_gold.csv")
        ingest = root / "verify" / "ingest"
        ingest.mkdir(parents=True)
        pl.DataFrame({
            "scope": ["all labels"], "coefficient": ["krippendorff_alpha"], "estimate": [0.78],
            "se": [0.04], "ci_low": [0.7], "ci_high": [0.85], "n_units": [120], "n_coders": [2],
            "method": ["bootstrap"],
        }).write_csv(ingest / "reliability.csv")
        pl.DataFrame({
            "model": ["minilm"] * 4, "train_size": [50, 50, 100, 100],
            "train_fraction": [0.5, 0.5, 1.0, 1.0], "seed": [1, 2, 1, 2],
            "metric": ["macro_f1"] * 4, "value": [0.6, 0.64, 0.7, 0.72],
        }).write_csv(root / "learning_curve.csv")
        (root / "provenance.json").write_text(json.dumps({
            "codebook": {"name": "Mini policy topics", "labels": LABELS},
            "gold_sampling": "random sample of the test split",
        }), encoding="utf-8")
    return root


def test_build_report_writes_every_part(r_ready, tmp_path):
    from llmcoder.report import build_report

    root = make_results(tmp_path / "demo")
    paths = build_report(root)
    out = root / "report"
    names = {p.relative_to(out).as_posix() for p in paths}
    expected = {f"tables/{part}.{ext}" for part in ("metrics", "per_class", "reliability")
                for ext in ("tex", "html", "md")}
    expected |= {f"figures/{stem}.{ext}" for stem in ("confusion_gemma3-270m", "confusion_minilm_ft_v2",
                                                      "learning_curve") for ext in ("pdf", "png")}
    expected |= {"methods.md", "methods.tex", "provenance.json"}
    assert names == expected
    assert all(p.stat().st_size > 0 for p in paths)
    # nothing left behind by the staged write but its mark
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        expected | {OUTPUT_MARK})
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []

    # The table shows the numbers of metrics.csv, with CIs, to 3 decimals.
    m = pl.read_csv(root / "evaluation" / "gemma3-270m" / "metrics.csv").row(
        by_predicate=pl.col("metric") == "accuracy", named=True
    )
    cell = f"{m['estimate']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"
    for ext in ("md", "tex", "html"):
        assert cell in (out / "tables" / f"metrics.{ext}").read_text(encoding="utf-8")
    assert "\\toprule" in (out / "tables" / "metrics.tex").read_text(encoding="utf-8")
    assert "<table" in (out / "tables" / "per_class.html").read_text(encoding="utf-8")
    rel_md = (out / "tables" / "reliability.md").read_text(encoding="utf-8")
    assert "gemma3-270m vs gold" in rel_md and "human verifiers: all labels" in rel_md
    assert "0.610 [0.500, 0.700]" in rel_md
    assert (out / "figures" / "confusion_gemma3-270m.pdf").read_bytes()[:4] == b"%PDF"
    assert (out / "figures" / "learning_curve.png").read_bytes()[1:4] == b"PNG"

    methods = (out / "methods.md").read_text(encoding="utf-8")
    assert "codebook \u201cMini policy topics\u201d (3 labels; one label per document)" in methods
    assert "gold standard of 90 documents (random sample of the test split)" in methods
    assert ("Human coders agreed with each other with Krippendorff's alpha 0.78 [0.70, 0.85] "
            "(n = 120)") in methods
    assert "gemma3-270m vs gold, Cohen's kappa 0.61 [0.50, 0.70] (n = 90)" in methods
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
    assert names == {"tables/metrics.md", "tables/per_class.md", "figures/confusion_gemma3-270m.pdf",
                     "figures/confusion_gemma3-270m.png", "figures/confusion_minilm_ft_v2.pdf",
                     "figures/confusion_minilm_ft_v2.png", "methods.md", "provenance.json"}
    methods = (out / "methods.md").read_text(encoding="utf-8")
    assert "Human coders" not in methods and "random sample" not in methods
    assert "a codebook of 3 labels" in methods
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
