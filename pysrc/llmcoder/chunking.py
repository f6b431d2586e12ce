"""Long documents: overlapping windows of tokens, and label probabilities aggregated back per document.

A coder (LLM or fine-tuned encoder) reads at most ``size`` tokens of a document. With
``long_docs: truncate`` it reads the first ``size`` and the rest is lost (counted and reported).
With ``long_docs: chunk`` a longer document is cut into windows of ``size`` tokens that overlap by
``overlap`` tokens (the last window ends at the document's end), every window is coded, and the
label probabilities of a document's windows are combined:

- ``mean``: the average over windows (a label that runs through the whole document wins);
- ``max``: the largest probability of each label over windows (a label that is anywhere wins; the
  natural choice for multi-label "is it mentioned at all"); for single-label tasks the maxima are
  renormalised to sum to one;
- ``first``: the first window only (truncation, but with the windows' cost; kept for comparison).

One implementation serves the LLM coders (:mod:`llmcoder.coders.backends`) and the fine-tuned
encoders (:mod:`llmcoder.finetune.encoder`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

#: What a coder does with a document longer than it reads.
LONG_DOCS = ("truncate", "chunk")
#: How the windows' label probabilities become the document's.
AGGREGATES = ("mean", "max", "first")

__all__ = ["AGGREGATES", "LONG_DOCS", "aggregate", "char_windows", "windows"]


def windows(n_tokens: int, size: int, overlap: int) -> list[tuple[int, int]]:
    """``[start, end)`` token spans covering ``n_tokens`` with windows of ``size`` overlapping by ``overlap``.

    A document of at most ``size`` tokens is one window. Windows advance by ``size - overlap``;
    the last one ends at the document's end, so no token is lost and no window is empty.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"window size {size} and overlap {overlap}: need size >= 1 and 0 <= overlap < size")
    if n_tokens <= size:
        return [(0, n_tokens)]
    step = size - overlap
    spans, start = [], 0
    while start + size < n_tokens:
        spans.append((start, start + size))
        start += step
    spans.append((start, n_tokens))
    return spans


def char_windows(text: str, size: int, overlap: int) -> list[str]:
    """Windows of at most ``size`` characters overlapping by about ``overlap``, cut at whitespace.

    For coders without a local tokenizer (an HTTP server): a window ends at the last whitespace in
    its final fifth (a word longer than that is cut), and the next one starts at a word.
    """
    if size < 1 or not 0 <= overlap < size:
        raise ValueError(f"window size {size} and overlap {overlap}: need size >= 1 and 0 <= overlap < size")
    n = len(text)
    if n <= size:
        return [text]
    out, start = [], 0
    while start < n:
        end = min(start + size, n)
        if end < n:
            cut = text.rfind(" ", start + size - size // 5, end + 1)
            end = cut if cut > start else end
        out.append(text[start:end].strip())
        if end >= n:
            break
        nxt = max(end - overlap, start + 1)
        space = text.find(" ", nxt - 1, end)  # start after a space: at a word
        start = space + 1 if space != -1 and space + 1 > start else nxt
    return [w for w in out if w] or [text]


def aggregate(probs: np.ndarray, owner: Sequence[int] | np.ndarray, n_docs: int, how: str, *,
              single_label: bool) -> np.ndarray:
    """The ``[n_docs, K]`` probabilities of documents from the ``[n_windows, K]`` ones of their windows.

    ``owner[i]`` is the document of window ``i``; each document's windows come in reading order.
    """
    if how not in AGGREGATES:
        raise ValueError(f"aggregate {how!r} is not one of {', '.join(AGGREGATES)}")
    probs = np.asarray(probs, dtype=np.float64)
    owner = np.asarray(owner, dtype=np.int64)
    if probs.shape[0] != owner.shape[0]:
        raise ValueError(f"{probs.shape[0]} windows but {owner.shape[0]} owners")
    counts = np.bincount(owner, minlength=n_docs)
    if (counts == 0).any():
        raise ValueError(f"document {int(np.flatnonzero(counts == 0)[0])} has no window")
    k = probs.shape[1]
    if how == "first":
        first = np.full(n_docs, -1, dtype=np.int64)
        for i in range(owner.size - 1, -1, -1):  # the earliest window of each document wins
            first[owner[i]] = i
        return probs[first]
    if how == "mean":
        out = np.zeros((n_docs, k))
        np.add.at(out, owner, probs)
        return out / counts[:, None]
    out = np.full((n_docs, k), -np.inf)
    np.maximum.at(out, owner, probs)
    if single_label:
        out = out / out.sum(axis=1, keepdims=True)
    return out
