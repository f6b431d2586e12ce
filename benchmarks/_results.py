"""Shared plumbing of the benchmarks: the machine's description and RESULTS.md sections.

Each benchmark owns one section of RESULTS.md between ``<!-- name:start -->`` and
``<!-- name:end -->`` and rewrites only that section, atomically.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"


def cpu_name(*, cores: bool = False) -> str:
    """The CPU's model name from /proc/cpuinfo (with the core count if asked)."""
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{name}, {os.cpu_count()} cores" if cores else name


def markers(name: str) -> tuple[str, str]:
    """The start and end markers of a benchmark's section."""
    return f"<!-- {name}:start -->", f"<!-- {name}:end -->"


def write_section(text: str, start: str, end: str, path: Path = RESULTS) -> None:
    """Replace the section between ``start`` and ``end`` in RESULTS.md (``text`` holds both), or append it."""
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    if start in old and end in old:
        new = old[: old.index(start)] + text + old[old.index(end) + len(end):]
    else:
        new = old.rstrip("\n") + "\n\n" + text + "\n"
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(new, encoding="utf-8")
    os.replace(tmp, path)
