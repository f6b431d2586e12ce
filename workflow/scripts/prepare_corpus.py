"""Snakemake: validate the raw corpus against the codebook and write the canonical Parquet."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.codebook import load_codebook  # noqa: E402
from llmcoder.corpus import CorpusSpec, prepare_corpus, summarize  # noqa: E402

sm = snakemake  # noqa: F821
codebook = load_codebook(sm.input.codebook)
corpus = prepare_corpus(CorpusSpec.from_config(sm.params.corpus), codebook, sm.output.corpus)
print(f"{sm.wildcards.study}: {summarize(corpus, codebook)}", file=sys.stderr)
