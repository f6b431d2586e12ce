"""Snakemake: positional bias from rotated codings, per-class recall asymmetry, per-stratum metrics, routing."""
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)  # noqa: F821

from pathlib import Path  # noqa: E402

from llmcoder.errors import rule_errors  # noqa: E402
from llmcoder.stages import bias_checks  # noqa: E402

sm = snakemake  # noqa: F821
with rule_errors():
    coders, systems = sm.params.coders, sm.params.systems
    written = bias_checks(
        dict(zip(coders, sm.input.codings, strict=True)), dict(zip(systems, sm.input.predictions, strict=True)),
        sm.input.corpus, sm.input.splits, sm.input.codebook, Path(sm.output.done).parent,
        evaluations=dict(zip(systems, sm.input.evaluations, strict=True)),
        orders=dict(zip(coders, sm.input.orders, strict=True)),
        strata=sm.params.strata, n_boot=sm.params.settings["n_boot"], seed=sm.params.settings["seed"],
        routed={sm.params.predict_model: tuple(sm.input.routed)} if sm.input.routed else {})
print(written, file=sys.stderr)
