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
    expected = {f"tables/{part}.{ext}" for part in ("metrics", "metrics_full", "per_class", "reliability",
                                                    "reliability_full", "verification", "inference",
                                                    "inference_strata")
                for ext in ("tex", "html", "md")}
    expected |= {f"figures/{stem}.{ext}" for stem in ("confusion_smollm2", "confusion_tfidf", "learning_curve",
                                                      "positional_bias", "calibration", "inference")
                 for ext in ("pdf", "png")}
    expected |= {"methods.md", "methods.tex", "methods.json", "calibration.csv", "provenance.json"}
    assert names == expected
    assert all(p.stat().st_size > 0 for p in paths)
    # nothing left behind by the staged write but its mark
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        expected | {OUTPUT_MARK})
    assert [p.name for p in root.iterdir() if p.name.startswith(".")] == []

    # The main table shows the numbers of metrics.csv, with CIs, to 3 decimals; the appendix every metric.
    m = pl.read_csv(root / "evaluation" / "smollm2" / "metrics.csv")
    acc = m.row(by_predicate=pl.col("metric") == "accuracy", named=True)
    cell = f"{acc['estimate']:.3f} [{acc['ci_low']:.3f}, {acc['ci_high']:.3f}]"
    for ext in ("md", "tex", "html"):
        assert cell in (out / "tables" / f"metrics.{ext}").read_text(encoding="utf-8")
    main = (out / "tables" / "metrics.md").read_text(encoding="utf-8")
    full = (out / "tables" / "metrics_full.md").read_text(encoding="utf-8")
    assert "Krippendorff's alpha" not in main and "Krippendorff's alpha" in full
    assert "\\toprule" in (out / "tables" / "metrics.tex").read_text(encoding="utf-8")
    assert "<table" in (out / "tables" / "per_class.html").read_text(encoding="utf-8")
    rel_md = (out / "tables" / "reliability.md").read_text(encoding="utf-8")
    assert "smollm2 vs. gold" in rel_md and "keep/reject decisions" in rel_md and "human ceiling" in rel_md
    k = pl.read_csv(root / "reliability" / "coders_vs_gold.csv").row(
        by_predicate=pl.col("coefficient") == "cohen_kappa", named=True)
    assert f"{k['estimate']:.3f} [{k['ci_low']:.3f}, {k['ci_high']:.3f}]" in rel_md
    assert "Brennan-Prediger" not in rel_md
    assert "Brennan-Prediger" in (out / "tables" / "reliability_full.md").read_text(encoding="utf-8")
    assert (out / "figures" / "confusion_smollm2.pdf").read_bytes()[:4] == b"%PDF"
    assert (out / "figures" / "learning_curve.png").read_bytes()[1:4] == b"PNG"

    methods = (out / "methods.md").read_text(encoding="utf-8")
    codebook = json.loads((root / "coders" / "smollm2.json").read_text())["codebook"]
    assert codebook["name"] in methods and f"{len(codebook['labels'])} labels" in methods
    tk = pl.read_csv(root / "evaluation" / "tfidf" / "metrics.csv").row(
        by_predicate=pl.col("metric") == "cohen_kappa", named=True)
    assert f"Cohen's kappa {tk['estimate']:.2f} [{tk['ci_low']:.2f}, {tk['ci_high']:.2f}]" in methods
    n_boot = json.loads((root / "evaluation" / "tfidf" / "metrics.json").read_text())["n_boot"]
    assert f"({n_boot} resamples)" in methods
    assert "flag" not in methods.lower()
    assert "\\section*{Methods}" in (out / "methods.tex").read_text(encoding="utf-8")

    # methods.json: every number with its file; each resolves to the value printed
    sources = json.loads((out / "methods.json").read_text(encoding="utf-8"))
    assert sources["text"] == "methods.md"
    kappa = next(n for n in sources["numbers"] if n["name"] == "tfidf_cohen_kappa")
    assert kappa["text"] in methods
    assert kappa["sources"] == [{"file": "evaluation/tfidf/metrics.csv", "key": "evaluation_metrics",
                                 "field": "estimate", "row": {"metric": "cohen_kappa"}}]
    assert kappa["value"] == pytest.approx(tk["estimate"])
    listed = {(f["key"], f["path"]) for f in json.loads((root / "manifest.json").read_text())["files"]}
    for number in sources["numbers"]:
        for src in number["sources"]:
            assert (src["key"], src["file"]) in listed, number

    prov = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    assert prov["step"] == "report" and prov["r_version"].startswith("R version")
    assert set(prov["files"]) == expected - {"provenance.json"}


def test_calibration_data_and_ece_agree_with_the_evaluation_and_r(r_ready, tmp_path):
    """calibration.csv holds, per test document, the label each system gave: its accuracy is the
    evaluation's accuracy; the ECE of Python and of R's calibration_bins() agree, and both agree with
    a direct computation here."""
    import numpy as np

    from llmcoder.rbridge import r_call
    from llmcoder.report import calibration_data, expected_calibration_error

    root = make_results(tmp_path / "demo")
    data = calibration_data(root / "manifest.json")
    assert set(data["system"].unique()) == {"smollm2", "tfidf"}
    assert set(data["kind"].unique()) == {"top label"}
    for system in ("smollm2", "tfidf"):
        record = json.loads((root / "evaluation" / system / "metrics.json").read_text())
        d = data.filter(pl.col("system") == system)
        assert d.height == record["n"]  # one row per test document it coded
        assert d["doc_id"].n_unique() == d.height
        assert d["correct"].mean() == pytest.approx(record["accuracy"])
    ece = expected_calibration_error(data)
    for system in ("smollm2", "tfidf"):  # one implementation: the evaluation wrote the same ECE and bins
        record = json.loads((root / "evaluation" / system / "metrics.json").read_text())
        assert record["ece_top_label"] == pytest.approx(ece[system], abs=1e-12)
        d = data.filter(pl.col("system") == system)
        assert sum(b["n"] for b in record["calibration"]["reliability"]) == d.height
        assert record["calibration"]["n"] + record["calibration"]["n_excluded"] == record["n"]
    path = tmp_path / "calibration.csv"
    data.write_csv(path)
    r_ece = r_call("base::attr", r_call("llmcoder::calibration_bins", str(path), bins=10), "ece")
    r_names = list(r_call("base::names", r_ece))
    assert {n: float(v) for n, v in zip(r_names, r_ece, strict=True)} == pytest.approx(ece, abs=1e-12)
    for system, value in ece.items():  # by hand: floor(confidence * 10), the last bin closed
        d = data.filter(pl.col("system") == system)
        conf, correct = d["confidence"].to_numpy(), d["correct"].cast(float).to_numpy()
        b = np.minimum(np.floor(conf * 10 + 1e-12), 9)
        direct = sum((b == k).mean() * abs(correct[b == k].mean() - conf[b == k].mean()) for k in np.unique(b))
        assert value == pytest.approx(direct, abs=1e-9)


def test_the_report_refuses_any_listed_file_changed_since_the_run(tmp_path):
    """R reads only some of the listed files (not the sheets' xlsx); the report still checks every one, so a
    report never describes a run whose files were changed afterwards, and nothing is written."""
    from llmcoder.errors import InputError
    from llmcoder.report import build_report

    root = make_results(tmp_path / "demo")
    sheet = next(root.glob("verify/sheets/*.xlsx"))
    sheet.write_bytes(sheet.read_bytes() + b"\0")
    with pytest.raises(InputError, match="changed since the manifest was written") as err:
        build_report(root, formats=("markdown",))
    assert sheet.name in str(err.value)
    assert not (root / "report").exists()


def test_calibration_data_refuses_a_changed_file(tmp_path):
    from llmcoder.errors import InputError
    from llmcoder.report import calibration_data

    root = make_results(tmp_path / "demo")
    codings = root / "coders" / "smollm2.parquet"
    pl.read_parquet(codings).head(10).write_parquet(codings)
    with pytest.raises(InputError, match="changed since the manifest was written"):
        calibration_data(root / "manifest.json")


def test_calibration_counts_an_unanswered_document_as_the_evaluation_does():
    """A document without a chosen label is wrong in the evaluation ('(none)'), so never 'correct' in the
    calibration data; one whose probabilities are all NaN (no valid answer) states no confidence and is
    left out, instead of a NaN that sorts first and names the alphabetically first label."""
    from llmcoder.metrics import top_label as _top_label

    nan = float("nan")
    probs = pl.DataFrame({
        "doc_id": ["d1", "d1", "d2", "d2", "d3", "d3"],
        "label": ["a", "b", "a", "b", "a", "b"],
        "prob": [0.2, 0.8, 0.6, 0.4, nan, nan],
        "chosen": [False, True, False, False, False, False],
    })
    top = _top_label(probs).sort("doc_id")
    assert top["doc_id"].to_list() == ["d1", "d2"]
    assert top["label"].to_list() == ["b", "a"]
    assert top["prob"].to_list() == [0.8, 0.6]
    assert top["given"].to_list() == [True, False]


def test_calibration_reads_the_predictions_the_evaluation_scored(tmp_path):
    """Seeds [42, 7]: the workflow evaluates (and deploys) the first configured seed; the calibration data
    follow the evaluation's record, not the lowest seed."""
    from llmcoder.report import _corpus_job

    files = [{"key": "finetune_test_predictions", "path": f"finetune/m/size1.0_seed{s}/predictions_test.parquet",
              "wildcards": {"model": "m", "size": "1.0", "seed": str(s)}} for s in (7, 42)]
    (tmp_path / "evaluation" / "m").mkdir(parents=True)
    (tmp_path / "evaluation" / "m" / "provenance.json").write_text(json.dumps(
        {"predictions": "results/s/finetune/m/size1.0_seed42/predictions_test.parquet"}))
    doc = {"files": [{"key": "evaluation_provenance", "path": "evaluation/m/provenance.json",
                      "wildcards": {"system": "m"}}, *files]}
    assert _corpus_job(tmp_path, doc, "m", files)["path"].endswith("seed42/predictions_test.parquet")
    doc["files"] = files  # without the record: the largest size, lowest seed
    assert _corpus_job(tmp_path, doc, "m", files)["path"].endswith("seed7/predictions_test.parquet")


def test_verification_modes_are_reported_where_selection_was_timed(r_ready, tmp_path):
    """verify.selection_share: the summary's timing by mode gives tables/verification_modes.* and the
    methods sentence; a run without it has neither (test_build_report_writes_every_part)."""
    from llmcoder.report import build_report

    root = make_results(tmp_path / "modes")
    listed = [f["path"] for f in json.loads((root / "manifest.json").read_text())["files"]]
    summary = json.loads((root / "verify/ingest/summary.json").read_text())
    mode = {"n_documents": 12, "n_timed": 12, "median_seconds_per_document": 7.5, "q1_seconds_per_document": 5.0,
            "q3_seconds_per_document": 9.0, "n_gold": 12, "agreement_with_gold": 0.75, "agreement_ci_low": 0.468,
            "agreement_ci_high": 0.911}
    summary["timing"] = {"file": "verify/filled/timing.csv", "n_decisions": 40, "n_timed": 40, "median_seconds": 3.0,
                         "q1_seconds": 2.0, "q3_seconds": 4.0, "median_seconds_by_coder": {"anna": 3.0},
                         "by_mode": {"rejection": mode, "selection": {**mode, "n_documents": 4, "n_gold": 4,
                                                                      "median_seconds_per_document": 12.25}}}
    (root / "verify/ingest/summary.json").write_text(json.dumps(summary))
    write_manifest(root, [root / p for p in listed], study="mini")
    build_report(root, formats=("markdown",))
    table = (root / "report/tables/verification_modes.md").read_text(encoding="utf-8")
    assert "Selection (label chosen from the codebook)" in table and "12.2 (5.0 to 9.0)" in table
    assert "0.750 [0.468, 0.911]" in table
    methods = (root / "report/methods.md").read_text(encoding="utf-8")
    assert "(4 in all) were drawn at random and shown for selection" in methods
    assert "a median of 12.2 seconds by selection and 7.5 seconds by rejection" in methods


def test_an_ensemble_is_described_in_the_methods_text(r_ready, tmp_path):
    """An ensemble among the coders (its provenance from llmcoder.coders.ensemble) gets its own sentence:
    members, how they were combined, and how far they agreed, each number traced to coders/<ens>.json."""
    from llmcoder.coders.ensemble import EnsembleConfig, ensemble_codings
    from llmcoder.report import build_report

    root = make_results(tmp_path / "ens")
    listed = [f["path"] for f in json.loads((root / "manifest.json").read_text())["files"]]
    coders = root / "coders"
    # a second member: the fixture's coder with every fourth document's answer moved to another label
    a = pl.read_parquet(coders / "smollm2.parquet")
    docs = a["doc_id"].unique(maintain_order=True).to_list()
    moved = set(docs[::4])
    b = a.with_columns(pl.when(pl.col("doc_id").is_in(list(moved))).then(pl.col("prob").shift(1).over("doc_id")
                                                                         .fill_null(pl.col("prob").last().over("doc_id")))
                       .otherwise(pl.col("prob")).alias("prob"), pl.lit("smolb-00000000").alias("coder_id"))
    b = b.with_columns((pl.col("prob") == pl.col("prob").max().over("doc_id", "rotation")).alias("chosen"))
    b.write_parquet(coders / "smolb.parquet")
    pl.read_parquet(coders / "smollm2_orders.parquet").with_columns(pl.lit("smolb-00000000").alias("coder_id")) \
        .write_parquet(coders / "smolb_orders.parquet")
    rec = json.loads((coders / "smollm2.json").read_text())
    (coders / "smolb.json").write_text(json.dumps({**rec, "coder_id": "smolb-00000000"}))
    (tmp_path / "ens.yaml").write_text("kind: ensemble\nmembers: [smollm2, smolb]\ncombine: vote\n")
    ensemble_codings({m: coders / f"{m}.parquet" for m in ("smollm2", "smolb")},
                     {m: coders / f"{m}.json" for m in ("smollm2", "smolb")},
                     {m: coders / f"{m}_orders.parquet" for m in ("smollm2", "smolb")},
                     EnsembleConfig.from_yaml(tmp_path / "ens.yaml"), coders / "ens.parquet", n_boot=50)
    agreement = json.loads((coders / "ens.json").read_text())["agreement"]
    new = [f"coders/{n}" for n in ("smolb.parquet", "smolb.json", "smolb_orders.parquet", "ens.parquet", "ens.json",
                                   "ens_orders.parquet")]
    write_manifest(root, [root / p for p in listed + new], study="mini")
    build_report(root, formats=("markdown",))
    methods = (root / "report/methods.md").read_text(encoding="utf-8")
    share = f"{100 * agreement['share_all_agree']:.1f}%"
    assert ("The coder `ens` is an ensemble: it combined `smollm2` and `smolb` by majority vote (its probabilities "
            f"are the members' vote shares); its members chose the same label for {share} of the "
            f"{agreement['n_documents']} documents (Fleiss' kappa ") in methods
    assert len(moved) < agreement["n_documents"] - agreement["n_all_agree"] + len(moved)  # they disagree somewhere
    numbers = json.loads((root / "report/methods.json").read_text())["numbers"]
    kappa = next(n for n in numbers if n["name"] == "ens_member_agreement")
    assert kappa["sources"][0]["file"] == "coders/ens.json" and "/agreement/coefficients/" in kappa["sources"][0]["field"]
    assert "Prompt of `ens`" not in methods  # an ensemble has no prompt of its own


def test_absent_parts_are_skipped_not_invented(r_ready, tmp_path):
    from llmcoder.report import build_report

    root = make_results(tmp_path / "bare", extras=False)
    out = tmp_path / "elsewhere"
    names = {p.relative_to(out).as_posix() for p in build_report(root, out, formats=("markdown",))}
    assert names == {"tables/metrics.md", "tables/metrics_full.md", "tables/per_class.md",
                     "figures/confusion_smollm2.pdf", "figures/confusion_smollm2.png", "figures/confusion_tfidf.pdf",
                     "figures/confusion_tfidf.png", "methods.md", "methods.json", "provenance.json"}
    methods = (out / "methods.md").read_text(encoding="utf-8")
    assert "verifi" not in methods.lower() and "ceiling" not in methods and "Routing" not in methods
    files = {s["file"] for n in json.loads((out / "methods.json").read_text())["numbers"] for s in n["sources"]}
    assert files and files <= {p.relative_to(root).as_posix() for p in root.glob("evaluation/*/*")}
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
    assert names == {"tables/metrics.html", "tables/metrics_full.html", "tables/per_class.html", "methods.md",
                     "methods.json", "provenance.json"}
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
