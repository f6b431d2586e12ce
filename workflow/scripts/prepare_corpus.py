"""Snakemake: validate the raw corpus against the codebook and write the canonical Parquet."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.study import prepare_study_corpus  # noqa: E402

cfg = {"studies": {snakemake.wildcards.study: snakemake.params.study_config}}  # noqa: F821
print(prepare_study_corpus(cfg, snakemake.wildcards.study, snakemake.output.corpus), file=sys.stderr)  # noqa: F821
