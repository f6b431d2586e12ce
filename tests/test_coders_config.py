"""Coder configs, ids, prompts and error messages (fast: no model is loaded)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from llmcoder.codebook import Codebook, Label
from llmcoder.coders.config import CoderConfig
from llmcoder.coders.http import json_schema, value_distribution
from llmcoder.coders.prompt import build_http_messages, build_label_prompt, option_codes, rotation_order
from llmcoder.errors import InputError

REPO = Path(__file__).resolve().parents[1]
CB = Codebook(labels=(Label("health", "Health", "Hospitals."), Label("defense", "Defense"),
                      Label("econ", "Economy", "Taxes and jobs.")), instructions="Code the topic.")


def test_demo_coder_configs_load_and_have_stable_ids() -> None:
    a = CoderConfig.from_yaml(REPO / "config/coders/smollm2.yaml")
    b = CoderConfig.from_yaml(REPO / "config/coders/gemma3.yaml")
    assert a.model == "smollm2-135m" and b.model == "gemma3-270m"
    assert a.coder_id.startswith("smollm2-") and len(a.coder_id.split("-")[-1]) == 8
    assert a.coder_id == CoderConfig.from_yaml(REPO / "config/coders/smollm2.yaml").coder_id
    assert a.coder_id != b.coder_id


def test_coder_id_changes_with_prompt_not_with_runtime_settings() -> None:
    base = CoderConfig(name="c", model="smollm2-135m")
    assert CoderConfig(name="c", model="smollm2-135m", batch_size=3, device="cpu").coder_id == base.coder_id
    assert CoderConfig(name="c", model="smollm2-135m", answer_prefix="Label:").coder_id != base.coder_id
    assert CoderConfig(name="c", model="smollm2-135m", template="{text}\n{labels}").coder_id != base.coder_id
    assert CoderConfig(name="c", model="gemma3-270m").coder_id != base.coder_id


def test_unknown_key_is_rejected_with_the_known_keys(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nmodel: smollm2-135m\nbatchsize: 4\n")
    with pytest.raises(InputError) as e:
        CoderConfig.from_yaml(p)
    msg = str(e.value)
    assert "unknown key 'batchsize'" in msg and "batch_size" in msg and str(p) in msg


def test_bad_values_name_their_fields(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: my coder\nmodel: smollm2-135m\nbackend: grpc\nmulti_threshold: 1.5\n"
                 "batch_size: 0\ntemplate: 'no placeholder'\nhttp_api_key_env: 'sk-abc def'\n")
    with pytest.raises(InputError) as e:
        CoderConfig.from_yaml(p)
    msg = str(e.value)
    for field in ("'name'", "'backend'", "'multi_threshold'", "'batch_size'", "'template'",
                  "'http_api_key_env'"):
        assert field in msg, field
    assert "grpc" in msg and "{text}" in msg


def test_missing_model_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="'model'.*is required"):
        CoderConfig.from_dict({"name": "x"}, source="c.yaml")
    with pytest.raises(InputError, match="coder config file not found"):
        CoderConfig.from_yaml(tmp_path / "nope.yaml")


def test_unknown_model_lists_aliases_and_says_downloads_are_off() -> None:
    from llmcoder.coders.models import resolve_model

    with pytest.raises(InputError) as e:
        resolve_model("no-such-model")
    msg = str(e.value)
    assert "unknown model 'no-such-model'" in msg
    assert "smollm2-135m" in msg and "gemma3-270m" in msg and "HF_HUB_OFFLINE=1" in msg
    with pytest.raises(InputError, match="file not found"):
        resolve_model("/nowhere/model.gguf")


def test_option_codes_and_rotations() -> None:
    assert option_codes(3, "letters") == ["A", "B", "C"]
    assert option_codes(28, "letters")[-2:] == ["AA", "AB"]
    assert option_codes(2, "numbers") == ["1", "2"]
    assert rotation_order(CB, 0) == CB.ids
    r1 = rotation_order(CB, 1, seed=0)
    assert sorted(r1) == sorted(CB.ids) and r1 == rotation_order(CB, 1, seed=0)
    assert [rotation_order(CB, r, 0) for r in range(1, 6)] != [CB.ids] * 5


def test_label_prompt_split_without_tokenizer() -> None:
    cfg = CoderConfig(name="c", model="x", use_chat_template=False)
    p = build_label_prompt(cfg, CB, None, order=["econ", "health", "defense"])
    assert "A. Economy: Taxes and jobs." in p.prefix and "Code the topic." in p.prefix
    assert p.continuations == (" A", " B", " C") and p.label_ids == ("econ", "health", "defense")
    assert p.doc_suffix.rstrip().endswith("Answer:")
    multi = Codebook(labels=CB.labels, task="multi")
    pm = build_label_prompt(cfg, multi, None)
    assert pm.mode == "yesno" and len(pm.continuations) == 3 and "Health" in pm.continuations[0]


def test_http_schema_and_messages() -> None:
    cfg = CoderConfig(name="h", model="m", backend="http")
    msgs, codes = build_http_messages(cfg, CB)
    assert codes == ["A", "B", "C"] and "\u27e6TEXT\u27e7" in msgs[-1]["content"]
    s = json_schema(codes, "single")
    assert s["properties"]["label"]["enum"] == codes and s["required"] == ["label"]
    assert json_schema(codes, "multi")["properties"]["labels"]["items"]["enum"] == codes


def test_value_distribution_from_top_logprobs() -> None:
    content = '{"label": "B"}'
    toks = ['{"', "label", '":', ' "', "B", '"}']
    lp = [{"token": t, "logprob": -0.1, "top_logprobs": []} for t in toks]
    lp[4]["top_logprobs"] = [{"token": "B", "logprob": math.log(0.6)}, {"token": "A", "logprob": math.log(0.3)},
                             {"token": "x", "logprob": math.log(0.1)}]
    p = value_distribution(content, lp, ["A", "B", "C"], "B")
    assert p == pytest.approx([1 / 3, 2 / 3, 0.0])
    assert value_distribution(content, None, ["A", "B", "C"], "B") == [0.0, 1.0, 0.0]


def test_calibrate_is_in_the_coder_id_only_when_on_and_needs_the_local_backend() -> None:
    base = CoderConfig(name="c", model="smollm2-135m")
    cal = CoderConfig(name="c", model="smollm2-135m", calibrate=True)
    assert cal.coder_id != base.coder_id and cal.identity()["calibrate"] is True
    assert "calibrate" not in base.identity()  # off: the ids of coders made before the field stay
    assert base.coder_id == CoderConfig(name="c", model="smollm2-135m", calibrate=False).coder_id
    with pytest.raises(InputError, match="'calibrate'.*local backend"):
        CoderConfig(name="h", model="m", backend="http", calibrate=True)
    with pytest.raises(InputError, match="'calibrate'"):
        CoderConfig(name="c", model="m", calibrate="yes")  # type: ignore[arg-type]


def test_few_shot_from_the_codebook_examples() -> None:
    from llmcoder.coders.prompt import draw_examples

    cb = Codebook(labels=(Label("health", "Health", examples=("Hip waits?", "GP numbers?")),
                          Label("defense", "Defense", examples=("Tanks?",)),
                          Label("econ", "Economy", examples=("Inflation?", "Taxes?"))))
    ex = draw_examples("codebook", 3, 0, cb)
    assert sorted(ex) == [("Hip waits?", ["health"]), ("Inflation?", ["econ"]), ("Tanks?", ["defense"])]
    assert len(draw_examples("codebook", 99, 0, cb)) == 5  # all there are
    assert draw_examples("codebook", 5, 1, cb) != draw_examples("codebook", 5, 2, cb)  # seeded order
    cfg = CoderConfig(name="c", model="x", use_chat_template=False, few_shot=3, few_shot_source="codebook")
    p = build_label_prompt(cfg, cb, None, examples=ex)
    assert "Text: Tanks?\nAnswer: B" in p.prefix and p.prefix.index("Examples:") < len(p.prefix)
    with pytest.raises(InputError, match="no label has examples"):
        draw_examples("codebook", 2, 0, CB)
    with pytest.raises(InputError, match="few_shot_source.*codebook"):
        CoderConfig(name="c", model="x", few_shot=2)


def test_wrong_types_are_input_errors_naming_the_key_not_python_errors() -> None:
    for kwargs, needle in [({"multi_threshold": "high"}, "key 'multi_threshold': 'high' is not a number between 0 and 1"),
                           ({"template": 5}, "key 'template': 5 is a number, not text"),
                           ({"batch_size": True}, "key 'batch_size': true is not a whole number"),
                           ({"http_timeout_s": 0}, "key 'http_timeout_s': 0 is not a number > 0"),
                           ({"temperature": float("nan")}, "key 'temperature'"),
                           ({"system": None}, "key 'system': has no value")]:
        with pytest.raises(InputError) as e:
            CoderConfig(name="c", model="smollm2-135m", **kwargs)
        assert needle in str(e.value), (kwargs, str(e.value))


def test_problems_are_listed_by_line_with_a_did_you_mean(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nmodel: smollm2-135m\nbatch_sise: 4\nbackend: htp\n")
    with pytest.raises(InputError) as e:
        CoderConfig.from_yaml(p)
    lines = str(e.value).splitlines()
    assert lines[1] == "  - line 3: unknown key 'batch_sise' (did you mean 'batch_size'?)"
    assert lines[2].startswith("  - line 4: key 'backend': 'htp' is not one of local, http (did you mean 'http'?)")


def test_key_lines_do_not_enter_the_coder_id(tmp_path: Path) -> None:
    p = tmp_path / "c.yaml"
    p.write_text("\n\nname: c\nmodel: smollm2-135m\n")
    cfg = CoderConfig.from_yaml(p)
    assert cfg.where("model") == "line 4: key 'model'"
    assert cfg.coder_id == CoderConfig(name="c", model="smollm2-135m").coder_id
    assert "_lines" not in cfg.to_dict()
