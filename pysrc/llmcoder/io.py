"""Atomic writes and provenance stamps shared by every stage.

Every output is written to a temporary file beside its target and renamed into place, so a crash or
an invalid input never leaves a half-written file or overwrites a good one. A step that writes a
folder of files writes them into a staged sibling folder (:func:`staged_dir`) that replaces the old
folder in one exchange, so a failure or a kill at any point leaves the previous folder whole.
"""

from __future__ import annotations

import ctypes
import errno
import glob
import hashlib
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl

from llmcoder import __version__

_TMP_MARK = ".llmcoder-tmp"
#: A file in every folder written by :func:`staged_dir`: only such a folder (or an empty one) is replaced.
OUTPUT_MARK = ".llmcoder-output"


def _remove_stale(parent: Path, name: str) -> None:
    """Remove what an earlier, killed write of ``name`` left beside it (temp files and staged folders)."""
    rand = "?" * 8  # tempfile's random part
    base = glob.escape(f".{name}.")
    try:
        stale = [*parent.glob(f"{base}{rand}{_TMP_MARK}*"), *parent.glob(f"{base}old.{rand}{_TMP_MARK}")]
    except OSError:
        return
    for p in stale:
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _make_parent(target: Path) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as e:
        raise NotADirectoryError(errno.ENOTDIR, "a file stands where a folder is needed", str(e.filename)) from e


@contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only if the block succeeds."""
    target = Path(target)
    _make_parent(target)
    _remove_stale(target.parent, target.name)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=_TMP_MARK + (suffix or ".tmp"),
                               dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp makes files private; give the result the usual permissions
            umask = os.umask(0)
            os.umask(umask)
            tmp_path.chmod(0o666 & ~umask)
        os.replace(tmp_path, target)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system cannot."""
    if platform.system() != "Linux":
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        renameat2 = libc.renameat2
    except (OSError, AttributeError):
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    if rc == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP):
        return False  # the file system cannot exchange: fall back to two renames
    raise OSError(err, os.strerror(err), str(b))


@contextmanager
def staged_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield an empty staged folder beside ``target``; if the block succeeds, it becomes ``target``.

    The old folder is replaced in one exchange (Linux), or by two renames where the file system cannot
    exchange; a failure or a kill inside the block leaves ``target`` exactly as it was, and whatever
    such a failure left behind is removed by the next call for the same target. A folder is only ever
    replaced when it is empty or was written this way (it holds :data:`OUTPUT_MARK`), so that
    ``--out .`` cannot wipe a person's own files.
    """
    from llmcoder.errors import InputError

    target = Path(target).absolute()
    _make_parent(target)
    _remove_stale(target.parent, target.name)
    if target.exists() and not target.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, "a file stands where the output folder should be", str(target))
    if target.is_dir() and not (target / OUTPUT_MARK).is_file() and any(target.iterdir()):
        raise InputError(str(target), "this folder holds files llmcoder did not write, and the output would "
                         "replace the whole folder", fix="choose a new or empty output folder (or move your "
                         "files out of this one)")
    staged = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=_TMP_MARK, dir=target.parent))
    try:
        (staged / OUTPUT_MARK).write_text(
            "llmcoder writes this folder as a whole and replaces it on every run: keep no files of your own here.\n",
            encoding="utf-8")
        yield staged
        umask = os.umask(0)
        os.umask(umask)
        staged.chmod(0o777 & ~umask)
        if not target.exists():
            os.rename(staged, target)
        elif not _exchange(staged, target):
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old.", suffix=_TMP_MARK, dir=target.parent))
            os.rename(target, old / target.name)
            os.rename(staged, target)
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staged.exists():  # the block failed (new files), or the old folder after an exchange
            shutil.rmtree(staged, ignore_errors=True)


def ensure_writable(*paths: str | os.PathLike[str], folder: bool = False) -> None:
    """Check, before slow work starts, that each output can be written, without creating anything.

    A path is an output file (``folder=False``) or an output folder (``folder=True``); the nearest
    existing folder above it must be a folder in which a file can be created (tried and removed).
    Raises :class:`~llmcoder.errors.InputError` naming the path and the fix.
    """
    from llmcoder.errors import InputError

    fix = "choose an output path you can write to, or fix its permissions (and check that the disk is not full)"
    for path in paths:
        target = Path(path).absolute()
        if folder and target.exists() and not target.is_dir():
            raise InputError(str(target), "a file stands where the output folder should be",
                             fix="pass a folder path, or move that file away")
        if not folder and target.is_dir():
            raise InputError(str(target), "a folder stands where the output file should be", fix="pass a file path")
        probe_dir = target if folder else target.parent
        while not probe_dir.exists():
            probe_dir = probe_dir.parent
        if not probe_dir.is_dir():
            raise InputError(str(target), f"'{probe_dir}' is a file, so no folder can be made inside it",
                             fix="move that file away or choose another output path")
        try:
            fd, probe = tempfile.mkstemp(prefix=".llmcoder-write-check.", dir=probe_dir)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise InputError(str(target), f"cannot write in '{probe_dir}' ({e.strerror or e})", fix=fix) from e


def ensure_outside(out: str | os.PathLike[str], inputs: Iterator[Any] | list[Any] | tuple[Any, ...]) -> None:
    """Refuse an output folder that holds (or is) one of the command's inputs: replacing the folder as a
    whole would delete the input. Raise :class:`~llmcoder.errors.InputError` naming both."""
    from llmcoder.errors import InputError

    target = Path(out).absolute().resolve()
    for item in inputs:
        if item is None:
            continue
        src = Path(item).absolute().resolve()
        if src == target or target in src.parents:
            raise InputError(str(out), f"the output folder holds the input '{item}', and writing the output "
                             "replaces the whole folder", fix="choose an output folder that holds none of the "
                             "inputs (copy a filled adjudication sheet elsewhere, e.g. verify/adjudicated.xlsx)")


def read_parquet_input(path: str | os.PathLike[str], what: str, fix: str = "run the step that writes it first"
                       ) -> pl.DataFrame:
    """A Parquet input, with a message naming it (and ``fix``) when it is missing or unreadable."""
    from llmcoder.errors import InputError

    p = Path(path)
    if not p.is_file():
        raise InputError(str(p), f"{what} not found", fix=fix)
    try:
        return pl.read_parquet(p)
    except (pl.exceptions.PolarsError, OSError) as e:
        raise InputError(str(p), f"{what}: not a readable Parquet file ({e})", fix="write it again") from e


def write_parquet(df: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a data frame as Parquet atomically (zstd, statistics on, deterministic bytes)."""
    with atomic_path(path, ".parquet") as tmp:
        df.write_parquet(tmp, compression="zstd", statistics=True)
    return Path(path)


def write_csv(df: pl.DataFrame, path: str | os.PathLike[str]) -> Path:
    """Write a data frame as UTF-8 CSV atomically; list columns are joined with '|'."""
    out = df.with_columns(
        pl.col(c).list.join("|") for c, t in df.schema.items() if isinstance(t, pl.List)
    )
    with atomic_path(path, ".csv") as tmp:
        out.write_csv(tmp)
    return Path(path)


def write_text(text: str, path: str | os.PathLike[str]) -> Path:
    """Write text atomically as UTF-8."""
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


def write_json(obj: Any, path: str | os.PathLike[str]) -> Path:
    """Write sorted, indented JSON atomically (stable bytes for the same content)."""
    return write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path)


def file_sha256(path: str | os.PathLike[str], chunk: int = 1 << 20) -> str:
    """SHA-256 of a file's bytes, read in chunks (model files can be large)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def text_sha256(text: str) -> str:
    """SHA-256 of a string's UTF-8 bytes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def git_revision(path: str | os.PathLike[str] | None = None) -> str | None:
    """The git commit of the llmcoder source tree, or None outside a checkout."""
    where = Path(path) if path else Path(__file__).resolve().parent
    try:
        out = subprocess.run(
            ["git", "-C", str(where), "rev-parse", "HEAD"],
            capture_output=True, text=True, timeout=5, check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def provenance(**extra: Any) -> dict[str, Any]:
    """A provenance stamp: llmcoder version and git hash, Python, platform, time (UTC), plus ``extra``."""
    return {
        "llmcoder_version": __version__,
        "git_revision": git_revision(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "created_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        **extra,
    }
