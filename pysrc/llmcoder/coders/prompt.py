"""Render a coder's prompt from the codebook, split where the document goes.

Every prompt is ``prefix + document + doc_suffix + continuation``:

- ``prefix`` (system message, instructions, the labels with their definitions, worked examples) is
  the same for every document of one label order, so a local model runs it once and reuses its
  key/value cache;
- ``doc_suffix`` closes the document (and, single-label, asks the question and opens the answer);
- ``continuations`` are scored per label: single-label, the label's code (``" A"``) or full name;
  multi-label, a per-label yes/no question whose answer token (``" yes"`` / ``" no"``) is scored.
"""

from __future__ import annotations

import hashlib
import re
import string
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from llmcoder.codebook import Codebook, Label

#: Single-label: the question comes before the document, so it belongs to the cached prefix and
#: each document only adds its own tokens and a few closing ones.
DEFAULT_TEMPLATE = """{instructions}

Categories:
{labels}
{examples}
{question}

Text:
{text}"""
#: Multi-label: the per-label question follows the document (it is the scored continuation).
DEFAULT_TEMPLATE_MULTI = """{instructions}

Categories:
{labels}
{examples}
Text:
{text}

{question}"""

DEFAULT_INSTRUCTIONS = {
    "single": "Read the text and choose the one category of the codebook that fits it best.",
    "multi": "Read the text and decide, for each category of the codebook, whether it applies.",
}
_PLACEHOLDER = re.compile(r"\{(instructions|labels|examples|text|question)\}")
TEXT_MARK = "\u27e6TEXT\u27e7"
QUESTION_MARK = "\u27e6QUESTION\u27e7"


def option_codes(n: int, options: str, labels: Sequence[Label] = ()) -> list[str]:
    """How the model names label 1..n: ``A, B, ... Z, AA, AB ...``, ``1, 2, ...``, ids or names."""
    if options == "letters":
        letters = string.ascii_uppercase
        out = []
        for i in range(n):
            code, j = "", i
            while True:
                code = letters[j % 26] + code
                j = j // 26 - 1
                if j < 0:
                    break
            out.append(code)
        return out
    if options == "numbers":
        return [str(i + 1) for i in range(n)]
    if options == "ids":
        return [lab.id for lab in labels]
    if options == "names":
        return [lab.name for lab in labels]
    raise ValueError(f"options is '{options}'; it must be letters, numbers, ids or names")


def rotation_order(codebook: Codebook, rotation: int, seed: int = 0) -> list[str]:
    """Label ids in the order of ``rotation``: 0 is the codebook order, others seeded permutations."""
    ids = codebook.ids
    if rotation == 0:
        return list(ids)
    rng = np.random.default_rng([int(seed), int(rotation)])
    return [ids[i] for i in rng.permutation(len(ids))]


def _fill(template: str, values: dict[str, str]) -> str:
    """Replace only the known ``{placeholders}``; other braces (JSON examples) are left alone."""
    return _PLACEHOLDER.sub(lambda m: values[m.group(1)], template)


@dataclass(frozen=True)
class LabelPrompt:
    """A prompt split for label scoring, usable with any (model, tokenizer) pair.

    Args:
        prefix: Text before the document, shared by all documents (its KV cache is reused).
        doc_suffix: Text after each document.
        continuations: One per label, in ``label_ids`` order, scored after ``doc_suffix``.
        mode: ``choice`` (single-label: softmax over length-normalised continuation log-probs) or
            ``yesno`` (multi-label: P(yes) after each label's continuation).
        label_ids: The labels the continuations stand for.
        yes, no: The answer tokens of ``yesno`` mode.
        anchor: Text the continuations follow; used to tokenize them as they appear in context.
        add_special_tokens: Whether the tokenizer should add BOS to the prefix (False when the chat
            template already wrote it).
    """

    prefix: str
    doc_suffix: str
    continuations: tuple[str, ...]
    mode: Literal["choice", "yesno"] = "choice"
    label_ids: tuple[str, ...] = ()
    yes: str = " yes"
    no: str = " no"
    anchor: str = ""
    add_special_tokens: bool = True
    meta: dict[str, Any] = field(default_factory=dict, compare=False)

    def sha256(self) -> str:
        h = hashlib.sha256()
        for part in (self.prefix, self.doc_suffix, *self.continuations, self.mode, self.yes, self.no):
            h.update(part.encode("utf-8") + b"\x00")
        return h.hexdigest()


def _label_block(labels: Sequence[Label], codes: Sequence[str], fmt: str) -> str:
    lines = []
    for lab, code in zip(labels, codes, strict=True):
        definition = f": {lab.definition}" if lab.definition else ""
        lines.append(fmt.replace("{code}", code).replace("{name}", lab.name)
                     .replace("{id}", lab.id).replace("{definition}", definition))
    return "\n".join(lines)


def _examples_block(examples: Sequence[tuple[str, Sequence[str]]], code_of: dict[str, str],
                    answer_prefix: str) -> str:
    if not examples:
        return ""
    out = ["", "Examples:"]
    for text, labs in examples:
        out.append(f"Text: {text}")
        out.append(f"{answer_prefix} {', '.join(code_of[lab] for lab in labs if lab in code_of)}".strip())
        out.append("")
    return "\n".join(out)


def codebook_examples(codebook: Codebook, n: int, seed: int) -> list[tuple[str, list[str]]]:
    """``n`` worked examples from the codebook's own label examples (written for the purpose, not corpus texts).

    Labels are taken in turn (every label's first example, then every label's second, ...) so that
    ``n >= number of labels`` covers each label once; the chosen examples are then shuffled with
    ``seed`` so that the last example (which tiny models copy most) is not always the last label.
    """
    from llmcoder.errors import InputError

    pools = [list(lab.examples) for lab in codebook.labels]
    picked: list[tuple[str, list[str]]] = []
    depth = 0
    while len(picked) < n and any(depth < len(p) for p in pools):
        for lab, pool in zip(codebook.labels, pools, strict=True):
            if depth < len(pool) and len(picked) < n:
                picked.append((str(pool[depth]), [lab.id]))
        depth += 1
    if not picked:
        raise InputError(codebook.name or "codebook", "few_shot_source is 'codebook' but no label has examples",
                         fix="add examples: [...] to the codebook's labels, or use a labelled training corpus")
    rng = np.random.default_rng(seed)
    return [picked[i] for i in rng.permutation(len(picked))]


def draw_examples(path: str, n: int, seed: int, codebook: Codebook) -> list[tuple[str, list[str]]]:
    """Draw ``n`` labelled examples (text, label ids) from a canonical corpus file, with a seed.

    ``path == "codebook"`` takes them from the codebook's own examples (:func:`codebook_examples`).
    """
    import polars as pl

    from llmcoder.errors import InputError

    if str(path) == "codebook":
        return codebook_examples(codebook, n, seed)
    df = pl.read_parquet(path) if str(path).endswith((".parquet", ".pq")) else pl.read_csv(
        path, infer_schema=False)
    col = "label" if "label" in df.columns else "labels" if "labels" in df.columns else None
    if col is None or "text" not in df.columns:
        raise InputError(path, "few-shot source needs columns text and label (or labels)",
                         fix="point few_shot_source at a prepared corpus with gold labels")
    df = df.filter(pl.col(col).is_not_null())
    rng = np.random.default_rng(seed)
    idx = sorted(rng.choice(df.height, size=min(n, df.height), replace=False).tolist())
    out = []
    for i in idx:
        v = df[col][i]
        labs = [str(v)] if col == "label" else [str(x) for x in v]
        out.append((str(df["text"][i]), [lab for lab in labs if lab in codebook.ids]))
    return out


def _user_content(cfg: Any, codebook: Codebook, order: Sequence[str], codes: Sequence[str],
                  examples: Sequence[tuple[str, Sequence[str]]], question: str) -> str:
    labels = [codebook.label(i) for i in order]
    code_of = dict(zip(order, codes, strict=True))
    values = {
        "instructions": codebook.instructions or DEFAULT_INSTRUCTIONS[codebook.task],
        "labels": _label_block(labels, codes, cfg.label_format),
        "examples": _examples_block(examples, code_of, cfg.answer_prefix or "Answer:"),
        "text": TEXT_MARK,
        "question": question,
    }
    template = cfg.template or (DEFAULT_TEMPLATE if codebook.task == "single" else DEFAULT_TEMPLATE_MULTI)
    if "{question}" not in template:
        template = template + "\n\n{question}"
    return _fill(template, values)


def _wrap_chat(tokenizer: Any, cfg: Any, user: str) -> tuple[str, bool]:
    """The full prompt text and whether BOS is already in it."""
    if cfg.use_chat_template and tokenizer is not None and getattr(tokenizer, "chat_template", None):
        msgs = ([{"role": "system", "content": cfg.system}] if cfg.system else []) + [
            {"role": "user", "content": user}]
        text = tokenizer.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True)
        bos = getattr(tokenizer, "bos_token", None)
        return text, bool(bos) and text.startswith(bos)
    head = f"{cfg.system}\n\n" if cfg.system else ""
    return f"{head}{user}\n", False


def _kind(options: str) -> str:
    return {"letters": "letter", "numbers": "number", "ids": "code", "names": "name"}[options]


def build_label_prompt(cfg: Any, codebook: Codebook, tokenizer: Any, *, order: Sequence[str] | None = None,
                       examples: Sequence[tuple[str, Sequence[str]]] = ()) -> LabelPrompt:
    """Render the label-scoring prompt of a local coder for one label order."""
    order = list(order or codebook.ids)
    labels = [codebook.label(i) for i in order]
    codes = option_codes(len(order), cfg.options, labels)
    ap = cfg.answer_prefix
    if codebook.task == "single":
        question = (f"Which category fits the text best? Reply with the {_kind(cfg.options)} "
                    "of one category only.")
        full, has_bos = _wrap_chat(tokenizer, cfg, _user_content(cfg, codebook, order, codes, examples,
                                                                  QUESTION_MARK))
        full = full.replace(QUESTION_MARK, question) + ap
        prefix, suffix = full.split(TEXT_MARK)
        if not suffix.startswith(("\n", " ")):
            suffix = "\n" + suffix
        sep = " " if ap and not ap.endswith((" ", "\n")) else ""
        conts = tuple(sep + c for c in codes)
        return LabelPrompt(prefix, suffix, conts, "choice", tuple(order), anchor=ap,
                           add_special_tokens=not has_bos, meta={"codes": codes, "question": question})
    full, has_bos = _wrap_chat(tokenizer, cfg, _user_content(cfg, codebook, order, codes, examples,
                                                              QUESTION_MARK))
    full = full + ap
    if full.find(QUESTION_MARK) < full.find(TEXT_MARK):
        from llmcoder.errors import InputError

        raise InputError(cfg.source, "the template puts {question} before {text}",
                         fix="for a multi-label codebook the per-label {question} must come after {text}")
    prefix, rest = full.split(TEXT_MARK)
    between, after = rest.split(QUESTION_MARK)
    conts = []
    for lab, code in zip(labels, codes, strict=True):
        definition = f" ({lab.definition})" if lab.definition else ""
        q = (f"Does category {code} ({lab.name}){definition} apply to the text? "
             "Reply yes or no.")
        conts.append(q + after)
    sep = " " if ap and not ap.endswith((" ", "\n")) else ""
    return LabelPrompt(prefix, between, tuple(conts), "yesno", tuple(order), yes=sep + "yes",
                       no=sep + "no", anchor=ap, add_special_tokens=not has_bos,
                       meta={"codes": codes})


def build_http_messages(cfg: Any, codebook: Codebook, *, order: Sequence[str] | None = None,
                        examples: Sequence[tuple[str, Sequence[str]]] = ()) -> tuple[list[dict[str, str]], list[str]]:
    """Chat messages (with ``TEXT_MARK`` where the document goes) and the option codes, for HTTP coders."""
    order = list(order or codebook.ids)
    labels = [codebook.label(i) for i in order]
    codes = option_codes(len(order), cfg.options, labels)
    if codebook.task == "single":
        question = ('Reply in JSON as {"label": "<code>"} with the ' + _kind(cfg.options)
                    + " of the one category that fits the text best.")
    else:
        question = ('Reply in JSON as {"labels": ["<code>", ...]} listing the '
                    + _kind(cfg.options) + "s of every category that applies (an empty list if none).")
    user = _user_content(cfg, codebook, order, codes, examples, question)
    msgs = ([{"role": "system", "content": cfg.system}] if cfg.system else []) + [
        {"role": "user", "content": user}]
    return msgs, codes
