"""Snakemake: gather the fine-tuning jobs' test metrics into learning_curve.csv."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import write_learning_curve  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    print(write_learning_curve(sm.input.runs, sm.output.curve), file=sys.stderr)
