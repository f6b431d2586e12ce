"""The command line as a user meets it: `llmcoder validate`, `prepare`, `split`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import polars as pl

LLMCODER = Path(sys.executable).with_name("llmcoder")


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(LLMCODER), *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_validate_clean_corpus(tmp_path, codebook_path):
    p = tmp_path / "c.csv"
    p.write_text("id,text,label,year\n1,Hospitals,health,2020\n2,Schools,education,2021\n", encoding="utf-8")
    res = run("validate", str(p), "--codebook", str(codebook_path))
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == (
        f"{p}: ok: 2 rows; 2 with gold label (2 distinct labels, single); "
        "codebook 'Mini policy topics' (3 labels, single); strata: year; read with separator ',' (detected)")


def test_validate_bad_corpus_exits_2_with_file_row_fix(tmp_path, codebook_path):
    p = tmp_path / "c.csv"
    p.write_text("id,text,label\n1,Hospitals,health\n2,,education\n3,Rockets,defence\n", encoding="utf-8")
    res = run("validate", str(p), "--codebook", str(codebook_path))
    assert res.returncode == 2
    assert f"error: {p}: invalid documents" in res.stderr
    assert "row 3, column 'text': empty or whitespace-only text" in res.stderr
    assert "fix:" in res.stderr
    assert res.stdout == ""


def test_prepare_and_split_commands(tmp_path, codebook_path):
    (tmp_path / "c.csv").write_text(
        "id,text,label\n" + "".join(f"{i},text {i},{'health' if i % 2 else 'energy'}\n" for i in range(40)),
        encoding="utf-8")
    (tmp_path / "config.yaml").write_text(
        f"studies:\n  s:\n    corpus: {{path: c.csv, label: label}}\n    codebook: {codebook_path}\n",
        encoding="utf-8")
    res = run("prepare", "--study", "s", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("s: 40 rows")
    res = run("split", "results/s/corpus.parquet", "--out", "splits.parquet", "--train", "0.5",
              "--dev", "0.25", "--test", "0.25", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert dict(pl.read_parquet(tmp_path / "splits.parquet").group_by("split").len().iter_rows()) == {
        "train": 20, "dev": 10, "test": 10}
    bad = run("split", "results/s/corpus.parquet", "--out", "x.parquet", "--train", "0.9", cwd=tmp_path)
    assert bad.returncode == 2 and "must be non-negative and sum to 1" in bad.stderr
    assert not (tmp_path / "x.parquet").exists()
