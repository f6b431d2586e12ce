"""Benchmark: polars -> R -> polars through llmcoder.rbridge versus rpy2's pandas2ri.

A 100,000-row frame with a float column, an integer column, a string column with four levels and a
boolean column, each with nulls, is sent to R and read back. Both paths run in one process on the
same frame; each timing is the best and the median of several runs after one warm-up. The pandas path to R
includes ``DataFrame.to_pandas()``, since its input is a polars frame too; back from R it stops at
the pandas frame, because ``pl.from_pandas()`` cannot read what pandas2ri returns (rpy2 NA objects in
the string column), so its time is a lower bound.

Run (writes its section of benchmarks/RESULTS.md)::

    TZ=UTC .venv/bin/python benchmarks/bench_rbridge.py [--rows 100000] [--repeats 7] [--no-write]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import cpu_name as _cpu_name  # noqa: E402
from _results import write_section as _write_section  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
START, END = "<!-- bench_rbridge:start -->", "<!-- bench_rbridge:end -->"


def cpu_name() -> str:
    """The CPU, as the RESULTS.md sections name it."""
    return _cpu_name(cores=False)


def write_section(text: str) -> None:
    """Replace this benchmark's section of RESULTS.md."""
    _write_section(text, START, END)


def make_frame(n: int, seed: int = 0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    idx = pl.int_range(n)
    return pl.DataFrame(
        {
            "score": rng.normal(size=n),
            "count": rng.integers(0, 1000, n),
            "label": rng.choice(["health", "education", "energy", "défense"], n),
            "verified": rng.random(n) < 0.5,
        }
    ).with_columns(
        pl.when(idx % 10 == 0).then(None).otherwise(pl.col("score")).alias("score"),
        pl.when(idx % 11 == 0).then(None).otherwise(pl.col("count")).alias("count"),
        pl.when(idx % 7 == 0).then(None).otherwise(pl.col("label")).alias("label"),
        pl.when(idx % 5 == 0).then(None).otherwise(pl.col("verified")).alias("verified"),
    )


def timed_ms(fn, repeats: int) -> tuple[tuple[float, float], object]:
    """((best, median) milliseconds over ``repeats`` runs after one warm-up, last result)."""
    out = fn()  # warm-up
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append((time.perf_counter() - t0) * 1e3)
    return (min(times), statistics.median(times)), out


def run(rows: int, repeats: int) -> dict[str, float | str | int]:
    import rpy2
    import rpy2.robjects as ro
    from rpy2.robjects import pandas2ri

    from llmcoder.rbridge import from_r, r_session, to_r

    r_session()
    df = make_frame(rows)

    bridge_to, r_df = timed_ms(lambda: to_r(df), repeats)
    bridge_from, back = timed_ms(lambda: from_r(r_df), repeats)
    assert back.equals(df), "the bridge did not round-trip the frame"

    conv = ro.default_converter + pandas2ri.converter

    def pandas_to():
        with conv.context():
            return ro.conversion.get_conversion().py2rpy(df.to_pandas())

    def pandas_from():
        # Only to pandas: pl.from_pandas() cannot read the result, whose string column holds
        # rpy2's NA_character_ objects, so this time is a lower bound of the pandas path.
        with conv.context():
            return ro.conversion.get_conversion().rpy2py(p_r_df)

    pandas_to_ms, p_r_df = timed_ms(pandas_to, repeats)
    pandas_from_ms, p_back = timed_ms(pandas_from, repeats)
    assert len(p_back) == rows

    import pandas

    return {
        "rows": rows,
        "repeats": repeats,
        "bridge_to_ms": bridge_to,
        "bridge_from_ms": bridge_from,
        "pandas_to_ms": pandas_to_ms,
        "pandas_from_ms": pandas_from_ms,
        "cpu": cpu_name(),
        "load": " / ".join(f"{v:.1f}" for v in os.getloadavg()),
        "cores": os.cpu_count() or 0,
        "python": platform.python_version(),
        "versions": (
            f"polars {pl.__version__}, numpy {np.__version__}, pandas {pandas.__version__}, "
            f"rpy2 {rpy2.__version__}, {ro.r('R.version.string')[0]}"
        ),
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
    }


def section(r: dict) -> str:
    def row(name: str, ours: tuple[float, float], theirs: tuple[float, float]) -> str:
        return (
            f"| {name} | {ours[0]:.1f} | {ours[1]:.1f} | {theirs[0]:.0f} | {theirs[1]:.0f} | "
            f"{theirs[0] / ours[0]:.0f}× / {theirs[1] / ours[1]:.0f}× |"
        )

    def add(a: tuple[float, float], b: tuple[float, float]) -> tuple[float, float]:
        return (a[0] + b[0], a[1] + b[1])

    return "\n".join([
        START,
        "## R bridge: polars ↔ R data.frame (`benchmarks/bench_rbridge.py`)",
        "",
        f"{r['rows']:,} rows × 4 columns (float, int, string with 4 levels, bool; each with nulls), "
        f"best and median of {r['repeats']} runs after a warm-up, one process. The pandas2ri path "
        "to R includes `to_pandas()`; back from R it stops at pandas (a lower bound: "
        "`pl.from_pandas()` cannot read pandas2ri's `NA_character_` objects). pandas2ri is also "
        "lossy here: float and integer nulls reach R as `NaN`, and integers as doubles. The "
        "bridge's round trip is checked to return the identical frame.",
        "",
        "| direction | rbridge best (ms) | rbridge median (ms) | pandas2ri best (ms) "
        "| pandas2ri median (ms) | speed-up best / median |",
        "|:--|--:|--:|--:|--:|--:|",
        row("polars → R", r["bridge_to_ms"], r["pandas_to_ms"]),
        row("R → polars", r["bridge_from_ms"], r["pandas_from_ms"]),
        row("round trip", add(r["bridge_to_ms"], r["bridge_from_ms"]),
            add(r["pandas_to_ms"], r["pandas_from_ms"])),
        "",
        f"Machine: {r['cpu']}, {r['cores']} cores, load average {r['load']} (1/5/15 min) while "
        f"running; Python {r['python']}; {r['versions']}. Date: {r['date']}.",
        "",
        "Command: `TZ=UTC .venv/bin/python benchmarks/bench_rbridge.py`",
        END,
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--repeats", type=int, default=15)
    ap.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = ap.parse_args()
    text = section(run(args.rows, args.repeats))
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
