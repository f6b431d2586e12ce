"""Snakemake: code the whole corpus with the deployed fine-tuned model; route the least confident to people."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.predict import Routing, predict  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
# The predictions, their provenance and the routed CSV are committed together.
with rule_errors():
    predict(sm.input.model, sm.input.corpus, sm.output.predictions, precision=sm.params.precision,
            progress=False, route=Routing(out=Path(sm.output.routed), share=sm.params.route_share))
print(f"routed to human review: {sm.output.routed}", file=sys.stderr)
