"""Snakemake: stratified train/dev/test splits with nested training-size subsets."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.corpus import read_corpus  # noqa: E402
from llmcoder.splits import SplitConfig, make_splits, write_splits  # noqa: E402

splits = make_splits(read_corpus(snakemake.input.corpus), SplitConfig.from_config(snakemake.params.split))  # noqa: F821
write_splits(splits, snakemake.output.splits)  # noqa: F821
print(splits.group_by("split").len().sort("split"), file=sys.stderr)
