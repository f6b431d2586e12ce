"""The registry of fine-tuning kinds: every kind is looked up there, and an unknown one is an error that
names the file, the key and the known kinds."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from llmcoder.errors import InputError
from llmcoder.finetune import KINDS, FinetuneConfig, KindSpec, load_predictor, register_kind, train
from llmcoder.finetune.common import Meta, write_meta
from llmcoder.finetune.registry import KindCode, get_kind, known_kinds
from llmcoder.finetune.synthetic import synthetic_corpus

KNOWN = "encoder, tfidf, lora"


def test_the_built_in_kinds_in_order() -> None:
    assert known_kinds() == ("encoder", "tfidf", "lora")


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_registered_kind_constructs_its_config(kind: str, codebook_path: Path) -> None:
    spec = KINDS[kind]
    cfg = FinetuneConfig(kind=kind, codebook=str(codebook_path) if spec.prompted else None)
    assert cfg.model == spec.default_model
    assert cfg.name == (f"{kind}-{spec.default_model}" if spec.default_model else kind)
    assert FinetuneConfig.from_dict(cfg.to_dict()) == cfg
    code = spec.load()
    assert callable(code.train) and callable(code.predictor)


def test_unknown_kind_in_a_yaml_names_the_file_the_key_and_the_known_kinds(tmp_path: Path) -> None:
    path = tmp_path / "svm.yaml"
    path.write_text("kind: svm\nname: svm\n", encoding="utf-8")
    with pytest.raises(InputError) as e:
        FinetuneConfig.from_yaml(path)
    assert e.value.path == str(path)
    assert f"kind is 'svm'; it must be one of {KNOWN}" in str(e.value)


def test_unknown_kind_at_the_cli_exits_2_with_the_message(tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from llmcoder.cli.finetune import register

    app = typer.Typer()
    register(app)
    config = tmp_path / "svm.yaml"
    config.write_text("kind: svm\n", encoding="utf-8")
    for name in ("corpus.parquet", "splits.parquet"):
        (tmp_path / name).write_bytes(b"")  # the config is read before the data
    res = CliRunner().invoke(app, ["finetune", "--config", str(config), "--corpus", str(tmp_path / "corpus.parquet"),
                                   "--splits", str(tmp_path / "splits.parquet"), "--out", str(tmp_path / "out")])
    assert res.exit_code == 2
    assert f"error: {config}: invalid fine-tuning config" in res.output
    assert f"kind is 'svm'; it must be one of {KNOWN}" in res.output
    assert not (tmp_path / "out").exists()


def test_get_kind_names_the_source_and_key() -> None:
    assert get_kind("tfidf") is KINDS["tfidf"]
    with pytest.raises(InputError) as e:
        get_kind("bert", source="config/finetune/x.yaml", key="models.kind")
    assert e.value.path == "config/finetune/x.yaml"
    assert f"models.kind is 'bert'; it must be one of {KNOWN}" in str(e.value)


def test_an_artifact_of_an_unknown_kind_is_refused(tmp_path: Path) -> None:
    write_meta(tmp_path, Meta(kind="svm", task="single", labels=["a", "b"], config={}))
    with pytest.raises(InputError, match="unknown model kind 'svm'"):
        load_predictor(tmp_path)


class _Prior:
    """A predictor of the made-up ``prior`` kind: every label equally likely."""

    def __init__(self, artifact_dir: str | Path, meta: Meta, *, device: str, precision: str) -> None:
        self.labels, self.task, self.thresholds = list(meta.labels), meta.task, None

    def predict_proba(self, texts: list[str], batch_size: int = 64) -> np.ndarray:
        return np.full((len(texts), len(self.labels)), 1 / len(self.labels))

    def lengths(self, texts: list[str]) -> np.ndarray:
        return np.array([len(t) for t in texts])


def _train_prior(config: FinetuneConfig, train_df: pl.DataFrame, dev_df: pl.DataFrame, out_dir: Path, *,
                 labels: list[str], task: str, codebook: object) -> Meta:
    return Meta(kind="prior", task=task, labels=labels, config=config.to_dict())


def test_a_registered_kind_is_trained_and_read_back_through_the_registry(tmp_path: Path) -> None:
    spec = register_kind(KindSpec("prior", default_model="", prompted=False,
                                  load=lambda: KindCode(_train_prior, _Prior)))
    try:
        with pytest.raises(ValueError, match="already registered"):
            register_kind(spec)
        art = train({"kind": "prior"}, synthetic_corpus(20, seed=0), None, tmp_path / "prior")
        predictor = load_predictor(art)
        assert isinstance(predictor, _Prior) and predictor.predict_proba(["a text"]).shape == (1, len(predictor.labels))
        assert FinetuneConfig(kind="prior").name == "prior"
    finally:
        del KINDS["prior"]
    with pytest.raises(InputError, match=f"it must be one of {KNOWN}"):
        FinetuneConfig(kind="prior")
