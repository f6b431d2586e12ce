"""Adversarial suite of the steps after verification: evaluate, reliability, finetune, predict, archive.

Each line of ``CASES`` is a bad input a hostile new user hands llmcoder; :func:`adversarial.check` runs
the real console script and asserts exit status 2, no traceback, the file / row / option and a word of
the fix in the message, and that no file was created, changed or removed. Beside the table: interrupted
writes (a writer failing at the k-th file, a ``llmcoder predict`` killed with SIGKILL) leave the
previous outputs whole, and the next run leaves no temp file behind.
"""

from __future__ import annotations

import atexit
import errno
import functools
import io
import os
import shutil
import signal
import subprocess
import tempfile
import time
import warnings
from pathlib import Path

import polars as pl
import pytest
from adversarial import CODEBOOK, Case, check, llmcoder_command, snapshot, write_files

from llmcoder.errors import InputError

GOLD = "doc_id,label\nd1,health\nd2,education\nd3,energy\nd4,health\n"
PRED = "doc_id,label\nd1,health\nd2,energy\nd3,energy\nd4,health\n"
RATINGS = "doc_id,coder,label\n" + "".join(f"d{i},{c},{lab}\n" for i in range(1, 5) for c, lab in
                                           (("ann", "health"), ("bob", "health" if i % 2 else "energy")))


def _parquet(df: pl.DataFrame):
    """Content that writes ``df`` as Parquet."""
    return lambda path: df.write_parquet(path)


def _corpus(n: int = 12, *, text: bool = True, label: bool = True):
    from llmcoder.finetune.synthetic import synthetic_corpus

    df = synthetic_corpus(n, seed=3)
    if not label:
        df = df.drop("label")
    if not text:
        df = df.drop("text")
    return _parquet(df)


@functools.cache
def _tfidf_model() -> Path:
    """A TF-IDF model trained once for this module (a second), in a folder removed at exit."""
    from llmcoder.finetune import train
    from llmcoder.finetune.synthetic import synthetic_corpus

    root = Path(tempfile.mkdtemp(prefix="llmcoder-adv-model."))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    return train({"kind": "tfidf"}, synthetic_corpus(30, seed=0), synthetic_corpus(9, seed=1), root / "model")


def _model_file(name: str):
    return lambda path: shutil.copyfile(_tfidf_model() / name, path)


MODEL = {"model/finetune.json": _model_file("finetune.json"), "model/model.joblib": _model_file("model.joblib")}
PREDICT = {**MODEL, "corpus.parquet": _corpus()}
SPLITS = _parquet(pl.DataFrame({"doc_id": [f"d{i:07d}" for i in range(12)],
                                "split": ["train"] * 6 + ["dev"] * 3 + ["test"] * 3}))
FINETUNE = {"ft.yaml": "kind: tfidf\n", "corpus.parquet": _corpus(), "splits.parquet": SPLITS}
ARCHIVE_CONFIG = "results: results\nstudies:\n  mini:\n    corpus: {path: raw.csv, label: label}\n" \
                 "    codebook: codebook.yaml\n"
ARCHIVE = {"config.yaml": ARCHIVE_CONFIG, "raw.csv": "id,text,label\nd1,More nurses,health\n",
           "codebook.yaml": CODEBOOK, "results/mini/learning_curve.csv": "model,value\nx,1\n"}
EVAL = "evaluate --gold gold.csv --pred pred.csv --out ev"

CASES = [
    # -- evaluate
    Case("evaluate-ci-as-percentage", f"{EVAL} --ci 95", {"gold.csv": GOLD, "pred.csv": PRED},
         ("--ci", "between 0 and 1", "did you mean 0.95?")),
    Case("evaluate-n-boot-negative", f"{EVAL} --n-boot -5", {"gold.csv": GOLD, "pred.csv": PRED},
         ("--n-boot", "-5", "1000")),
    Case("evaluate-pred-without-label-column", EVAL,
         {"gold.csv": GOLD, "pred.csv": PRED.replace("doc_id,label", "doc_id,category")},
         ("pred.csv", "no 'label' or 'labels' column", "column named label")),
    Case("evaluate-corpus-without-gold-as-gold", "evaluate --gold corpus.parquet --pred pred.csv --out ev",
         {"corpus.parquet": _corpus(label=False), "pred.csv": PRED},
         ("corpus.parquet", "no 'label' or 'labels' column", "column named label")),
    Case("evaluate-gold-label-not-in-codebook", f"{EVAL} --codebook cb.yaml",
         {"gold.csv": GOLD.replace("d3,energy", "d3,transport"), "pred.csv": PRED, "cb.yaml": CODEBOOK},
         ("gold.csv", "transport", "codebook")),
    Case("evaluate-pred-not-parquet-bytes", "evaluate --gold gold.csv --pred pred.parquet --out ev",
         {"gold.csv": GOLD, "pred.parquet": b"PK\x03\x04 this is a zip, not parquet"},
         ("pred.parquet", "could not be read", "write it again")),
    Case("evaluate-out-is-a-file", EVAL, {"gold.csv": GOLD, "pred.csv": PRED, "ev": "my notes\n"},
         ("ev", "a file stands where the evaluation folder should be", "folder path")),
    Case("evaluate-out-holds-other-files", EVAL, {"gold.csv": GOLD, "pred.csv": PRED, "ev/notes.txt": "mine\n"},
         ("ev", "notes.txt", "move those files")),
    Case("evaluate-out-is-the-working-folder", "evaluate --gold gold.csv --pred pred.csv --out .",
         {"gold.csv": GOLD, "pred.csv": PRED}, ("--out", "folder llmcoder runs in", "new folder")),
    # -- reliability
    Case("reliability-level-unknown", "reliability r.csv --out rel --level ratio", {"r.csv": RATINGS},
         ("--level", "ratio", "nominal, ordinal or interval")),
    Case("reliability-n-boot-negative", "reliability r.csv --out rel --n-boot -1", {"r.csv": RATINGS},
         ("--n-boot", "-1", "positive count")),
    Case("reliability-out-under-a-file", "reliability r.csv --out rel", {"r.csv": RATINGS, "rel": "x\n"},
         ("rel", "is a file", "move that file")),
    # -- finetune
    Case("finetune-size-as-percentage",
         "finetune --config ft.yaml --corpus corpus.parquet --splits splits.parquet --out job --size 25",
         FINETUNE, ("--size", "between 0 and 1", "did you mean 0.25?")),
    Case("finetune-out-is-a-file",
         "finetune --config ft.yaml --corpus corpus.parquet --splits splits.parquet --out job",
         {**FINETUNE, "job": "x\n"}, ("job", "a file stands where the fine-tuning job folder", "folder path")),
    Case("finetune-corpus-without-gold-or-verified",
         "finetune --config ft.yaml --corpus corpus.parquet --splits splits.parquet --out job",
         {**FINETUNE, "corpus.parquet": _corpus(label=False)}, ("corpus.parquet", "no gold labels", "--verified")),
    # -- predict
    Case("predict-model-metadata-corrupt", "predict model corpus.parquet --out p.parquet",
         {**PREDICT, "model/finetune.json": "{kind: tfidf"}, ("finetune.json", "invalid JSON", "train the model")),
    Case("predict-route-share-as-percentage", "predict model corpus.parquet --out p.parquet --route-share 15",
         PREDICT, ("--route-share", "did you mean 0.15?", "share such as 0.15")),
    Case("predict-out-not-parquet", "predict model corpus.parquet --out p.csv", PREDICT,
         ("p.csv", ".parquet", "path ending in .parquet")),
    Case("predict-out-overwrites-corpus", "predict model corpus.parquet --out corpus.parquet", PREDICT,
         ("corpus.parquet", "also an input", "new file names")),
    Case("predict-out-under-a-file", "predict model corpus.parquet --out sub/p.parquet", {**PREDICT, "sub": "x\n"},
         ("sub", "is a file", "move that file")),
    Case("predict-split-without-splits", "predict model corpus.parquet --out p.parquet --split test", PREDICT,
         ("--split", "--splits", "splits Parquet")),
    Case("predict-splits-without-split-column",
         "predict model corpus.parquet --out p.parquet --splits s.parquet --split test",
         {**PREDICT, "s.parquet": _parquet(pl.DataFrame({"doc_id": ["d0000000"], "part": ["test"]}))},
         ("s.parquet", "doc_id and split columns", "llmcoder split")),
    Case("predict-corpus-without-text", "predict model corpus.parquet --out p.parquet",
         {**PREDICT, "corpus.parquet": _corpus(text=False)}, ("corpus.parquet", "text", "canonical corpus")),
    # -- archive
    Case("archive-unknown-study", "archive --study nope --config config.yaml", ARCHIVE,
         ("config.yaml", "unknown study 'nope'", "mini")),
    Case("archive-study-not-run", "archive --study mini --config config.yaml",
         {k: v for k, v in ARCHIVE.items() if not k.startswith("results/")}, ("no results", "run the workflow")),
    Case("archive-codebook-gone", "archive --study mini --config config.yaml",
         {k: v for k, v in ARCHIVE.items() if k != "codebook.yaml"}, ("codebook.yaml", "put the file")),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_case(case: Case, tmp_path: Path) -> None:
    check(case, tmp_path)


# -- a writer failing at the k-th file leaves the previous folder whole --------------------------------


class _DiskFull:
    """Patch of ``llmcoder.io.atomic_path``: the ``fail_at``-th file written fails with ENOSPC."""

    def __init__(self, fail_at: int) -> None:
        from llmcoder import io as lio

        self.inner, self.left = lio.atomic_path, fail_at

    def __call__(self, target, suffix=""):
        self.left -= 1
        if self.left == 0:
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        return self.inner(target, suffix)


def _hidden(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".llmcoder-tmp" in p.name or ".llmcoder-pending" in p.name)


def _evaluation(seed: int):
    from llmcoder.metrics import evaluate

    gold = pl.read_csv(io.StringIO(GOLD))
    pred = pl.read_csv(io.StringIO(PRED if seed == 0 else GOLD))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # undefined precision of a label nobody predicted
        return evaluate(gold, pred, n_boot=20, random_state=seed)


@pytest.mark.parametrize("fail_at", [1, 3, 5])
def test_write_evaluation_failing_at_kth_file_keeps_the_old_folder(tmp_path: Path, monkeypatch, fail_at: int):
    from llmcoder import io as lio
    from llmcoder.metrics import EVALUATION_FILES, write_evaluation

    out = tmp_path / "ev"
    write_evaluation(_evaluation(0), out, system="old")
    before = snapshot(tmp_path)
    with monkeypatch.context() as m:
        m.setattr(lio, "atomic_path", _DiskFull(fail_at))
        with pytest.raises(OSError, match="No space"):
            write_evaluation(_evaluation(1), out, system="new")
    assert snapshot(tmp_path) == before  # byte for byte, and nothing beside it
    write_evaluation(_evaluation(1), out, system="new")
    assert sorted(p.name for p in out.iterdir() if p.name != lio.OUTPUT_MARK) == sorted(EVALUATION_FILES)
    assert '"system": "new"' in (out / "metrics.json").read_text() and _hidden(tmp_path) == []


def test_a_killed_write_leaves_a_staged_folder_the_next_run_removes(tmp_path: Path):
    from llmcoder.metrics import write_evaluation

    out = tmp_path / "ev"
    write_evaluation(_evaluation(0), out, system="old")
    (tmp_path / ".ev.abcd1234.llmcoder-tmp").mkdir()  # what SIGKILL inside staged_dir leaves
    (tmp_path / ".ev.abcd1234.llmcoder-tmp" / "metrics.json").write_text("{}")
    write_evaluation(_evaluation(1), out, system="new")
    assert _hidden(tmp_path) == []


def test_folder_of_an_older_llmcoder_is_replaced(tmp_path: Path):
    """Outputs written before folders were staged (no mark) are still replaced: only known names are there."""
    from llmcoder.metrics import write_evaluation

    out = tmp_path / "ev"
    out.mkdir()
    (out / "metrics.json").write_text("{}")
    (out / "confusion.csv").write_text("old\n")
    write_evaluation(_evaluation(0), out, system="x")
    assert (out / "confusion.csv").read_text() != "old\n"


def _bias_inputs(root: Path) -> dict[str, Path]:
    from llmcoder.finetune.synthetic import synthetic_corpus

    corpus = synthetic_corpus(12, seed=2).with_columns(party=pl.Series(["a", "b"] * 6))
    corpus.write_parquet(root / "corpus.parquet")
    pl.DataFrame({"doc_id": corpus["doc_id"], "split": "test"}).write_parquet(root / "splits.parquet")
    (root / "cb.yaml").write_text(CODEBOOK)
    rows = [(d, "llm", 0, lab, 1.0 if lab == gold else 0.0, lab == gold) for d, gold in
            zip(corpus["doc_id"], corpus["label"], strict=True) for lab in ("health", "education", "energy")]
    pl.DataFrame(rows, schema=["doc_id", "coder_id", "rotation", "label", "prob", "chosen"],
                 orient="row").write_parquet(root / "llm.parquet")
    pl.DataFrame({"coder_id": ["llm"] * 3, "rotation": [0] * 3, "position": [0, 1, 2],
                  "label": ["health", "education", "energy"]}).write_parquet(root / "llm_orders.parquet")
    files = {"corpus": root / "corpus.parquet", "splits": root / "splits.parquet", "codebook": root / "cb.yaml",
             "llm": root / "llm.parquet", "orders": root / "llm_orders.parquet", "evaluation": root / "evaluation"}
    from llmcoder.stages import evaluate_coder

    evaluate_coder(files["llm"], files["corpus"], files["splits"], files["codebook"], files["evaluation"],
                   system="llm", n_boot=0, seed=0)
    return files


@pytest.mark.parametrize("fail_at", [1, 3])
def test_bias_checks_failing_at_kth_file_keeps_the_old_folder(tmp_path: Path, monkeypatch, fail_at: int):
    from llmcoder import io as lio
    from llmcoder.stages import bias_checks

    f = _bias_inputs(tmp_path)
    out = tmp_path / "bias"

    def run(strata: list[str]) -> dict[str, Path]:
        return bias_checks({"llm": f["llm"]}, {"llm": f["llm"]}, f["corpus"], f["splits"], f["codebook"], out,
                           evaluations={"llm": f["evaluation"]}, orders={"llm": f["orders"]},
                           strata=strata, n_boot=0, seed=0)

    run(["party"])
    before = snapshot(tmp_path)
    with monkeypatch.context() as m:
        m.setattr(lio, "atomic_path", _DiskFull(fail_at))
        with pytest.raises(OSError):
            run(["party"])  # recall_asymmetry.csv, strata.csv, provenance.json
    assert snapshot(tmp_path) == before
    written = run([])  # no strata this time: the old strata.csv goes with the old folder
    assert set(written) == {"recall_asymmetry"} and not (out / "strata.csv").exists() and _hidden(tmp_path) == []


@pytest.mark.parametrize("fail_at", [1, 4, "provenance"])
def test_report_failing_at_kth_file_keeps_the_old_report(tmp_path: Path, monkeypatch, fail_at):
    pytest.importorskip("rpy2", reason="rpy2 (and R) are needed for the report")
    from test_report import make_results

    from llmcoder import rbridge, report
    from llmcoder.rbridge import r_call

    try:
        if not bool(r_call("base::requireNamespace", "llmcoder", quietly=True)[0]):
            pytest.skip("the llmcoder R package is not installed")
    except Exception as err:  # pragma: no cover - depends on the machine
        pytest.skip(f"embedded R does not start: {err}")
    root = make_results(tmp_path / "demo")
    report.build_report(root, formats=("markdown",))
    before = snapshot(root)
    left = [fail_at]

    def failing_r_call(verb, *args, **kwargs):
        if verb in ("llmcoder::write_table", "llmcoder::save_figure") and isinstance(left[0], int):
            left[0] -= 1
            if left[0] == 0:
                raise RuntimeError("R failed while writing")
        return r_call(verb, *args, **kwargs)

    def failing_json(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", "provenance.json")

    with monkeypatch.context() as m:
        m.setattr(rbridge, "r_call", failing_r_call)
        if fail_at == "provenance":
            m.setattr(report, "write_json", failing_json)
        with pytest.raises((RuntimeError, OSError)):
            report.build_report(root, formats=("markdown", "html"))
    assert snapshot(root) == before
    report.build_report(root, formats=("html",))
    assert (root / "report" / "tables" / "metrics.html").is_file()
    assert not (root / "report" / "tables" / "metrics.md").exists() and _hidden(root) == []


def test_finetune_job_failing_keeps_the_previous_job(tmp_path: Path, monkeypatch):
    from llmcoder import predict as lpredict
    from llmcoder.finetune.synthetic import synthetic_corpus
    from llmcoder.jobs import train_and_predict

    corpus = synthetic_corpus(30, seed=4)
    corpus.write_parquet(tmp_path / "corpus.parquet")
    pl.DataFrame({"doc_id": corpus["doc_id"], "split": ["train"] * 18 + ["dev"] * 6 + ["test"] * 6}).write_parquet(
        tmp_path / "splits.parquet")
    args = ({"kind": "tfidf"}, tmp_path / "corpus.parquet", tmp_path / "splits.parquet", None)
    out = tmp_path / "job"
    train_and_predict(*args, size=1.0, seed=1, out_dir=out)
    before = snapshot(tmp_path)

    def broken(*a, **k):
        raise OSError(errno.EIO, "Input/output error", "predictions_test.parquet")

    with monkeypatch.context() as m:
        m.setattr(lpredict, "predict", broken)
        with pytest.raises(OSError):
            train_and_predict(*args, size=1.0, seed=2, out_dir=out)
    assert snapshot(tmp_path) == before
    train_and_predict(*args, size=1.0, seed=2, out_dir=out)
    assert '"seed": 2' in (out / "metrics.json").read_text() and _hidden(tmp_path) == []
    prov = (out / "predictions_test.json").read_text()
    assert str(out / "model") in prov and "llmcoder-tmp" not in prov


# -- predict: the commit, and SIGKILL at several points -----------------------------------------------


def _models(root: Path) -> tuple[Path, Path]:
    """Two TF-IDF models that give different probabilities (different training data)."""
    from llmcoder.finetune import train
    from llmcoder.finetune.synthetic import synthetic_corpus

    a = train({"kind": "tfidf"}, synthetic_corpus(30, seed=0), None, root / "model_a")
    b = train({"kind": "tfidf", "tfidf": {"C": 0.5}}, synthetic_corpus(45, seed=7), None, root / "model_b")
    return a, b


def test_predict_commit_interrupted_is_finished_by_the_next_run(tmp_path: Path, monkeypatch):
    from llmcoder import predict as lpredict
    from llmcoder.finetune.synthetic import write_synthetic_corpus

    a, b = _models(tmp_path)
    corpus = write_synthetic_corpus(tmp_path / "corpus.parquet", 120, rows_per_write=120)
    ref = tmp_path / "ref"
    ref.mkdir()
    lpredict.predict(b, corpus, ref / "p.parquet", chunk_rows=50, progress=False,
                     route=lpredict.Routing(out=ref / "r.csv", share=0.2))
    run = tmp_path / "run"
    run.mkdir()
    out = run / "p.parquet"
    lpredict.predict(a, corpus, out, chunk_rows=50, progress=False, route=lpredict.Routing(out=run / "r.csv"))
    old = {name: (run / name).read_bytes() for name in ("p.parquet", "p.json", "r.csv")}

    real = lpredict._finish_commit
    calls = []

    def killed_after_record(parts, journal):
        calls.append(parts)
        if (parts / lpredict._COMMIT_RECORD).is_file():  # the record is written: die before any rename
            raise KeyboardInterrupt
        return real(parts, journal)

    with monkeypatch.context() as m:
        m.setattr(lpredict, "_finish_commit", killed_after_record)
        with pytest.raises(KeyboardInterrupt):
            lpredict.predict(b, corpus, out, chunk_rows=50, progress=False,
                             route=lpredict.Routing(out=run / "r.csv", share=0.2))
    assert {name: (run / name).read_bytes() for name in old} == old  # nothing renamed yet
    assert real(run / "p.parquet.parts", run / "p.parquet.journal")  # what the next run does first
    assert (run / "p.parquet").read_bytes() == (ref / "p.parquet").read_bytes()
    assert (run / "r.csv").read_bytes() == (ref / "r.csv").read_bytes()
    assert sorted(p.name for p in run.iterdir()) == ["p.json", "p.parquet", "r.csv"]


def _predict_argv(model: Path, corpus: Path, out: Path) -> list[str]:
    return ["predict", str(model), str(corpus), "--out", str(out), "--route-share", "0.1", "--chunk-rows", "40"]


def _journal_lines(path: Path) -> int:
    try:
        return path.read_text().count("\n")
    except FileNotFoundError:
        return 0


def test_predict_killed_keeps_the_previous_predictions_and_resumes_to_the_same_bytes(tmp_path: Path):
    """SIGKILL a real ``llmcoder predict`` a few chunks in and near the end; the previous files stay
    whole (or, once the commit record is written, become the new ones), and the rerun gives the bytes
    of an uninterrupted run."""
    from llmcoder.finetune.synthetic import write_synthetic_corpus
    from llmcoder.predict import Routing, predict

    a, b = _models(tmp_path)
    corpus = write_synthetic_corpus(tmp_path / "corpus.parquet", 4_000, rows_per_write=4_000)
    names = ("p.parquet", "p.json", "p_review.csv")

    def run_here(model: Path, out: Path) -> None:  # what the command does, in this process
        predict(model, corpus, out, chunk_rows=40, progress=False, route=Routing(out=out.with_name("p_review.csv"),
                                                                                share=0.1))

    ref, work = tmp_path / "ref", tmp_path / "work"
    ref.mkdir()
    work.mkdir()
    run_here(b, ref / "p.parquet")  # uninterrupted, with model b
    out = work / "p.parquet"
    run_here(a, out)  # the previous predictions, with model a
    previous, expected = snapshot(work), snapshot(ref)
    journal = work / "p.parquet.journal"
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    env.pop("LLMCODER_DEBUG", None)
    killed_at = []
    for wait_for in (3, 80):  # of 100 chunks
        proc = subprocess.Popen([*llmcoder_command(), *_predict_argv(b, corpus, out)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 120
        while proc.poll() is None and _journal_lines(journal) < wait_for and time.monotonic() < deadline:
            time.sleep(0.002)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        killed_at.append((proc.returncode, _journal_lines(journal)))
        now = snapshot(work)
        old = all(now[n] == previous[n] for n in names)
        new = all(now[n] == expected[n] for n in ("p.parquet", "p_review.csv")) and now["p.json"] != previous["p.json"]
        decided = (work / "p.parquet.parts" / "commit.json").is_file()  # killed between record and renames
        assert old or new or decided, (killed_at, now)
    assert killed_at[0][0] == -signal.SIGKILL and killed_at[0][1] < 100, killed_at  # killed while coding
    run_here(b, out)  # the rerun resumes from the journal
    for name in ("p.parquet", "p_review.csv"):
        assert (work / name).read_bytes() == (ref / name).read_bytes(), name
    assert sorted(p.name for p in work.iterdir()) == sorted(names)


def test_predict_checks_every_output_before_the_model_loads(tmp_path: Path, monkeypatch):
    from llmcoder import finetune
    from llmcoder.predict import Routing, predict

    write_files(tmp_path, PREDICT)

    def no_loading(*a, **k):
        raise AssertionError("the model was loaded before the outputs were checked")

    monkeypatch.setattr(finetune, "load_predictor", no_loading)
    (tmp_path / "taken").write_text("a file\n")
    with pytest.raises(InputError, match="is a file"):
        predict(tmp_path / "model", tmp_path / "corpus.parquet", tmp_path / "p.parquet",
                route=Routing(out=tmp_path / "taken" / "r.csv"))
    with pytest.raises(InputError, match="folder stands where the output file"):
        predict(tmp_path / "model", tmp_path / "corpus.parquet", tmp_path / "model")


# -- the workflow's steps: messages naming the study's files -------------------------------------------


def test_evaluation_steps_name_the_files_at_fault(tmp_path: Path):
    from llmcoder.stages import evaluate_coder, evaluate_finetuned

    f = _bias_inputs(tmp_path)
    pl.read_parquet(f["corpus"]).drop("label").write_parquet(tmp_path / "nogold.parquet")
    with pytest.raises(InputError, match="nogold.parquet: the corpus has no gold labels") as err:
        evaluate_coder(f["llm"], tmp_path / "nogold.parquet", f["splits"], f["codebook"], tmp_path / "ev",
                       system="llm", n_boot=0, seed=0)
    assert "corpus.label" in err.value.fix
    pl.read_parquet(f["llm"]).drop("chosen").write_parquet(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="bad.parquet: column.s. chosen missing"):
        evaluate_finetuned(tmp_path / "bad.parquet", f["corpus"], f["splits"], f["codebook"], tmp_path / "ev",
                           system="ft", n_boot=0, seed=0)
    short = pl.read_parquet(f["llm"]).filter(pl.col("doc_id") != "d0000003").drop("rotation")
    short.write_parquet(tmp_path / "short.parquet")
    with pytest.raises(InputError, match="short.parquet: 1 gold document.s. have no prediction"):
        evaluate_finetuned(tmp_path / "short.parquet", f["corpus"], f["splits"], f["codebook"], tmp_path / "ev",
                           system="ft", n_boot=0, seed=0)
    assert not (tmp_path / "ev").exists()


def test_a_rule_step_ends_bad_input_with_the_message_and_status_2(capsys):
    from llmcoder.errors import rule_errors

    with pytest.raises(SystemExit) as end, rule_errors():
        raise InputError("results/x/corpus.parquet", "the corpus has no gold labels", fix="set corpus.label")
    assert end.value.code == 2
    err = capsys.readouterr().err
    assert "error: results/x/corpus.parquet: the corpus has no gold labels" in err and "Traceback" not in err
    with pytest.raises(SystemExit) as end, rule_errors():
        raise NotADirectoryError(20, "Not a directory", "results/x/evaluation")
    assert end.value.code == 2 and "results/x/evaluation: Not a directory" in capsys.readouterr().err
    with rule_errors():
        value = 7
    assert value == 7
