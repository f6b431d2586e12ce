"""Errors that tell a researcher which file, which row and what to do, instead of a traceback."""

from __future__ import annotations

from collections.abc import Sequence
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
