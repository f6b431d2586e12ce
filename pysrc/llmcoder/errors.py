"""Errors that tell a researcher which file, which row and what to do, instead of a traceback."""

from __future__ import annotations

import errno
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

MAX_LISTED = 20


@dataclass
class Problem:
    """One thing wrong with an input: where it is (file, 1-based row as a spreadsheet shows it) and what."""

    message: str
    row: int | None = None
    column: str | None = None

    def render(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        prefix = f"{', '.join(where)}: " if where else ""
        return f"{prefix}{self.message}"


@dataclass
class InputError(Exception):
    """Raised when an input file is invalid; the CLI prints it and exits with status 2.

    Problems of one kind are grouped: at most ``MAX_LISTED`` offenders are listed, then a count.
    """

    path: str
    what: str
    problems: Sequence[Problem] = field(default_factory=list)
    fix: str = ""

    def __post_init__(self) -> None:
        super().__init__(str(self))

    def __str__(self) -> str:
        lines = [f"{self.path}: {self.what}"]
        shown = list(self.problems)[:MAX_LISTED]
        lines += [f"  - {p.render()}" for p in shown]
        extra = len(self.problems) - len(shown)
        if extra > 0:
            lines.append(f"  ... and {extra} more ({len(self.problems)} in all)")
        if self.fix:
            lines.append(f"  fix: {self.fix}")
        return "\n".join(lines)


def rows_problem(rows: Sequence[int], message: str, column: str | None = None) -> list[Problem]:
    """One :class:`Problem` per offending row, sharing one message."""
    return [Problem(message, row=r, column=column) for r in rows]


def os_error_message(err: OSError) -> str:
    """A file-system failure as a person reads it: the path, what went wrong, and what to do."""
    path = err.filename or "?"
    reason = err.strerror or str(err)
    fixes = {
        errno.EACCES: "choose a folder you can write to, or fix its permissions",
        errno.EPERM: "choose a folder you can write to, or fix its permissions",
        errno.EROFS: "the disk is read-only: choose an output folder on a writable disk",
        errno.ENOSPC: "the disk is full: free space or choose another output folder, then run again",
        errno.EDQUOT: "your disk quota is used up: free space or choose another folder, then run again",
        errno.ENOENT: "check the path (it is relative to the folder you run llmcoder from)",
        errno.ENOTDIR: "a file stands where a folder is needed: move or rename that file",
        errno.EISDIR: "a folder stands where a file is needed: pass a file path",
    }
    fix = fixes.get(err.errno or -1, "check the path and its permissions")
    return f"{path}: {reason}\n  fix: {fix}"


@contextmanager
def rule_errors() -> Iterator[None]:
    """In a workflow script: bad input or a file that cannot be written ends the job with the message
    (in the rule's log and on the console) and exit status 2, not with a traceback."""
    try:
        yield
    except InputError as err:
        message = f"error: {err}"
    except OSError as err:
        message = f"error: {os_error_message(err)}"
    else:
        return
    print(message, file=sys.stderr)
    if sys.stderr is not sys.__stderr__:  # the scripts send stderr to the rule's log
        print(message, file=sys.__stderr__)
    raise SystemExit(2)
