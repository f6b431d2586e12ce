"""Snakemake: agreement of each LLM coder with gold, and among the LLM coders, on the test split."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import coders_vs_gold_reliability  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    table = coders_vs_gold_reliability(
        dict(zip(sm.params.names, sm.input.codings, strict=True)), sm.input.corpus, sm.input.splits, sm.output.table)
print(table, file=sys.stderr)
