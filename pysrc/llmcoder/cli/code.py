"""``llmcoder code``: code a corpus with an LLM coder (resumable, with rotations and estimates).

Wired into the main CLI with ``register(app)``; the workflow runs it as
``python -m llmcoder.cli code CORPUS --codebook CB --coder CODER.yaml --out OUT.parquet``.
"""

from __future__ import annotations

import json
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
        from llmcoder.codebook import load_codebook
        from llmcoder.coders.config import CoderConfig

        cfg = CoderConfig.from_yaml(coder)
        cb = load_codebook(codebook)
        if threads:
            cfg.threads = threads
        if estimate:
            from llmcoder.coders.estimate import estimate as run_estimate

            run_estimate(corpus, cb, cfg, rotations=rotations, limit=limit)
            return
        if out is None:
            raise InputError("--out", "no output path given", fix="pass --out results/code/<coder>.parquet")
        from llmcoder.coders.run import code_corpus, side_paths

        res = code_corpus(corpus, cb, cfg, out, rotations=rotations, limit=limit, progress=progress)
        typer.echo(summary_line(cfg.coder_id, res["doc_id"].n_unique(), rotations, out,
                                side_paths(out)["provenance"], source=cfg.source), err=True)
    except InputError as e:
        fail(e)


def summary_line(coder_id: str, n_docs: int, rotations: int, out: Path, provenance: Path, *,
                 source: str = "the coder config") -> str:
    """What a run did, in one line: documents x rotations, where, and what was truncated or left unanswered."""
    from llmcoder.coders.run import truncation_note

    line = f"{coder_id}: coded {n_docs} documents x {rotations} rotation(s) -> {out}"
    try:
        prov = json.loads(provenance.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return line
    trunc = prov.get("truncation") or {}
    if trunc.get("n_docs_truncated"):
        line += f"; {truncation_note(trunc, source=source)}"
    else:
        line += "; no document truncated" if trunc else ""
    missing = prov.get("n_codings_without_answer") or 0
    if missing:
        line += (f"; {missing} codings got no valid answer from the model (prob is NaN there; "
                 "see the log for the answers)")
    return line


def register(app: typer.Typer) -> None:
    """Add the ``code`` command to the llmcoder CLI."""
    app.command("code")(code)

