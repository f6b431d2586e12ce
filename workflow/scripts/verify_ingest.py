"""Snakemake: validate the filled sheets and write verified labels, decision log, queue and reliability."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.stages import ingest_verification  # noqa: E402

sm = snakemake  # noqa: F821
adjudicated = sm.params.adjudication if Path(sm.params.adjudication).exists() else None
summary = ingest_verification(sm.params.filled, sm.input.manifest, sm.input.codebook, Path(sm.output.verified).parent,
                              overlap_policy=sm.params.settings["overlap_policy"], adjudication=adjudicated)
print(summary, file=sys.stderr)
