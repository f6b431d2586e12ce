"""Snakemake: validate the filled sheets and write verified labels, decision log, queue and reliability."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import ingest_verification  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    adjudicated = next(iter(sm.input.adjudication), None)  # declared only once the adjudicator has filled it
    settings = sm.params.settings
    summary = ingest_verification(sm.params.filled, sm.input.manifest, sm.input.codebook, Path(sm.output.verified).parent,
                                  overlap_policy=settings["overlap_policy"], adjudication=adjudicated,
                                  require_all=not (settings["mode"] in ("human", "web") and settings["allow_missing"]),
                                  timing=next(iter(sm.input.timing), None), corpus=sm.input.corpus,
                                  simulate_adjudication=({"corpus": sm.input.corpus, "error_rate": settings["error_rate"],
                                                          "seed": settings["seed"]}
                                                         if settings["mode"] == "simulate" else None))
    print(summary, file=sys.stderr)
