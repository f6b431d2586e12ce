"""Snakemake: code the whole corpus with the deployed fine-tuned model; route the least confident to people."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

import torch  # noqa: E402

from llmcoder.io import write_csv  # noqa: E402
from llmcoder.predict import predict, route_uncertain  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
predict(sm.input.model, sm.input.corpus, sm.output.predictions, precision=sm.params.precision, progress=False)
routed = route_uncertain(sm.output.predictions, share=sm.params.route_share)
write_csv(routed, sm.output.routed)
print(f"{routed.height} documents routed to human review", file=sys.stderr)
