"""Snakemake: code the whole corpus with the deployed fine-tuned model; route the least confident to people."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

import torch  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import corpus_predictions  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
with rule_errors():
    corpus_predictions(sm.input.model, sm.input.corpus, sm.output.predictions, routed=sm.output.routed,
                       route_share=sm.params.route_share, precision=sm.params.precision)
print(f"routed to human review: {sm.output.routed}", file=sys.stderr)
