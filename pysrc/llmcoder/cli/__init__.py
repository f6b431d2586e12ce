"""The ``llmcoder`` command line: the typer app, assembled from one module per stage, and ``main``.

Each stage module (``corpus``, ``code``, ``verify``, ``finetune``, ``stats``) exposes ``register(app)``;
this file only wires them. Every command exits with status 2 and a message naming file, row and fix
(:func:`llmcoder.cli.errors.fail`) when its input is invalid.
"""

from __future__ import annotations

import os
import sys
import tempfile
import traceback
from pathlib import Path

import typer

from llmcoder.cli import code, corpus, finetune, infer, stats, verify
from llmcoder.cli.errors import print_error
from llmcoder.errors import InputError, os_error_message

app = typer.Typer(
    name="llmcoder",
    help="Hybrid LLM coding of text corpora: LLM coders, human verification by rejection, "
    "fine-tuning, validation and publication.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _register_commands() -> None:
    """Add each stage's commands, in the order ``--help`` lists them; heavy imports stay inside the commands."""
    for module in (corpus, code, verify, finetune, stats, infer):
        module.register(app)


_register_commands()


def main() -> None:
    """Entry point of the ``llmcoder`` console script: every failure ends as a message, never a traceback.

    Bad input (:class:`InputError`) and files that cannot be read or written (``OSError``) exit with
    status 2 and say what and where; anything else is a bug in llmcoder: a one-line message (exit 1)
    and the traceback in a log file (or on screen with ``LLMCODER_DEBUG=1``).
    """
    try:
        app()
    except InputError as err:
        print_error(err)
        sys.exit(2)
    except OSError as err:
        print_error(os_error_message(err))
        sys.exit(2)
    except KeyboardInterrupt:
        print("interrupted: outputs written before are complete; run the command again to go on",
              file=sys.stderr)
        sys.exit(130)
    except Exception as err:  # a bug: say so in one line, keep the traceback for the report
        if os.environ.get("LLMCODER_DEBUG"):
            raise
        log = Path(tempfile.gettempdir()) / "llmcoder-error.log"
        try:
            log.write_text(traceback.format_exc(), encoding="utf-8")
            where = f"the traceback is in {log}"
        except OSError:
            where = "run again with LLMCODER_DEBUG=1 to see the traceback"
        print(f"error: internal error in llmcoder ({type(err).__name__}: {err}); {where}; "
              "please report it with that file", file=sys.stderr)
        sys.exit(1)

