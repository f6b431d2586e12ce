"""Snakemake: fine-tune one model on one nested training size with one seed; predict and score the test split."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

import torch  # noqa: E402
import yaml  # noqa: E402

from llmcoder.finetune.jobs import train_and_predict  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
config = yaml.safe_load(open(sm.input.config, encoding="utf-8")) | {"codebook": sm.input.codebook}
record = train_and_predict(config, sm.input.corpus, sm.input.splits, sm.input.verified or None,
                           size=float(sm.wildcards.size), seed=int(sm.wildcards.seed),
                           out_dir=sm.output.metrics.removesuffix("/metrics.json"))
print(record["metrics"], file=sys.stderr)
