"""Snakemake: validate the raw corpus against the codebook and write the canonical Parquet.

A bad input ends the job with status 2 and the message (file, row, fix) in the rule's log.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import canonical_corpus  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    summary = canonical_corpus(sm.params.corpus, sm.input.codebook, sm.output.corpus, study=sm.wildcards.study)
print(summary, file=sys.stderr)
