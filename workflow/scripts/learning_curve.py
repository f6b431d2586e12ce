"""Snakemake: gather the fine-tuning jobs' test metrics into learning_curve.csv."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.stages import write_learning_curve  # noqa: E402

print(write_learning_curve(snakemake.input.runs, snakemake.output.curve), file=sys.stderr)  # noqa: F821
