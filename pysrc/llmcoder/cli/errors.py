"""How a command ends on bad input: ``error: <message>`` on stderr and exit status 2."""

from __future__ import annotations

import sys
from typing import NoReturn

import typer


def print_error(err: Exception | str) -> None:
    """Print ``err`` for a person, as ``error: <message>`` on stderr."""
    print(f"error: {err}", file=sys.stderr)


def fail(err: Exception | str) -> NoReturn:
    """Print ``err`` (an :class:`~llmcoder.errors.InputError` names file, row and fix) and exit with status 2."""
    print_error(err)
    raise typer.Exit(code=2)
