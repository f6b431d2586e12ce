"""``llmcoder code``: code a corpus with an LLM coder (resumable, with rotations and estimates).

Wired into the main CLI with ``register(app)``; the workflow runs it as
the same step through :func:`llmcoder.stages.llm_codings`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmcoder.cli.errors import fail


def code(
    corpus: Annotated[Path, typer.Argument(help="Prepared corpus (Parquet with doc_id, text).")],
    codebook: Annotated[Path, typer.Option("--codebook", help="Codebook YAML (or CSV).")],
    coder: Annotated[Path, typer.Option("--coder", help="Coder config YAML (model, prompt, settings).")],
    out: Annotated[Path | None, typer.Option("--out", help="Output Parquet (long format).")] = None,
    rotations: Annotated[int, typer.Option("--rotations", min=1,
                                           help="Label orders per document (positional-bias check).")] = 1,
    estimate: Annotated[bool, typer.Option("--estimate",
                                           help="Print tokens, cost and speed instead of coding.")] = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="Code only the first N documents.")] = None,
    threads: Annotated[int | None, typer.Option("--threads", min=1,
                                                help="CPU threads for torch (overrides the coder's threads; "
                                                     "does not change the coder id).")] = None,
    progress: Annotated[bool, typer.Option("--progress/--no-progress", help="Show a progress bar.")] = True,
) -> None:
    """Code every document with an LLM coder; rerun the same command to resume after a crash."""
    from llmcoder.errors import InputError

    try:
        if estimate:
            from llmcoder.codebook import load_codebook
            from llmcoder.coders.config import CoderConfig
            from llmcoder.coders.estimate import estimate as run_estimate

            cfg = CoderConfig.from_yaml(coder)
            if threads:
                cfg.threads = threads
            run_estimate(corpus, load_codebook(codebook), cfg, rotations=rotations, limit=limit)
            return
        if out is None:
            raise InputError("--out", "no output path given", fix="pass --out results/code/<coder>.parquet")
        from llmcoder.stages import llm_codings

        typer.echo(llm_codings(corpus, codebook, coder, out, rotations=rotations, limit=limit, threads=threads,
                               progress=progress), err=True)
    except InputError as e:
        fail(e)


def register(app: typer.Typer) -> None:
    """Add the ``code`` command to the llmcoder CLI."""
    app.command("code")(code)

