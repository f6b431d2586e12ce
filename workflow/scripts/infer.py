"""Snakemake: findings (shares, regressions) from the surrogate's labels and a labelled sample (PPI++, DSL)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import findings  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    estimates = findings(sm.input.surrogate, sm.input.corpus, sm.input.splits, sm.input.codebook,
                         Path(sm.output.done).parent, settings=sm.params.settings, surrogate_name=sm.params.name,
                         surrogate_kind=sm.params.kind, strata=sm.params.strata,
                         design=sm.input.design[0] if len(sm.input.design) else None,
                         verified=sm.input.verified[0] if len(sm.input.verified) else None,
                         crossfit=Path(sm.input.crossfit[0]).parent if len(sm.input.crossfit) else None)
print(f"{estimates.height} estimates written to {Path(sm.output.done).parent}", file=sys.stderr)
