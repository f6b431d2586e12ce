"""LLM coders: a model + prompt template + settings that codes every document of a corpus.

Two backends: label scoring from log-probabilities with a local transformers model (prefix KV cache,
length-sorted batches), and JSON constrained to the codebook from an OpenAI-compatible server.
Heavy dependencies (torch, transformers, httpx) are imported only when a coder runs.
"""

from llmcoder.coders.config import CoderConfig

__all__ = ["CoderConfig", "code_corpus", "estimate", "load_causal_lm", "score_labels"]


def __getattr__(name: str):  # lazy: keep `import llmcoder.coders` light
    if name == "code_corpus":
        from llmcoder.coders.run import code_corpus
        return code_corpus
    if name == "estimate":
        from llmcoder.coders.estimate import estimate
        return estimate
    if name == "load_causal_lm":
        from llmcoder.coders.models import load_causal_lm
        return load_causal_lm
    if name == "score_labels":
        from llmcoder.coders.scoring import score_labels
        return score_labels
    raise AttributeError(name)
