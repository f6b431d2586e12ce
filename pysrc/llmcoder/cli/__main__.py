"""``python -m llmcoder.cli ...``: the ``llmcoder`` command (the Snakemake rules call it this way)."""

from llmcoder.cli import main

main()
