"""``llmcoder verify sheets | simulate | ingest`` end to end on a small study."""

from __future__ import annotations

import polars as pl
import typer
import verify_helpers as h
from typer.testing import CliRunner

from llmcoder.cli.verify import register


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.command()
    def other() -> None:  # a second command keeps 'verify' a sub-command, as in llmcoder's CLI
        pass

    return app


def test_cli_sheets_simulate_ingest(tmp_path):
    corp = h.corpus(20)
    corp.write_parquet(tmp_path / "corpus.parquet")
    cod = h.codings(corp)
    (tmp_path / "coders").mkdir()
    for coder in ("gpt", "llama"):
        cod.filter(pl.col("coder_id") == coder).write_parquet(tmp_path / "coders" / f"{coder}.parquet")
    h.codebook().save(tmp_path / "codebook.yaml")
    run = CliRunner().invoke
    app = _app()
    r = run(app, ["verify", "sheets", "--corpus", str(tmp_path / "corpus.parquet"), "--codings",
                  str(tmp_path / "coders"), "--codebook", str(tmp_path / "codebook.yaml"), "--coders", "anna,ben",
                  "--overlap", "0.5", "--study", "demo", "--route", "uncertain_first", "--out",
                  str(tmp_path / "sheets")])
    assert r.exit_code == 0, r.output
    assert "manifest.json: 20 documents (10 shared), 0 without proposals" in r.output
    assert (tmp_path / "sheets" / "anna.xlsx").is_file() and (tmp_path / "sheets" / "ben.csv").is_file()
    r = run(app, ["verify", "simulate", "--sheets-dir", str(tmp_path / "sheets"), "--corpus",
                  str(tmp_path / "corpus.parquet"), "--out", str(tmp_path / "filled"), "--error-rate", "0"])
    assert r.exit_code == 0, r.output
    assert "SIMULATED" in r.output
    r = run(app, ["verify", "ingest", str(tmp_path / "filled" / "anna.xlsx"), str(tmp_path / "filled" / "ben.xlsx"),
                  "--manifest", str(tmp_path / "sheets" / "manifest.json"), "--codebook",
                  str(tmp_path / "codebook.yaml"), "--out", str(tmp_path / "out")])
    assert r.exit_code == 0, r.output
    assert "20 of 20 documents verified (SIMULATED verification), 0 to adjudicate" in r.output
    v = pl.read_parquet(tmp_path / "out" / "verified.parquet")
    assert v.height == 20 and v["source"].str.starts_with("simulated-").all()


def test_cli_bad_input_exits_2(tmp_path):
    corp = h.corpus(6)
    corp.write_parquet(tmp_path / "corpus.parquet")
    h.codings(corp).with_columns(label=pl.lit("sports")).write_parquet(tmp_path / "bad.parquet")
    h.codebook().save(tmp_path / "codebook.yaml")
    r = CliRunner().invoke(_app(), ["verify", "sheets", "--corpus", str(tmp_path / "corpus.parquet"), "--codings",
                                    str(tmp_path / "bad.parquet"), "--codebook", str(tmp_path / "codebook.yaml"),
                                    "--coders", "anna", "--out", str(tmp_path / "sheets")])
    assert r.exit_code == 2
    assert "label 'sports' is not in the codebook" in r.stderr
    assert not (tmp_path / "sheets").exists()
