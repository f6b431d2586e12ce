"""Snakemake: stratified train/dev/test splits with nested training-size subsets.

A corpus too small for the configured shares (an empty test split) ends the job with status 2 and the
message in the rule's log.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import study_splits  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    sizes = study_splits(sm.input.corpus, sm.params.split, sm.output.splits,
                         source=f"{sm.input.corpus} (studies.{sm.wildcards.study}.split)", record=sm.output.record)
print(sizes, file=sys.stderr)
