"""Snakemake: code every document with one LLM coder (resumable from its journal after a killed job).

Bad input (coder YAML, corpus, model, an unreachable server) ends the job with status 2 and the message
in the rule's log.
"""
import os
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821
os.environ["OMP_NUM_THREADS"] = str(snakemake.threads)  # noqa: F821  (before torch is imported)

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import llm_codings  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    summary = llm_codings(sm.input.corpus, sm.input.codebook, sm.input.coder, sm.output.codings,
                          rotations=sm.params.rotations, limit=sm.params.limit, threads=sm.threads, progress=False)
print(summary, file=sys.stderr)
