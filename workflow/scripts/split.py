"""Snakemake: stratified train/dev/test splits with nested training-size subsets.

A corpus too small for the configured shares (an empty test split) ends the job with status 2 and the
message in the rule's log.
"""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.corpus import read_corpus  # noqa: E402
from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.splits import SplitConfig, make_splits, write_splits  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    splits = make_splits(read_corpus(sm.input.corpus), SplitConfig.from_config(sm.params.split),
                         source=f"{sm.input.corpus} (studies.{sm.wildcards.study}.split)")
    write_splits(splits, sm.output.splits)
print(splits.group_by("split").len().sort("split"), file=sys.stderr)
