"""Snakemake: blank verification sheets, one per human coder, and the manifest ingest checks them against."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import verification_sheets  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    verification_sheets(sm.input.corpus, sm.input.splits, sm.input.codings, sm.input.codebook,
                        Path(sm.output.manifest).parent, study=sm.wildcards.study, settings=sm.params.settings,
                        sample=sm.input.sample[0] if len(sm.input.sample) else None)
