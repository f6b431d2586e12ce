"""``llmcoder verify``: make verification sheets, ingest filled ones, simulate a verifier for demos."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmcoder.cli.errors import fail


def _split(csv: str) -> list[str]:
    return [c.strip() for c in csv.split(",") if c.strip()]


def register(app: typer.Typer) -> None:
    """Add the ``verify`` sub-app (commands ``sheets``, ``ingest``, ``simulate``, ``serve``, ``export``) to ``app``."""
    verify = typer.Typer(name="verify", no_args_is_help=True, add_completion=False,
                         pretty_exceptions_enable=False,
                         help="Human verification by rejection: sheets for human coders, ingest of the "
                              "filled sheets into verified labels.")

    @verify.command("sheets")
    def sheets(
        corpus: Annotated[Path, typer.Option(help="Canonical corpus Parquet (from 'llmcoder prepare').")],
        codings: Annotated[list[Path], typer.Option(
            help="LLM codings: coders/<coder_id>.parquet files or their folder (repeatable).")],
        codebook: Annotated[Path, typer.Option(help="Codebook YAML (label names and definitions).")],
        coders: Annotated[str, typer.Option(help="Human coders, comma-separated (they name the files).")],
        out: Annotated[Path, typer.Option(help="Folder for <coder>.xlsx/.csv and manifest.json.")],
        study: Annotated[str, typer.Option(help="Study id written into every sheet.")] = "study",
        overlap: Annotated[float, typer.Option(help="Share of documents given to several coders.")] = 0.2,
        overlap_coders: Annotated[int, typer.Option(help="Coders per overlap document.")] = 2,
        min_prob: Annotated[float | None, typer.Option(
            help="Also propose every label with at least this probability.")] = None,
        all_rotations: Annotated[bool, typer.Option(
            help="Propose the chosen labels of every rotation, not only rotation 0.")] = False,
        route: Annotated[str, typer.Option(
            help="'none' or 'uncertain_first' (LLM disagreement or low confidence on top).")] = "none",
        uncertain_below: Annotated[float, typer.Option(
            help="Top probability below which a document counts as uncertain.")] = 0.5,
        seed: Annotated[int, typer.Option(help="Seed of the assignment and the row order.")] = 0,
        formats: Annotated[str, typer.Option(help="Comma-separated: xlsx, csv.")] = "xlsx,csv",
    ) -> None:
        """Write one blind verification sheet per human coder and the manifest ingest checks them against."""
        from llmcoder.errors import InputError
        from llmcoder.verify import make_sheets, write_sheets

        try:
            from llmcoder.io import ensure_outside

            ensure_outside(out, [corpus, *codings, codebook])
            s = make_sheets(corpus, codings, codebook, coders=_split(coders), overlap=overlap,
                            overlap_coders=overlap_coders, min_prob=min_prob,
                            rotations="all" if all_rotations else "first", route=route,  # type: ignore[arg-type]
                            uncertain_below=uncertain_below, random_state=seed)
            write_sheets(s, out, study=study, formats=_split(formats))
        except (InputError, ValueError) as err:
            fail(err)
        for coder, frame in s.items():
            print(f"{out / coder}.xlsx: {frame.height} rows, {frame['doc_id'].n_unique()} documents")
        st = s.settings
        print(f"{out / 'manifest.json'}: {st['n_documents']} documents ({st['n_overlap_documents']} shared), "
              f"{len(st['documents_without_proposals'])} without proposals")

    @verify.command("ingest")
    def ingest_cmd(
        sheets: Annotated[list[Path], typer.Argument(help="Filled sheets, one per human coder (XLSX or CSV).")],
        manifest: Annotated[Path, typer.Option(help="manifest.json written with the blank sheets.")],
        codebook: Annotated[Path, typer.Option(help="The study's codebook YAML.")],
        out: Annotated[Path, typer.Option(help="Folder for verified labels, decision log, queue and rates.")],
        adjudication: Annotated[Path | None, typer.Option(
            help="Filled adjudication sheet (written by a previous ingest under OUT/adjudication/).")] = None,
        overlap_policy: Annotated[str, typer.Option(
            help="Several coders disagree: 'adjudicate', 'union' or 'intersection'.")] = "adjudicate",
        allow_missing: Annotated[bool, typer.Option(
            help="Ingest even when some coders of the manifest have no sheet.")] = False,
        reject_as: Annotated[str | None, typer.Option(
            help="Comma-separated words read as reject, e.g. a team's own language (default: reject,x). "
                 "Yes/no-like words are refused: they could mean either.")] = None,
        keep_as: Annotated[str | None, typer.Option(
            help="Comma-separated words read as keep; an empty cell is always keep (default: keep).")] = None,
    ) -> None:
        """Validate the filled sheets (all problems at once; nothing written if any) and write the results."""
        from llmcoder.errors import InputError
        from llmcoder.io import ensure_outside, ensure_writable
        from llmcoder.verify import DEFAULT_VOCABULARY, ingest
        from llmcoder.verify._common import normalize_vocabulary

        vocab = {"reject": _split(reject_as) if reject_as is not None else DEFAULT_VOCABULARY["reject"],
                 "keep": ["", *(_split(keep_as) if keep_as is not None else DEFAULT_VOCABULARY["keep"])]}
        try:
            normalize_vocabulary(vocab)
        except ValueError as err:
            fail(InputError("--reject-as/--keep-as", str(err), fix="pass words that name the decision, e.g. "
                             "--reject-as ablehnen --keep-as behalten, or leave both options out"))
        if overlap_policy not in ("adjudicate", "union", "intersection"):
            fail(InputError("--overlap-policy", f"'{overlap_policy}' is not a policy",
                             fix="use adjudicate, union or intersection"))
        try:
            ensure_writable(out, folder=True)
            ensure_outside(out, [*sheets, manifest, codebook, adjudication])
            res = ingest(sheets, codebook=codebook, manifest=manifest, adjudication=adjudication,
                         require_all=not allow_missing, overlap_policy=overlap_policy,  # type: ignore[arg-type]
                         vocabulary=vocab)
        except (InputError, ValueError) as err:
            fail(err)
        res.write(out)
        s = res.summary
        sim = " (SIMULATED verification)" if res.simulated else ""
        print(f"{out}: {s['n_verified']} of {s['n_documents']} documents verified{sim}, "
              f"{s['n_adjudication_queue']} to adjudicate")
        for v in s.get("decision_variants", []):
            print(f"  '{v['written']}' read as {v['read_as']}: {v['rows']} rows")
        if s.get("coders_missing"):
            print(f"  not ingested (no filled sheet): {', '.join(s['coders_missing'])}; their documents wait")
        for flag in s.get("flags", []):
            print(f"  FLAG {flag['sheet']} ({flag['coder']}): {flag['why']}")
        if s["n_adjudication_queue"] and res.adjudication_sheet is not None:
            print(f"  adjudicate: fill {out / 'adjudication' / 'adjudicator.xlsx'}, save it outside {out} "
                  "(e.g. as adjudicated.xlsx beside it), then ingest again with --adjudication")

    @verify.command("simulate")
    def simulate_cmd(
        sheets_dir: Annotated[Path, typer.Option(help="Folder with the blank sheets and manifest.json.")],
        corpus: Annotated[Path, typer.Option(help="Canonical corpus Parquet with gold labels.")],
        out: Annotated[Path, typer.Option(help="Folder for the simulated filled sheets.")],
        error_rate: Annotated[float, typer.Option(help="Probability of a wrong simulated decision.")] = 0.05,
        seed: Annotated[int, typer.Option(help="Seed of the simulated errors.")] = 0,
    ) -> None:
        """Fill the sheets from gold labels with seeded errors (demo only: marked simulated everywhere)."""
        from llmcoder.corpus import read_corpus
        from llmcoder.errors import InputError
        from llmcoder.verify import load_manifest, simulate_verification, write_sheets
        from llmcoder.verify.simulate import read_blank_sheets

        try:
            man = load_manifest(sheets_dir / "manifest.json")
            blank = read_blank_sheets(sheets_dir, man)
            filled = simulate_verification(blank, read_corpus(corpus), error_rate=error_rate, random_state=seed)
            written = write_sheets(filled, out, study=man["study"], formats=["xlsx"], manifest=False)
        except (InputError, ValueError) as err:
            fail(err)
        print(f"{out}: {len(written)} SIMULATED filled sheet(s) (error rate {error_rate}); no person verified them")

    @verify.command("flourishing")
    def flourishing_cmd(
        codings: Annotated[Path, typer.Argument(help="flourishing_llm_codings_verified.csv")],
        tweets: Annotated[Path, typer.Argument(help="flourishing_tweets.csv (published verified sets)")],
        out: Annotated[Path | None, typer.Option(help="Also write the ingest outputs here.")] = None,
    ) -> None:
        """Run the Rethinking Scale paper's own verification through ingest and print its numbers."""
        from llmcoder.errors import InputError
        from llmcoder.verify.adapters import report_flourishing, verify_flourishing

        try:
            print(report_flourishing(codings, tweets))
            if out is not None:
                verify_flourishing(codings, tweets)[0].write(out)
        except InputError as err:
            fail(err)

    @verify.command("serve")
    def serve_cmd(
        sheets: Annotated[Path, typer.Option(
            help="manifest.json of the blank sheets (results/<study>/verify/sheets/manifest.json), or the "
                 "adjudication folder the ingest writes (results/<study>/verify/ingest/adjudication).")],
        db: Annotated[Path, typer.Option(help="SQLite file for tokens and decisions (made if missing; reuse it "
                                              "to keep links and decisions across restarts).")],
        codebook: Annotated[Path | None, typer.Option(
            help="The study's codebook YAML (shows each label's exclusions; names the right labels).")] = None,
        host: Annotated[str, typer.Option(
            help="Address to listen on; 127.0.0.1 keeps it on this machine.")] = "127.0.0.1",
        port: Annotated[int, typer.Option(help="Port to listen on.")] = 8765,
    ) -> None:
        """Serve the sheets' assignments (or the adjudication queue) in the browser: prints each person's
        personal link and the team view."""
        from llmcoder.errors import InputError
        from llmcoder.verify.web import create_app, links

        try:
            app = create_app(sheets, db, codebook=codebook)
        except (InputError, ValueError) as err:
            fail(err)
        shown = f"[{host}]" if ":" in host else host
        for who, url in links(app.state.tokens, f"http://{shown}:{port}").items():
            print(f"{who}: {url}", flush=True)
        if host not in ("127.0.0.1", "localhost", "::1"):
            print(f"WARNING: listening on {host}: anyone who can reach it and has a link can verify")
        import uvicorn

        uvicorn.run(app, host=host, port=port, log_level="warning")

    @verify.command("export")
    def export_cmd(
        sheets: Annotated[Path, typer.Option(
            help="What 'verify serve' served: manifest.json of the blank sheets, or the adjudication folder.")],
        db: Annotated[Path, typer.Option(help="The SQLite file of 'llmcoder verify serve'.")],
        out: Annotated[Path, typer.Option(
            help="Folder for the filled sheets <coder>.xlsx and timing.csv; for the adjudication, the filled "
                 "sheet's file (results/<study>/verify/adjudicated.xlsx).")],
        codebook: Annotated[Path | None, typer.Option(help="The study's codebook YAML.")] = None,
    ) -> None:
        """Write the decisions made in the browser as filled sheets (for 'verify ingest') and timing.csv,
        or the adjudicator's as the filled adjudication sheet."""
        from llmcoder.errors import InputError
        from llmcoder.verify.web import ADJUDICATION, export_adjudication, export_decisions, load_assignments

        try:
            from llmcoder.io import ensure_outside

            if load_assignments(sheets, codebook).round == ADJUDICATION:  # one file, never over a foreign one
                adj = export_adjudication(sheets, db, out, codebook=codebook)
                print(f"{out}: the filled adjudication sheet, {adj['n_decided']} of {adj['n_items']} labels decided")
                if not adj["finished"]:
                    print("  not marked finished (ingest refuses the sheet until the adjudicator presses 'finished')")
                return
            ensure_outside(out, [sheets, db, codebook])
            res = export_decisions(sheets, db, out, codebook=codebook)
        except (InputError, ValueError) as err:
            fail(err)
        print(f"{out}: {len(res['sheets'])} filled sheet(s), seconds per decision in {res['timing']}")
        if res["unfinished"]:
            print(f"  not marked finished (ingest refuses their sheets): {', '.join(res['unfinished'])}")
        if res["offline"]:
            print(f"  no decision in the browser, no sheet written (their Excel sheets go in {out}): "
                  f"{', '.join(res['offline'])}")

    app.add_typer(verify, name="verify")
