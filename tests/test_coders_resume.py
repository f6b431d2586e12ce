"""Kill ``llmcoder code`` with SIGKILL mid-run, rerun it, and get exactly the uninterrupted result."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest

pytestmark = pytest.mark.slow

CODEBOOK = """\
name: mini
task: single
labels:
  - {id: health, name: Health, definition: "Hospitals, doctors, medicines."}
  - {id: education, name: Education, definition: "Schools and universities."}
  - {id: energy, name: Energy, definition: "Power, gas, electricity."}
"""
CODER = """\
name: smolresume
model: smollm2-135m
batch_size: 2
threads: 1
device: cpu
"""
WORDS = ["hospital", "school", "power", "tuition", "nurses", "pipeline", "teachers", "grid", "vaccine"]


def _corpus(n: int) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    texts = [" ".join(rng.choice(WORDS, size=int(rng.integers(1, 9)))) for _ in range(n)]
    return pl.DataFrame({"doc_id": [f"doc{i:03d}" for i in range(n)], "text": texts})


def _cmd(tmp: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "llmcoder.cli", "code", str(tmp / "corpus.parquet"),
            "--codebook", str(tmp / "cb.yaml"), "--coder", str(tmp / "coder.yaml"), "--out", str(out),
            "--rotations", "2", "--no-progress"]


def test_sigkill_and_resume_gives_the_uninterrupted_result(tmp_path: Path) -> None:
    pytest.importorskip("transformers")
    (tmp_path / "cb.yaml").write_text(CODEBOOK)
    (tmp_path / "coder.yaml").write_text(CODER)
    _corpus(60).write_parquet(tmp_path / "corpus.parquet")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    out = tmp_path / "killed" / "smol.parquet"
    journal = out.with_name(out.name + ".journal")

    proc = subprocess.Popen(_cmd(tmp_path, out), env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        if journal.is_dir() and len(list(journal.glob("part-*.arrow"))) >= 3:
            break
        time.sleep(0.05)
    assert proc.poll() is None, f"the run ended before it could be killed: {proc.communicate()[1][-2000:]!r}"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    n_parts = len(list(journal.glob("part-*.arrow")))
    assert n_parts >= 3 and not out.exists()

    again = subprocess.run(_cmd(tmp_path, out), env=env, capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming from" in again.stderr
    assert not journal.exists()

    ref_out = tmp_path / "clean" / "smol.parquet"
    ref = subprocess.run(_cmd(tmp_path, ref_out), env=env, capture_output=True, text=True, timeout=300)
    assert ref.returncode == 0, ref.stderr[-3000:]

    a, b = pl.read_parquet(out), pl.read_parquet(ref_out)
    assert a.height == b.height == 60 * 2 * 3
    assert a.select("doc_id", "rotation", "label").is_duplicated().sum() == 0
    assert a.select("doc_id", "rotation", "label").equals(b.select("doc_id", "rotation", "label"))
    assert np.array_equal(a["prob"].to_numpy(), b["prob"].to_numpy())  # bitwise: same batches
    assert a["chosen"].equals(b["chosen"]) and a["n_input_tokens"].equals(b["n_input_tokens"])


def test_cli_errors_exit_2_with_clear_messages(tmp_path: Path) -> None:
    (tmp_path / "cb.yaml").write_text(CODEBOOK)
    _corpus(3).write_parquet(tmp_path / "corpus.parquet")
    (tmp_path / "coder.yaml").write_text("name: bad\nmodel: gpt-17-ultra\nbatchsz: 3\n")
    r = subprocess.run(_cmd(tmp_path, tmp_path / "o.parquet"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "unknown key 'batchsz'" in r.stderr and "Traceback" not in r.stderr
    (tmp_path / "coder.yaml").write_text("name: bad\nmodel: gpt-17-ultra\n")
    r = subprocess.run(_cmd(tmp_path, tmp_path / "o.parquet"), capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "unknown model 'gpt-17-ultra'" in r.stderr and "smollm2-135m" in r.stderr
    assert "HF_HUB_OFFLINE=1" in r.stderr
