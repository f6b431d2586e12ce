"""Snakemake: the inference stage's labelled sample, drawn before verification (labels_from: verification)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import inference_sample  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    sample = inference_sample(sm.input.corpus, sm.input.splits, sm.input.codebook, Path(sm.output.sample).parent,
                              settings=sm.params.settings, surrogate_name=sm.params.name,
                              surrogate_kind=sm.params.kind,
                              surrogate=sm.input.surrogate[0] if len(sm.input.surrogate) else None,
                              strata=sm.params.strata)
print(f"{int(sample['labelled'].sum())} documents drawn for verification", file=sys.stderr)
