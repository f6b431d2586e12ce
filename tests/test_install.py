"""llmcoder installed alone: a wheel built from the checkout runs from any folder (the config schema and
defaults ship inside the package, nothing is read from the repository)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import CODEBOOK_YAML, REPO


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The package installed from a wheel (no dependencies: those of the test's venv are used) into a
    folder outside the checkout."""
    import shutil

    target = tmp_path_factory.mktemp("site")
    wheels = tmp_path_factory.mktemp("wheel")
    src = tmp_path_factory.mktemp("src")  # a copy, so that the build leaves nothing in the checkout
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(REPO / "pysrc", src / "pysrc", ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w",
                    str(wheels), str(src)], check=True, capture_output=True, timeout=300)
    wheel = next(wheels.glob("llmcoder-*.whl"))
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    assert (target / "llmcoder" / "schemas" / "config.schema.yaml").is_file()
    return target


def run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(installed)}
    return subprocess.run([sys.executable, "-c", "from llmcoder.cli import main; main()", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


def test_installed_package_runs_outside_the_repository(installed: Path, tmp_path: Path) -> None:
    """--help, validate and prepare (which reads the schema's defaults) work in a folder far from the
    checkout, and the package imported is the installed one."""
    where = run(installed, tmp_path, "--help")
    assert where.returncode == 0 and "validate" in where.stdout
    probe = subprocess.run([sys.executable, "-c", "import llmcoder, llmcoder.study as s; print(llmcoder.__file__); "
                            "print(s.SCHEMA_PATH)"], cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(installed)},
                           capture_output=True, text=True, check=True)
    assert all(line.startswith(str(installed)) for line in probe.stdout.split())
    (tmp_path / "codebook.yaml").write_text(CODEBOOK_YAML, encoding="utf-8")
    (tmp_path / "c.csv").write_text("id,text,label\n1,More nurses,health\n2,New schools,education\n", encoding="utf-8")
    ok = run(installed, tmp_path, "validate", "c.csv", "--codebook", "codebook.yaml", "--label", "label")
    assert ok.returncode == 0, ok.stderr
    assert "2 rows" in ok.stdout
    (tmp_path / "config.yaml").write_text("studies:\n  s:\n    corpus: {path: c.csv, label: label}\n"
                                          "    codebook: codebook.yaml\nrun: [s]\n", encoding="utf-8")
    prep = run(installed, tmp_path, "prepare", "--study", "s")
    assert prep.returncode == 0, prep.stderr
    assert (tmp_path / "results" / "s" / "corpus.parquet").is_file()
    bad = tmp_path / "bad.yaml"
    bad.write_text("studies:\n  s:\n    corpus: {path: c.csv, lable: label}\n    codebook: codebook.yaml\n")
    wrong = run(installed, tmp_path, "prepare", "--config", str(bad), "--study", "s")
    assert wrong.returncode == 2 and "lable" in wrong.stderr and "Traceback" not in wrong.stderr
