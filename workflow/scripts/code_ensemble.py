"""Snakemake: combine the member coders' codings into the ensemble's (mean probability or majority vote)."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import ensemble_coder  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    members = list(sm.params.members)
    summary = ensemble_coder(dict(zip(members, sm.input.codings, strict=True)),
                             dict(zip(members, sm.input.provenance, strict=True)),
                             dict(zip(members, sm.input.orders, strict=True)), sm.input.coder, sm.output.codings)
print(summary, file=sys.stderr)
