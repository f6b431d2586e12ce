"""Label scoring from log-probabilities, with a prefix KV cache and length-sorted batches.

The shared prompt prefix is run once; its ``DynamicCache`` is copied and expanded to each batch.
The cache is passed to the model's forward as ``cache=`` and read back from ``output.cache`` (the
names of transformers 5; the older ``past_key_values`` is used only by a transformers whose forward
has no ``cache`` parameter, see :func:`cache_kwarg`).
Each batch of documents is left-padded *after* the cached prefix::

    [prefix (cached)] [pad pad doc tokens + doc_suffix] [pad continuation]

with an attention mask that hides the pads and position ids that continue the prefix's positions
without gaps, so every document sees exactly what it would see alone. Continuations are also
left-padded, so the last position of every row holds the next-token distribution that matters.

Label continuations of several tokens (full names, or the per-label questions of ``yesno``) are run
in one pass with the document ("packed"): all continuations follow the document in the same row,
each restarting its positions right after the document, under a 4-D attention mask that lets each
continuation see the prefix, the document and its own earlier tokens only. Every continuation thus
sees exactly what it would see alone, without a copy of the prefix cache per label. Models with
sliding-window layers (Gemma 3: 5 of every 6 layers see only the last ``sliding_window`` positions)
get one mask per layer type (``{"full_attention": ..., "sliding_attention": ...}``, the mapping their
forward accepts in place of a mask): the sliding layers' mask also hides every key more than the window
behind the query's own position (each continuation counted from right after the document, as alone),
over the keys those layers' cache holds (the last ``sliding_window - 1`` prefix tokens). Attention
kernels without custom masks, and sliding-window models whose forward takes no such mapping, take the
"expanded" path instead: the document's cache repeated once per label.

Single-label (``choice``): the score of a label is the mean log-probability of its continuation's
tokens (length normalisation; one token for option codes such as letters), and the probabilities
are a softmax over labels. Multi-label (``yesno``): P(yes) / (P(yes) + P(no)) after each label's
question, independently per label.

Contextual calibration (Zhao et al. 2021, "Calibrate Before Use", ICML): with ``calibrate=True`` the
scorer first scores a few content-free inputs (``"N/A"``, ``""``, ``"[MASK]"``) in place of the
document, once per prompt (cheap: they reuse the cached prefix), and takes the mean of their label
probabilities as the model's prior over the labels under this prompt. Every document's probabilities
are then divided by that prior and renormalised (``choice``), or, for ``yesno``, the odds of "yes"
are divided by the prior's odds. This removes the prompt's majority-label and recency bias (a tiny
model that answers "A" to everything), the same idea as domain-conditional PMI scoring
(Holtzman et al. 2021) with a content-free input standing in for the domain premise.

Examples
--------
>>> prompt = LabelPrompt("Topic of the text?\\n", "\\nAnswer:", (" A", " B"), label_ids=("x", "y"))
>>> probs = score_labels(model, tokenizer, prompt, ["a text", "another"])  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import copy
import functools
import inspect
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from llmcoder.coders.prompt import LabelPrompt

#: Content-free inputs put in place of the document to estimate the label prior (Zhao et al. 2021).
CONTENT_FREE = ("N/A", "", "[MASK]")
#: Smallest prior probability divided by (a label the model never names would otherwise explode).
PRIOR_FLOOR = 1e-6

#: Upper bound on the floats of one chunk of logits (rows x positions x vocabulary).
LOGIT_BUDGET = 64_000_000
#: Upper bound on the bytes of the key/value cache copied for one chunk of label continuations
#: (each document's cache is repeated once per label: with a long prefix, names scoring of a whole
#: batch at once would copy gigabytes).
CACHE_BUDGET_BYTES = 1 << 30


def _cache_row_bytes(cache: Any) -> int:
    """Bytes of one batch row of a ``DynamicCache`` (0 when its layout is unknown)."""
    total = 0
    for layer in getattr(cache, "layers", ()):
        for t in (getattr(layer, "keys", None), getattr(layer, "values", None)):
            if t is not None and hasattr(t, "numel") and t.dim() > 0 and t.shape[0] > 0:
                total += t.numel() // t.shape[0] * t.element_size()
    return total


def cache_kwarg(model: Any) -> str:
    """The keyword the model's forward takes its key/value cache by: ``cache`` (transformers 5, where
    ``past_key_values`` is deprecated) or ``past_key_values`` (a forward without a ``cache`` parameter).

    A PEFT-wrapped model forwards its keywords to the base model, whose forward decides.
    """
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    try:
        params = inspect.signature(base.forward).parameters
    except (TypeError, ValueError):  # no introspectable signature: the current name
        return "cache"
    return "cache" if "cache" in params else "past_key_values"


def output_cache(out: Any) -> Any:
    """The key/value cache a forward returned (``output.cache``; ``past_key_values`` before transformers 5)."""
    cache = getattr(out, "cache", None)
    return cache if cache is not None else out.past_key_values


def _ids(tokenizer: Any, text: str, special: bool = False) -> list[int]:
    return list(tokenizer(text, add_special_tokens=special)["input_ids"])


def continuation_ids(tokenizer: Any, anchor: str, text: str) -> list[int]:
    """Token ids of ``text`` as they appear right after ``anchor`` (BPE merges across the seam)."""
    if anchor:
        a = _ids(tokenizer, anchor)
        b = _ids(tokenizer, anchor + text)
        if b[: len(a)] == a and len(b) > len(a):
            return b[len(a):]
    return _ids(tokenizer, text)


@contextlib.contextmanager
def _sdpa_gqa(device: Any) -> Iterator[None]:
    """On CPU, let torch's SDPA broadcast the key/value heads of grouped-query attention itself
    (``enable_gqa``) rather than transformers copying them per query head (``repeat_kv``): with a
    long cached prefix that copy costs more than the attention. Elsewhere nothing changes (on CUDA a
    masked GQA call would fall back to the slow math kernel)."""
    if getattr(device, "type", str(device)) != "cpu":
        yield
        return
    key = "TRANSFORMERS_SDPA_FORCE_GQA"
    old = os.environ.get(key)
    os.environ[key] = "1"
    try:
        yield
    finally:
        if old is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = old


@dataclass
class Encoded:
    """Token ids of one prompt: shared prefix, per-label continuations, scored answer tokens."""

    prefix: list[int]
    suffix: list[int]
    continuations: list[list[int]]
    yes: int | None = None
    no: int | None = None


def takes_mask_mapping(model: Any) -> bool:
    """Whether the model's decoder accepts, in place of an attention mask, a mapping layer type -> 4-D
    mask (transformers' Gemma 3, and other models with ``layer_types``, build one themselves unless
    given one): its forward's source tests ``attention_mask`` for a dict."""
    modules = getattr(model, "modules", None)
    for module in modules() if callable(modules) else ():
        if hasattr(module, "layers") and hasattr(module, "embed_tokens"):
            return _forward_takes_mapping(type(module))
    return False


@functools.cache
def _forward_takes_mapping(cls: type) -> bool:
    """The source test of :func:`takes_mask_mapping`, read once per decoder class (not once per batch)."""
    try:
        src = inspect.getsource(cls.forward)
    except (OSError, TypeError):
        return False
    return "attention_mask, dict)" in src


def _select_rows(cache: Any, rows: Any, *, inplace: bool = False) -> Any:
    """The cache with only ``rows`` (repeats allowed) of its batch, leaving ``cache`` itself intact.

    Dynamic cache layers replace their tensors on update and on row selection (never write into
    them), so a shallow copy of the layers is enough and avoids copying the whole cache first.
    """
    if inplace:
        cache.batch_select_indices(rows)
        return cache
    layers = getattr(cache, "layers", None)
    if layers is not None and all(type(la).__name__ in ("DynamicLayer", "DynamicSlidingWindowLayer")
                                  for la in layers):
        c = copy.copy(cache)
        c.layers = [copy.copy(la) for la in layers]
    else:
        c = copy.deepcopy(cache)
    c.batch_select_indices(rows)
    return c


class LabelScorer:
    """Score the labels of a :class:`LabelPrompt` for documents with one (model, tokenizer) pair.

    Parameters
    ----------
    model, tokenizer : any transformers causal LM (also a PEFT-wrapped one) and its tokenizer.
    prompt : the split prompt (see :func:`llmcoder.coders.prompt.build_label_prompt`).
    max_doc_tokens : documents are truncated to this many tokens.
    calibrate : divide the probabilities by the label prior of ``content_free`` inputs (see above).
    content_free : the content-free inputs averaged for the prior.
    packed : run multi-token continuations packed after the document (see above); ``None`` packs
        whenever that is exact for the model and the batch, ``False`` always expands the cache.
    """

    def __init__(self, model: Any, tokenizer: Any, prompt: LabelPrompt, *, max_doc_tokens: int = 512,
                 calibrate: bool = False, content_free: Sequence[str] = CONTENT_FREE, packed: bool | None = None):
        self.model = model
        self.packed = packed
        self.calibrate = bool(calibrate)
        self.content_free = tuple(content_free)
        if self.calibrate and not self.content_free:
            raise ValueError("calibrate needs at least one content-free input")
        self._priors: dict[bool, np.ndarray] = {}
        self.tokenizer = tokenizer
        self.prompt = prompt
        self.max_doc_tokens = int(max_doc_tokens)
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
        self.pad_id = int(pad if pad is not None else 0)
        if prompt.mode == "choice":  # label codes follow the answer prefix (the anchor)
            conts = [continuation_ids(tokenizer, prompt.anchor, c) for c in prompt.continuations]
        else:  # per-label questions follow the doc suffix; only yes/no follow the anchor
            conts = [_ids(tokenizer, c) for c in prompt.continuations]
        if prompt.mode == "choice":
            self.enc = Encoded(_ids(tokenizer, prompt.prefix, prompt.add_special_tokens),
                               _ids(tokenizer, prompt.doc_suffix), conts)
            firsts = [c[0] for c in conts]
            if all(len(c) == 1 for c in conts) and len(set(firsts)) < len(firsts):
                raise ValueError("two labels have the same answer token; use other option codes")
        else:
            yes = continuation_ids(tokenizer, prompt.anchor, prompt.yes)
            no = continuation_ids(tokenizer, prompt.anchor, prompt.no)
            self.enc = Encoded(_ids(tokenizer, prompt.prefix, prompt.add_special_tokens),
                               _ids(tokenizer, prompt.doc_suffix), conts, yes[0], no[0])
        if not self.enc.prefix:
            raise ValueError("the prompt prefix is empty; put the instructions before the document")
        self._prefix_cache = None
        self._cache_kw = cache_kwarg(model)

    # -- encoding ------------------------------------------------------------------------------
    def encode(self, docs: Sequence[str]) -> list[list[int]]:
        """Token ids of each document (truncated) followed by the doc suffix."""
        out = []
        for d in docs:
            ids = _ids(self.tokenizer, str(d))[: self.max_doc_tokens]
            out.append(ids + self.enc.suffix)
        return out

    def encode_windows(self, docs: Sequence[str], overlap: int) -> tuple[list[list[int]], list[int]]:
        """Every document as overlapping windows of ``max_doc_tokens`` tokens, each followed by the doc
        suffix, and the document each window belongs to (see :func:`llmcoder.chunking.windows`)."""
        from llmcoder.chunking import windows

        out, owner = [], []
        for j, d in enumerate(docs):
            ids = _ids(self.tokenizer, str(d))
            for a, b in windows(len(ids), self.max_doc_tokens, overlap):
                out.append(ids[a:b] + self.enc.suffix)
                owner.append(j)
        return out, owner

    def doc_token_counts(self, docs: Sequence[str]) -> list[int]:
        """Tokens of each document before truncation (to count and report what ``max_doc_tokens`` cuts)."""
        if not docs:
            return []
        return [len(ids) for ids in self.tokenizer([str(d) for d in docs], add_special_tokens=False)["input_ids"]]

    @property
    def n_prefix_tokens(self) -> int:
        return len(self.enc.prefix)

    @property
    def step2_len(self) -> int:
        """Tokens per label run after the document (0 when single-token codes need none)."""
        if self.prompt.mode == "choice":
            return max(len(c) for c in self.enc.continuations) - 1
        return max(len(c) for c in self.enc.continuations)

    def n_input_tokens(self, doc_ids: Sequence[int]) -> int:
        """Prompt tokens one document costs uncached: prefix + document + what each label adds."""
        extra = sum(len(c) - (1 if self.prompt.mode == "choice" else 0) for c in self.enc.continuations)
        return self.n_prefix_tokens + len(doc_ids) + extra

    # -- model calls ---------------------------------------------------------------------------
    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    def prefix_cache(self) -> Any:
        """The KV cache of the shared prefix (computed once, batch size 1)."""
        import torch

        if self._prefix_cache is None:
            ids = torch.tensor([self.enc.prefix], device=self.device)
            with torch.inference_mode():
                out = self.model(input_ids=ids, use_cache=True, logits_to_keep=1)
            self._prefix_cache = output_cache(out)
        return self._prefix_cache

    def _forward(self, ids: Any, mask: Any, pos: Any, cache: Any, keep: Any) -> Any:
        with _sdpa_gqa(self.device):
            out = self.model(input_ids=ids, attention_mask=mask, position_ids=pos, use_cache=True,
                             logits_to_keep=keep, **{self._cache_kw: cache})
        return out.logits.float().log_softmax(-1)

    def score_encoded(self, batch: Sequence[Sequence[int]], *, use_cache: bool = True) -> np.ndarray:
        """Raw label scores of one batch: mean log-probs (``choice``) or P(yes) (``yesno``), [B, K]."""
        if not use_cache:
            return np.stack([self._score_uncached(list(d)) for d in batch])
        if self.step2_len > 0 and self.can_pack(max(len(d) for d in batch)):
            return self._score_packed(batch)
        import torch

        dev = self.device
        B, P, K = len(batch), self.n_prefix_tokens, len(self.enc.continuations)
        L = max(len(d) for d in batch)
        ids = torch.full((B, L), self.pad_id, dtype=torch.long)
        dmask = torch.zeros((B, L), dtype=torch.long)
        for i, d in enumerate(batch):
            ids[i, L - len(d):] = torch.tensor(d)
            dmask[i, L - len(d):] = 1
        ids, dmask = ids.to(dev), dmask.to(dev)
        mask = torch.cat([torch.ones((B, P), dtype=torch.long, device=dev), dmask], 1)
        pos = P + (dmask.cumsum(1) - 1).clamp(min=0)
        with torch.inference_mode():
            cache = _select_rows(self.prefix_cache(), torch.zeros(B, dtype=torch.long, device=dev))
            first = self._forward(ids, mask, pos, cache, 1)[:, -1, :]  # [B, V]
            if self.prompt.mode == "choice" and self.step2_len == 0:
                cols = torch.tensor([c[0] for c in self.enc.continuations], device=dev)
                return first[:, cols].cpu().numpy().astype(np.float64)
            return self._step2(first, cache, mask, pos[:, -1], B, K)

    def _text_config(self) -> Any:
        cfg = self.model.config
        return cfg.get_text_config() if hasattr(cfg, "get_text_config") else cfg

    def can_pack(self, doc_len: int) -> bool:
        """Whether packed scoring is exact here: an attention kernel that takes a custom 4-D mask, and
        either no sliding window shorter than prefix + document + the longest continuation, or a model
        whose forward takes one mask per layer type (:func:`takes_mask_mapping`; the sliding layers then
        get a mask of their own)."""
        if self.packed is False:
            return False
        cfg = self._text_config()
        if getattr(cfg, "_attn_implementation", "sdpa") not in ("sdpa", "eager", None):
            return False
        window = getattr(cfg, "sliding_window", None)
        types = getattr(cfg, "layer_types", None)
        sliding = window is not None and (types is None or any("sliding" in str(t) for t in types))
        span = self.n_prefix_tokens + doc_len + max(len(c) for c in self.enc.continuations)
        return not sliding or span <= int(window) or (types is not None and takes_mask_mapping(self.model))

    def _layer_masks(self, allowed: Any, pos: Any, P: int, dtype: Any) -> Any:
        """The packed path's additive mask(s): one ``[B, 1, Q, keys]`` tensor, or, for a model with
        sliding-window layers, a mapping layer type -> mask (each over the keys that layer type sees:
        its part of the prefix cache, then the batch's tokens), the sliding ones limited to the window."""
        import torch

        def additive(a: Any) -> Any:
            return torch.zeros(a.shape, dtype=dtype).masked_fill_(~a, torch.finfo(dtype).min).unsqueeze(1)

        cfg = self._text_config()
        window = getattr(cfg, "sliding_window", None)
        types = list(getattr(cfg, "layer_types", None) or [])
        full = torch.cat([torch.ones((*allowed.shape[:2], P), dtype=torch.bool), allowed], dim=2)  # [B, Q, P+Q]
        if window is None or not any("sliding" in str(t) for t in types) or not takes_mask_mapping(self.model):
            return additive(full)
        layers = getattr(self.prefix_cache(), "layers", None)
        out = {}
        for t in dict.fromkeys(types):
            if "sliding" not in str(t):
                out[t] = additive(full)
                continue
            i = types.index(t)
            kept = int(layers[i].keys.shape[-2]) if layers is not None else min(P, int(window) - 1)
            pre = P - kept + torch.arange(kept)  # positions of the prefix keys this layer's cache holds
            near_pre = (pos.unsqueeze(2) - pre.view(1, 1, -1)) < int(window)  # [B, Q, kept]
            near = (pos.unsqueeze(2) - pos.unsqueeze(1)) < int(window)  # [B, Q, Q]
            out[t] = additive(torch.cat([near_pre, allowed & near], dim=2))
        return out

    def _score_packed(self, batch: Sequence[Sequence[int]]) -> np.ndarray:
        """Raw label scores of one batch in a single forward pass: document, then every label's
        continuation, each seeing only the prefix, the document and itself (a 4-D mask)."""
        import torch

        dev = self.device
        choice = self.prompt.mode == "choice"
        conts = self.enc.continuations
        inputs = [c[:-1] if choice else c for c in conts]  # what is fed after the document, per label
        B, P, L = len(batch), self.n_prefix_tokens, max(len(d) for d in batch)
        starts, o = [], L
        for x in inputs:
            starts.append(o)
            o += len(x)
        Q = o
        block = torch.full((Q,), -1, dtype=torch.long)  # -1: document; k: continuation of label k
        offset = torch.zeros(Q, dtype=torch.long)  # index of a token inside its continuation
        ids = torch.full((B, Q), self.pad_id, dtype=torch.long)
        for k, x in enumerate(inputs):
            block[starts[k]:starts[k] + len(x)] = k
            offset[starts[k]:starts[k] + len(x)] = torch.arange(len(x))
            if x:
                ids[:, starts[k]:starts[k] + len(x)] = torch.tensor(x)
        valid = block.unsqueeze(0).repeat(B, 1) >= 0  # keys a query may see: real tokens only
        pos = torch.zeros((B, Q), dtype=torch.long)
        for i, d in enumerate(batch):
            n = len(d)
            ids[i, L - n:L] = torch.tensor(d)
            valid[i, L - n:L] = True
            pos[i, L - n:L] = P + torch.arange(n)
            pos[i, L:] = P + n + offset[L:]
        q, k_ = torch.arange(Q).unsqueeze(1), torch.arange(Q).unsqueeze(0)
        same = block.unsqueeze(1) == block.unsqueeze(0)
        sees_doc = (block.unsqueeze(1) >= 0) & (block.unsqueeze(0) == -1)
        allowed = ((k_ <= q) & (same | sees_doc)).unsqueeze(0) & valid.unsqueeze(1)  # [B, Q, Q]
        dtype = next(self.model.parameters()).dtype
        dtype = dtype if dtype.is_floating_point else torch.float32
        mask = self._layer_masks(allowed, pos, P, dtype)
        mask = {t: m.to(dev) for t, m in mask.items()} if isinstance(mask, dict) else mask.to(dev)
        # Positions whose next-token distribution is scored, and where each label reads them.
        need: dict[int, int] = {}
        reads: list[list[tuple[int, int]]] = []  # per label: (position, token) pairs
        for k, c in enumerate(conts):
            if choice:
                pairs = [(L - 1, c[0])] + [(starts[k] + j - 1, c[j]) for j in range(1, len(c))]
            else:
                pairs = [(starts[k] + len(c) - 1, -1)]
            reads.append(pairs)
            for p_, _ in pairs:
                need.setdefault(p_, len(need))
        keep = torch.tensor(sorted(need), dtype=torch.long, device=dev)
        col = {p_: i for i, p_ in enumerate(sorted(need))}
        with torch.inference_mode():
            cache = _select_rows(self.prefix_cache(), torch.zeros(B, dtype=torch.long, device=dev))
            lp = self._forward(ids.to(dev), mask, pos.to(dev), cache, keep)  # [B, keep, V]
            scores = torch.zeros((B, len(conts)), dtype=torch.float64, device=dev)
            for k, pairs in enumerate(reads):
                if choice:
                    tot = sum(lp[:, col[p_], t].double() for p_, t in pairs)
                    scores[:, k] = tot / len(pairs)
                else:
                    p_ = pairs[0][0]
                    scores[:, k] = torch.sigmoid(lp[:, col[p_], self.enc.yes] - lp[:, col[p_], self.enc.no]).double()
        return scores.cpu().numpy()

    def _step2(self, first: Any, cache: Any, mask: Any, last_pos: Any, B: int, K: int) -> np.ndarray:
        import torch

        dev = self.device
        all_conts = self.enc.continuations
        choice = self.prompt.mode == "choice"
        out = np.zeros((B, K), dtype=np.float64)
        if choice:  # one-token continuations are scored by the first step alone: run only the others
            run = [k for k, c in enumerate(all_conts) if len(c) > 1]
            for k, c in enumerate(all_conts):
                if len(c) == 1:
                    out[:, k] = first[:, c[0]].cpu().numpy()
        else:
            run = list(range(K))
        conts = [all_conts[k] for k in run]
        R = len(conts)
        inputs = [c[:-1] if choice else c for c in conts]
        T = max(len(x) for x in inputs)
        keep = T if choice else 1
        cids = torch.full((R, T), self.pad_id, dtype=torch.long)
        cmask = torch.zeros((R, T), dtype=torch.long)
        for k, x in enumerate(inputs):
            if x:
                cids[k, T - len(x):] = torch.tensor(x)
                cmask[k, T - len(x):] = 1
        cids, cmask = cids.to(dev), cmask.to(dev)
        vocab = first.shape[-1]
        docs_per_chunk = max(1, min(LOGIT_BUDGET // max(1, R * keep * vocab),
                                    CACHE_BUDGET_BYTES // max(1, R * _cache_row_bytes(cache))))
        for s in range(0, B, docs_per_chunk):
            rows = torch.arange(s, min(B, s + docs_per_chunk), device=dev)
            n = len(rows)
            sel = rows.repeat_interleave(R)
            c = _select_rows(cache, sel) if n < B or s > 0 else _select_rows(cache, sel, inplace=True)
            m = torch.cat([mask[sel], cmask.repeat(n, 1)], 1)
            p = last_pos[sel].unsqueeze(1) + cmask.repeat(n, 1).cumsum(1)
            ids = cids.repeat(n, 1)
            lp = self._forward(ids, m, p, c, keep)  # [n*R, keep, V]
            lp = lp.view(n, R, keep, vocab)
            for r, (k, cont) in enumerate(zip(run, conts, strict=True)):
                if choice:
                    tot = first[rows, cont[0]].clone()
                    # token j (j >= 1) of the continuation is predicted at input position j - 1
                    for j in range(1, len(cont)):
                        tot += lp[:, r, keep - (len(cont) - 1) + (j - 1), cont[j]]
                    out[s:s + n, k] = (tot / len(cont)).cpu().numpy()
                else:
                    y = lp[:, r, -1, self.enc.yes]
                    no = lp[:, r, -1, self.enc.no]
                    out[s:s + n, k] = torch.sigmoid(y - no).cpu().numpy()
        return out

    def _score_uncached(self, doc: list[int]) -> np.ndarray:
        """Reference: each label's full prompt alone, no cache, no padding."""
        import torch

        K = len(self.enc.continuations)
        out = np.zeros(K, dtype=np.float64)
        base = self.enc.prefix + doc
        with torch.inference_mode():
            for k, cont in enumerate(self.enc.continuations):
                if self.prompt.mode == "choice":
                    ids = torch.tensor([base + cont], device=self.device)
                    lp = self.model(input_ids=ids).logits.float().log_softmax(-1)[0]
                    n0 = len(base)
                    out[k] = float(sum(lp[n0 - 1 + j, t] for j, t in enumerate(cont)) / len(cont))
                else:
                    ids = torch.tensor([base + cont], device=self.device)
                    lp = self.model(input_ids=ids).logits.float().log_softmax(-1)[0, -1]
                    out[k] = float(torch.sigmoid(lp[self.enc.yes] - lp[self.enc.no]))
        return out

    def raw_probs(self, scores: np.ndarray) -> np.ndarray:
        """Uncalibrated probabilities: softmax over labels (``choice``) or the P(yes) scores (``yesno``)."""
        if self.prompt.mode == "yesno":
            return np.asarray(scores, dtype=np.float64)
        z = scores - scores.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def prior(self, *, use_cache: bool = True) -> np.ndarray:
        """The label prior under this prompt: mean uncalibrated probabilities of the content-free inputs, [K].

        Computed once per scorer (one small batch after the cached prefix) and kept.
        """
        key = bool(use_cache)
        if key not in self._priors:
            enc = self.encode(self.content_free)
            self._priors[key] = self.raw_probs(self.score_encoded(enc, use_cache=use_cache)).mean(axis=0)
        return self._priors[key]

    def apply_calibration(self, probs: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """Divide by the prior and renormalise (``choice``); divide the odds of yes (``yesno``)."""
        p = np.asarray(probs, dtype=np.float64)
        q = np.clip(np.asarray(prior, dtype=np.float64), PRIOR_FLOOR, None)
        if self.prompt.mode == "yesno":
            q = np.clip(q, None, 1 - PRIOR_FLOOR)
            yes, no = p / q, (1 - p) / (1 - q)
            return yes / (yes + no)
        c = p / q
        return c / c.sum(axis=1, keepdims=True)

    def to_probs(self, scores: np.ndarray, *, use_cache: bool = True) -> np.ndarray:
        """Label probabilities of raw scores, calibrated when the scorer was built with ``calibrate``."""
        p = self.raw_probs(scores)
        if self.calibrate:
            p = self.apply_calibration(p, self.prior(use_cache=use_cache))
        return p


def length_batches(lengths: Sequence[int], batch_size: int) -> list[list[int]]:
    """Indices grouped into batches of similar length: longest first, ties by original position.

    The composition depends only on the lengths and the batch size, so a resumed run rebuilds the
    same batches.
    """
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def score_labels(model: Any, tokenizer: Any, prompt: LabelPrompt, docs: Sequence[str], *,
                 batch_size: int = 16, max_doc_tokens: int = 512, use_cache: bool = True,
                 calibrate: bool = False, content_free: Sequence[str] = CONTENT_FREE,
                 packed: bool | None = None, long_docs: str = "truncate", chunk_overlap: int = 64,
                 chunk_aggregate: str = "mean", single_label: bool = True) -> np.ndarray:
    """Probability of every label for every document, [n_docs, n_labels] in ``prompt.label_ids`` order.

    Parameters
    ----------
    model, tokenizer : a causal LM and its tokenizer (any pair: a packaged GGUF, a fine-tuned decoder).
    prompt : the split prompt.
    docs : the document texts.
    batch_size : documents per forward pass (sorted by length, padded).
    max_doc_tokens : truncate longer documents.
    use_cache : False runs every document and label alone without prefix cache (the reference).
    calibrate : contextual calibration by the label prior of ``content_free`` inputs.
    packed : multi-token continuations packed after the document (``None``: whenever exact).
    long_docs, chunk_overlap, chunk_aggregate : ``chunk`` scores a longer document in overlapping
        windows of ``max_doc_tokens`` and combines them (:mod:`llmcoder.chunking`); ``single_label``
        says whether combined maxima are renormalised.

    Returns
    -------
    probs : rows sum to 1 for single-label (``choice``); independent P(yes) per label for ``yesno``.
    """
    scorer = LabelScorer(model, tokenizer, prompt, max_doc_tokens=max_doc_tokens, calibrate=calibrate,
                         content_free=content_free, packed=packed)
    if long_docs == "chunk":
        enc, owner = scorer.encode_windows(docs, chunk_overlap)
    else:
        enc, owner = scorer.encode(docs), list(range(len(docs)))
    scores = np.zeros((len(enc), len(prompt.continuations)))
    for b in length_batches([len(e) for e in enc], batch_size):
        scores[b] = scorer.score_encoded([enc[i] for i in b], use_cache=use_cache)
    probs = scorer.to_probs(scores, use_cache=use_cache)
    if long_docs != "chunk":
        return probs
    from llmcoder.chunking import aggregate

    return aggregate(probs, owner, len(docs), chunk_aggregate, single_label=single_label)
