"""Snakemake: the demo's simulated verifier fills one coder's sheet from gold (marked simulated)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import simulated_verification  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    written = simulated_verification(sm.input.manifest, sm.input.corpus, Path(sm.output.filled),
                                     error_rate=sm.params.settings["error_rate"], seed=sm.params.settings["seed"],
                                     codebook=sm.input.codebook)
    print("SIMULATED verification (no person):", *written, sep="\n", file=sys.stderr)
