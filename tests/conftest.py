"""Shared test fixtures: where the real data sets are, and a small valid corpus + codebook."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# rpy2 puts R's and the system's library folders first on LD_LIBRARY_PATH when it is imported (test
# collection imports it); processes started by later tests would inherit that and, with a Python built
# with a shared libpython, load the wrong one. Every test starts from the environment pytest started in.
_LD_LIBRARY_PATH = os.environ.get("LD_LIBRARY_PATH")
SHARED_DATA = Path(os.environ.get("LLMCODER_SHARED_DATA", REPO.parent / "shared" / "data"))

CODEBOOK_YAML = """\
name: Mini policy topics
task: single
instructions: Code the main policy topic.
labels:
  - id: health
    name: Health
    definition: Hospitals, doctors, medicines.
  - id: education
    name: Education
    definition: Schools and universities.
  - id: energy
    name: Energy
    definition: Power, gas, electricity.
"""


def shared_file(*parts: str) -> Path:
    """A file in ../shared/data, or skip the test with the reason when it is absent."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.is_file():
        pytest.skip(f"real data {path} absent (../shared/data sits beside the repository in CI)")
    return path


@pytest.fixture(autouse=True)
def _clean_library_path():
    from llmcoder.rbridge import restore_library_path

    restore_library_path(_LD_LIBRARY_PATH)
    yield


@pytest.fixture
def codebook_path(tmp_path: Path) -> Path:
    p = tmp_path / "codebook.yaml"
    p.write_text(CODEBOOK_YAML, encoding="utf-8")
    return p
