"""Snakemake: score one coder (LLM coder output or fine-tuned predictions) on the test split against gold."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import evaluate_coder, evaluate_finetuned  # noqa: E402

sm = snakemake  # noqa: F821
step = evaluate_coder if sm.params.is_llm_coder else evaluate_finetuned
with rule_errors():
    result = step(
        sm.input.codings, sm.input.corpus, sm.input.splits, sm.input.codebook, Path(sm.output.metrics).parent,
        system=sm.wildcards.system, n_boot=sm.params.settings["n_boot"], seed=sm.params.settings["seed"])
print(result["metrics"], file=sys.stderr)
