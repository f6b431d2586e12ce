"""Snakemake: a verification done elsewhere (verify.decisions) as verified labels, decision log and reliability."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import import_verification  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    summary = import_verification(sm.input.decisions, sm.input.corpus, sm.input.codebook, Path(sm.output.verified).parent,
                                  fmt=sm.params.settings["decisions_format"],
                                  overlap_policy=sm.params.settings["overlap_policy"], study=sm.wildcards.study)
    print(summary, file=sys.stderr)
