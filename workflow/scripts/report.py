"""Snakemake: tables, figures and the methods section, written by the R package through rpy2."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.report import build_report  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    written = build_report(sm.input.manifest, Path(sm.output.done).parent, formats=sm.params.formats)
print(*written, sep="\n", file=sys.stderr)
