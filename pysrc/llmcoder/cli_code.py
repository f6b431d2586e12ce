"""``llmcoder code``: code a corpus with an LLM coder (resumable, with rotations and estimates).

Wired into the main CLI with ``register(app)``; also runnable alone as
``python -m llmcoder.cli_code code CORPUS --codebook CB --coder CODER.yaml --out OUT.parquet``.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer


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
        from llmcoder.codebook import load_codebook
        from llmcoder.coders.config import CoderConfig

        cb = load_codebook(codebook)
        cfg = CoderConfig.from_yaml(coder)
        if threads:
            cfg.threads = threads
        if estimate:
            from llmcoder.coders.estimate import estimate as run_estimate

            run_estimate(corpus, cb, cfg, rotations=rotations, limit=limit)
            return
        if out is None:
            raise InputError("--out", "no output path given", fix="pass --out results/code/<coder>.parquet")
        from llmcoder.coders.run import code_corpus

        res = code_corpus(corpus, cb, cfg, out, rotations=rotations, limit=limit, progress=progress)
        n = res["doc_id"].n_unique()
        typer.echo(f"{cfg.coder_id}: coded {n} documents x {rotations} rotation(s) -> {out}", err=True)
    except InputError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add the ``code`` command to the llmcoder CLI."""
    app.command("code")(code)


def _standalone() -> typer.Typer:
    app = typer.Typer(add_completion=False, no_args_is_help=True)

    @app.callback()
    def _root() -> None:
        """llmcoder LLM coders."""

    register(app)
    return app


if __name__ == "__main__":
    _standalone()(prog_name="llmcoder", args=sys.argv[1:])
