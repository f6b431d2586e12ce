"""Snakemake: cross-fitted predictions of the fine-tuned surrogate (inference.crossfit: K folds)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

import torch  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import crossfit_models  # noqa: E402

sm = snakemake  # noqa: F821
torch.set_num_threads(sm.threads)
with rule_errors():
    record = crossfit_models(sm.input.config, sm.input.corpus, sm.input.splits, sm.input.verified or None,
                             Path(sm.output.record).parent, folds=int(sm.params.folds), seed=int(sm.params.seed),
                             codebook=sm.input.codebook)
print(f"{record['folds']} fold models, {record['n_labelled']} labelled documents", file=sys.stderr)
