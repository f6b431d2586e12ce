"""Snakemake: fine-tune one model on one nested training size with one seed; predict and score the test split."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

import torch  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import finetuned_model  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
with rule_errors():
    record = finetuned_model(sm.input.config, sm.input.corpus, sm.input.splits, sm.input.verified or None,
                             sm.output.metrics.removesuffix("/metrics.json"), size=float(sm.wildcards.size),
                             seed=int(sm.wildcards.seed), codebook=sm.input.codebook)
print(record["metrics"], file=sys.stderr)
