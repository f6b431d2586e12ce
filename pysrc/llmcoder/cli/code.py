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
    batch_out: Annotated[Path | None, typer.Option(
        "--batch-out", help="HTTP coders: write the requests as an OpenAI batch file (JSONL) instead of sending "
                            "them (for a hosted batch API, 'vllm run-batch' or 'llmcoder batch run').")] = None,
    batch_in: Annotated[Path | None, typer.Option(
        "--batch-in", help="HTTP coders: read the answers from a batch results file (JSONL) instead of a server; "
                           "same corpus, coder and --rotations as --batch-out.")] = None,
) -> None:
    """Code every document with an LLM coder; rerun the same command to resume after a crash."""
    from llmcoder.errors import InputError

    try:
        chosen = [name for name, v in (("--estimate", estimate), ("--batch-out", batch_out), ("--batch-in", batch_in))
                  if v]
        if len(chosen) > 1:
            raise InputError(" and ".join(chosen), "these options exclude each other",
                             fix="write the batch file, send it, then read its results: three commands")
        if batch_out is not None or batch_in is not None:
            from llmcoder.codebook import load_codebook
            from llmcoder.coders import batch
            from llmcoder.coders.config import CoderConfig

            cfg = CoderConfig.from_yaml(coder)
            cb = load_codebook(codebook)
            if batch_out is not None:
                meta = batch.write_batch_requests(corpus, cb, cfg, batch_out, rotations=rotations, limit=limit)
                typer.echo(f"{batch_out}: {meta['n_requests']} requests of {cfg.coder_id} (OpenAI batch format); "
                           f"send them with 'llmcoder batch run {batch_out} --server URL --out RESULTS.jsonl' or "
                           "a batch API, then: llmcoder code ... --batch-in RESULTS.jsonl --out ...", err=True)
                return
            if out is None:
                raise InputError("--out", "no output path given", fix="pass --out results/code/<coder>.parquet")
            res, report = batch.code_from_batch(corpus, cb, cfg, out, batch_in, rotations=rotations, limit=limit,
                                                progress=progress)
            if report:
                batch.print_report(report, str(batch_in))
            from llmcoder.coders.run import side_paths, summary_line

            typer.echo(summary_line(cfg.coder_id, res["doc_id"].n_unique(), rotations, Path(out),
                                    side_paths(out)["provenance"], source=cfg.source), err=True)
            return
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


def batch_run(
    requests: Annotated[Path, typer.Argument(help="Batch request file (JSONL) from 'llmcoder code --batch-out'.")],
    server: Annotated[str, typer.Option("--server", help="OpenAI-compatible server: its root or /v1 URL "
                                                         "(e.g. http://127.0.0.1:8080).")],
    out: Annotated[Path, typer.Option("--out", help="Batch results file (JSONL) to write.")],
    api_key_env: Annotated[str | None, typer.Option(
        "--api-key-env", help="Environment variable holding the API key (the key never goes in a file).")] = None,
    concurrency: Annotated[int, typer.Option("--concurrency", min=1, help="Requests in flight at once.")] = 4,
    timeout: Annotated[float, typer.Option("--timeout", min=1, help="Seconds per request.")] = 120.0,
    retries: Annotated[int, typer.Option("--retries", min=0, help="Retries of a failed request.")] = 3,
) -> None:
    """Send a batch request file to a server, line by line, and write the answers in the batch output format;
    rerun the same command to resume after a crash."""
    from llmcoder.coders.batch import run_batch
    from llmcoder.errors import InputError

    try:
        res = run_batch(requests, server, out, api_key_env=api_key_env, concurrency=concurrency, timeout_s=timeout,
                        max_retries=retries)
    except InputError as e:
        fail(e)
    typer.echo(f"{out}: {res['n_ok']} of {res['n_requests']} requests answered"
               + (f", {res['n_failed']} failed (rerun to try them again)" if res["n_failed"] else "")
               + (f"; {res['n_resumed']} answered by an earlier, interrupted run" if res["n_resumed"] else ""),
               err=True)


def register(app: typer.Typer) -> None:
    """Add the ``code`` command and the ``batch`` commands to the llmcoder CLI."""
    app.command("code")(code)
    batch = typer.Typer(help="Batch files of HTTP coders: send them to a server file to file.", no_args_is_help=True)
    batch.command("run")(batch_run)
    app.add_typer(batch, name="batch")

