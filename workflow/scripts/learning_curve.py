"""Snakemake: gather the fine-tuning jobs' test metrics into learning_curve.csv."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.stages import run_rule_step, write_learning_curve  # noqa: E402

sm = snakemake  # noqa: F821
print(run_rule_step(lambda: write_learning_curve(sm.input.runs, sm.output.curve)), file=sys.stderr)
