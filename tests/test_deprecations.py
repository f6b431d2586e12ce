"""No deprecated calls: scoring uses the current transformers cache API, and the conftest hook turns
deprecation warnings caused by llmcoder calls into errors (third-party warnings stay warnings)."""

from __future__ import annotations

import logging
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

from llmcoder.codebook import Codebook, Label
from llmcoder.coders.config import CoderConfig

CB = Codebook(labels=(Label("health", "Health"), Label("education", "Macroeconomics"),
                      Label("energy", "Crime and justice")), instructions="Code the main policy topic.")
DOCS = ["Waiting lists for hip surgery keep growing.", "Gas prices"]


def _llmcoder_function(src: str, name: str, monkeypatch: pytest.MonkeyPatch) -> object:
    """A function defined inside the llmcoder namespace (set on ``llmcoder.coders.scoring`` for this test)."""
    import llmcoder.coders.scoring as scoring

    ns: dict = {"__name__": scoring.__name__, "warnings": warnings, "logging": logging}
    exec(compile(src, scoring.__file__, "exec"), ns)  # noqa: S102 - test code, fixed text
    monkeypatch.setattr(scoring, name, ns[name], raising=False)
    return getattr(scoring, name)


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize("packed", [None, False], ids=["packed", "expanded"])
def test_scoring_uses_the_current_cache_api(smol, packed: bool | None) -> None:
    """A real scoring call (SmolLM2, 2 documents, both paths) warns nothing about ``past_key_values``."""
    import transformers

    from llmcoder.coders.prompt import build_label_prompt
    from llmcoder.coders.scoring import LabelScorer, cache_kwarg, score_labels

    model, tok, _ = smol
    assert cache_kwarg(model) == "cache"  # transformers 5: the forward's cache parameter
    prompt = build_label_prompt(CoderConfig(name="t", model="smollm2-135m", options="names"), CB, tok)
    assert LabelScorer(model, tok, prompt).step2_len > 0  # several-token labels: the packed/expanded paths run
    logs = _Records()
    tf_logger = logging.getLogger("transformers")
    transformers.utils.logging.warning_once.cache_clear()  # a message logged once before is logged again
    tf_logger.addHandler(logs)
    try:
        with warnings.catch_warnings(record=True) as seen:
            warnings.simplefilter("always")
            fast = score_labels(model, tok, prompt, DOCS, batch_size=2, packed=packed)
            slow = score_labels(model, tok, prompt, DOCS, use_cache=False)
    finally:
        tf_logger.removeHandler(logs)
    np.testing.assert_allclose(fast, slow, atol=1e-4, rtol=0)
    deprecations = [str(w.message) for w in seen if issubclass(w.category, (FutureWarning, DeprecationWarning))]
    assert not [m for m in deprecations if "past_key_values" in m], deprecations
    assert not [m for m in logs.messages if "past_key_values" in m or "deprecat" in m.lower()], logs.messages


def test_the_hook_would_have_failed_the_old_call(smol) -> None:
    """Passing the cache under its old name from llmcoder code raises transformers' FutureWarning."""
    from llmcoder.coders.prompt import build_label_prompt
    from llmcoder.coders.scoring import LabelScorer

    model, tok, _ = smol
    prompt = build_label_prompt(CoderConfig(name="t", model="smollm2-135m"), CB, tok)
    scorer = LabelScorer(model, tok, prompt)
    scorer._cache_kw = "past_key_values"
    with pytest.raises(FutureWarning, match="past_key_values"):
        scorer.score_encoded(scorer.encode(DOCS))


def test_a_deprecation_from_llmcoder_code_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    old_api = _llmcoder_function(
        "def old_api():\n    warnings.warn('old_api is deprecated', FutureWarning, stacklevel=2)\n    return 1\n",
        "old_api", monkeypatch)
    with pytest.raises(FutureWarning, match="old_api is deprecated") as err:
        old_api()
    assert any("tests/conftest.py" in n for n in getattr(err.value, "__notes__", []))
    pending = _llmcoder_function(
        "def pending():\n    warnings.warn('soon gone', DeprecationWarning)\n", "pending", monkeypatch)
    with pytest.raises(DeprecationWarning):
        pending()


def test_a_third_party_warning_caused_by_an_llmcoder_call_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """The warning is raised in third-party code, but an llmcoder function made the call."""

    def third_party() -> None:  # this test module stands for the library: not in llmcoder
        warnings.warn("`x` is deprecated for `Lib.f`, use `y`", FutureWarning, stacklevel=2)

    call = _llmcoder_function("def call(f):\n    return f()\n", "call", monkeypatch)
    with pytest.raises(FutureWarning, match="use `y`"):
        call(third_party)


def test_a_transformers_deprecation_log_from_an_llmcoder_call_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    read = _llmcoder_function(
        "def read():\n    logging.getLogger('transformers.utils.generic').warning("
        "'`past_key_values`/`cache_params` are deprecated. Use `cache` instead.')\n", "read", monkeypatch)
    with pytest.raises(FutureWarning, match="cache_params"):
        read()
    logging.getLogger("transformers.utils.generic").warning("`z` is deprecated")  # not from llmcoder: logged


def test_warnings_on_their_own_behalf_stay_warnings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # no llmcoder frame on the stack
    warnings.warn("a library deprecates something of its own", FutureWarning, stacklevel=1)
    warnings.warn("and another", DeprecationWarning, stacklevel=1)
    # a module that warns at import, imported by llmcoder code: the module's own business
    (tmp_path / "llmcoder_test_warns_on_import.py").write_text(
        "import warnings\nwarnings.warn('this module is old', DeprecationWarning)\nVALUE = 3\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    imp = _llmcoder_function("def imp():\n    import llmcoder_test_warns_on_import as m\n    return m.VALUE\n",
                             "imp", monkeypatch)
    try:
        assert imp() == 3
    finally:
        sys.modules.pop("llmcoder_test_warns_on_import", None)
    # other categories from llmcoder code are not deprecations
    user = _llmcoder_function("def user():\n    warnings.warn('plain', UserWarning)\n", "user", monkeypatch)
    user()


@pytest.mark.allow_deprecations
def test_the_marker_lets_a_test_call_a_deprecated_api(monkeypatch: pytest.MonkeyPatch) -> None:
    old = _llmcoder_function("def old():\n    warnings.warn('old', FutureWarning)\n    return 2\n", "old", monkeypatch)
    assert old() == 2


def test_pytest_warns_still_checks_a_deprecation(monkeypatch: pytest.MonkeyPatch) -> None:
    old = _llmcoder_function("def old():\n    warnings.warn('old', FutureWarning)\n", "old", monkeypatch)
    with pytest.warns(FutureWarning, match="old"):
        old()


def test_modules_are_not_left_patched() -> None:
    import llmcoder.coders.scoring as scoring

    assert not isinstance(getattr(scoring, "old_api", None), ModuleType)
    assert not hasattr(scoring, "old_api")
