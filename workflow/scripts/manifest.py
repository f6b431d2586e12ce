"""Snakemake: the study's manifest, the results files R reads, checked against the results contract."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.results import write_manifest  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    path = write_manifest(sm.params.results, list(sm.input.products), study=sm.wildcards.study,
                          out=sm.output.manifest)
print(path, file=sys.stderr)
