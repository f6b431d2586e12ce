"""The harness of the adversarial suite: bad inputs as data, each run as a user runs llmcoder.

A :class:`Case` is one line of a table: the files a hostile new user hands llmcoder, the command
line, and what the message must name (the file, the row or key, the fix). :func:`check` writes the
files into an empty folder, runs the real ``llmcoder`` console script there as a subprocess, and
asserts the exit status, that no traceback was printed, that every needle is in the message, and
that no file in the folder was created, changed or removed (SHA-256 of every file before and after).

Adding a case is one line in a ``tests/test_adversarial_*.py`` table::

    Case("csv-semicolon", "validate c.csv --text body", {"c.csv": "id;body\\n1;a\\n"}, ("c.csv", "sep"))
"""

from __future__ import annotations

import hashlib
import os
import shlex
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from conftest import CODEBOOK_YAML

#: A file's content: text (written as UTF-8), bytes, or a function that writes the file at the path.
Content = str | bytes | Callable[[Path], None]

CODEBOOK = CODEBOOK_YAML  # the mini policy-topics codebook of conftest

CORPUS_CSV = "id,text,label\n" + "".join(
    f"d{i},{t} number {i},{lab}\n"
    for i, (t, lab) in enumerate(
        [("More nurses for hospitals", "health"), ("New school buildings", "education"),
         ("Cheaper electricity for homes", "energy")] * 8
    )
)


@dataclass(frozen=True)
class Case:
    """One bad input: ``files`` written into an empty folder, ``argv`` run there, the message checked.

    ``argv`` is split like a shell line after ``{d}`` is replaced by the folder. ``needles`` must all
    appear in what llmcoder printed (stderr and stdout); ``code`` is the expected exit status.
    ``may_change`` names files (relative to the folder) that the command may legitimately write
    even though it fails (rarely needed; say why in the case id).
    """

    id: str
    argv: str
    files: Mapping[str, Content] = field(default_factory=dict)
    needles: tuple[str, ...] = ()
    code: int = 2
    may_change: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)


def llmcoder_command() -> list[str]:
    """The installed console script beside this Python, as a user starts it."""
    script = Path(sys.executable).with_name("llmcoder")
    return [str(script)] if script.exists() else [sys.executable, "-c", "from llmcoder.cli import main; main()"]


def snapshot(root: Path) -> dict[str, str]:
    """Every file and folder under ``root``: relative path -> SHA-256 of the bytes ('dir' for folders)."""
    out: dict[str, str] = {}
    for p in sorted(root.rglob("*")):
        rel = p.relative_to(root).as_posix()
        if p.is_symlink():
            out[rel] = "link:" + os.readlink(p)
        elif p.is_dir():
            out[rel] = "dir"
        else:
            out[rel] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def write_files(root: Path, files: Mapping[str, Content]) -> None:
    """Write each file of a case into ``root`` (subfolders made as needed)."""
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(content):
            content(path)
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


def run_llmcoder(argv: list[str], cwd: Path, env: Mapping[str, str] | None = None,
                 timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """Run ``llmcoder ARGV`` in ``cwd`` with no standard input, as CI and a terminal user would."""
    full_env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **(env or {})}
    full_env.pop("LLMCODER_DEBUG", None)
    return subprocess.run([*llmcoder_command(), *argv], cwd=cwd, env=full_env, capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, timeout=timeout)


def check(case: Case, root: Path) -> str:
    """Run one case in the empty folder ``root``; return the message for further checks."""
    write_files(root, case.files)
    before = snapshot(root)
    argv = shlex.split(case.argv.replace("{d}", str(root)))
    res = run_llmcoder(argv, root, case.env)
    message = res.stderr + res.stdout
    assert res.returncode == case.code, f"[{case.id}] exit {res.returncode}, expected {case.code}:\n{message}"
    assert "Traceback" not in message, f"[{case.id}] a traceback reached the user:\n{message}"
    for needle in case.needles:
        assert needle.replace("{d}", str(root)) in message, f"[{case.id}] {needle!r} not in the message:\n{message}"
    after = snapshot(root)
    changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
    changed -= set(case.may_change)
    assert not changed, f"[{case.id}] files created, changed or removed: {sorted(changed)}\n{message}"
    return message
