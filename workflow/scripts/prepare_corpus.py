"""Snakemake: validate the raw corpus against the codebook and write the canonical Parquet.

A bad input ends the job with status 2 and the message (file, row, fix) in the rule's log.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.codebook import load_codebook  # noqa: E402
from llmcoder.corpus import CorpusSpec, prepare_corpus, summarize  # noqa: E402
from llmcoder.errors import rule_errors  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    codebook = load_codebook(sm.input.codebook)
    spec = CorpusSpec.from_config(sm.params.corpus).resolved()
    corpus = prepare_corpus(spec, codebook, sm.output.corpus)
print(f"{sm.wildcards.study}: {summarize(corpus, codebook, spec)}", file=sys.stderr)
