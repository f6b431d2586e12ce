"""Hand polars data frames to R and back through rpy2, column by column, without pandas.

``rpy2.robjects.pandas2ri`` converts a frame cell by cell through pandas and Python objects; for
100,000 rows that costs more than half a second. This module copies each column's buffer straight
into an R vector instead:

=====================  ===========================  ==========================================
polars                 R                            back to polars (:func:`from_r`)
=====================  ===========================  ==========================================
Float32/Float64        double (null -> ``NA``)      Float64 (``NA`` -> null, ``NaN`` kept)
Int8..Int32, UInt8/16  integer (null -> ``NA``)     Int64
Int64, UInt32/64       integer if it fits, else     Int64 / Float64
                       double
Boolean                logical                      Boolean
String, Categorical    factor (levels sorted)       String (or Enum with ``factors="enum"``)
Enum                   factor (levels in order)     String (or Enum with ``factors="enum"``)
Date                   Date                         Date
Datetime               POSIXct (time zone kept)     Datetime("us")
=====================  ===========================  ==========================================

R character vectors coming back are read through ``unique()`` and ``match()`` in R, so only their distinct values
cross the boundary one by one. Strings go to R as factors for the same reason: building an R
character vector costs one allocation per cell, a factor one per distinct value.

The embedded R is started on first use. Its library path gets the project's R library in front
(``$LLMCODER_RLIB`` if set, else ``<repo>/.rlib`` when it exists), where ``make r-install`` puts
the ``llmcoder`` R package. Nothing else is set globally.

Examples
--------
>>> import polars as pl
>>> from llmcoder.rbridge import from_r, r_call, to_r
>>> df = pl.DataFrame({"x": [1.5, None], "g": ["a", "b"]})
>>> from_r(to_r(df)).equals(df)
True
>>> r_call("base::nrow", to_r(df))[0]
2
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import numpy as np
import polars as pl
import pyarrow as pa

__all__ = ["from_r", "r_call", "r_library_path", "r_session", "to_r"]

#: Bit pattern of R's ``NA_real_``: a NaN whose low word is 1954.
_NA_REAL_BITS = np.uint64(0x7FF00000000007A2)
_NA_INT = np.iinfo(np.int32).min
_INT32_MAX = np.iinfo(np.int32).max

_state: dict[str, Any] = {}


def r_library_path() -> Path | None:
    """The project's R library: ``$LLMCODER_RLIB``, else ``<repo>/.rlib`` if it exists, else None."""
    env = os.environ.get("LLMCODER_RLIB")
    if env:
        return Path(env).expanduser().resolve()
    repo = Path(__file__).resolve().parents[2] / ".rlib"
    return repo if repo.is_dir() else None


def _to_stderr(text: str) -> None:
    sys.stderr.write(text)  # looked up per call: follows a later redirect of sys.stderr


def restore_library_path(value: str | None) -> None:
    """Undo rpy2's ``LD_LIBRARY_PATH`` (R's lib dirs and the system's, put first when rpy2 is imported).

    The embedded R is loaded by then and no longer needs it, but every process started afterwards
    would inherit it, and a Python built with a shared libpython (pyenv, conda) then loads the
    system's libpython instead of its own and fails (``_ssl``: undefined symbol).
    """
    if value is None:
        os.environ.pop("LD_LIBRARY_PATH", None)
    else:
        os.environ["LD_LIBRARY_PATH"] = value


def r_session():
    """Start the embedded R once (idempotent) and put the project library first on ``.libPaths()``.

    Returns
    -------
    module
        ``rpy2.rinterface``, initialised.
    """
    if "ri" in _state:
        return _state["ri"]
    ld_path = os.environ.get("LD_LIBRARY_PATH")
    try:
        import rpy2.rinterface as ri
        import rpy2.rinterface_lib.callbacks as callbacks
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError(
            "llmcoder.rbridge needs rpy2 3.5 and R: pip install 'llmcoder[r]' "
            "(rpy2==3.5.17; rpy2 3.6 does not load with R 4.2)"
        ) from err
    ri.initr_simple()
    restore_library_path(ld_path)
    # R's console output goes to Python's stderr, not stdout, so report code can print freely.
    callbacks.consolewrite_print = _to_stderr
    callbacks.consolewrite_warnerror = _to_stderr
    lib = r_library_path()
    if lib is not None:
        set_paths = ri.baseenv[".libPaths"]
        current = list(set_paths())
        set_paths(ri.StrSexpVector([str(lib), *current]))
    _state["ri"] = ri
    return ri


# --------------------------------------------------------------------------------------------
# polars -> R


def _set_attr(vec, name: str, value) -> None:
    """``attr(vec, name) <- value`` through ``Rf_setAttrib``, which (unlike rpy2's
    ``do_slot_assign``) marks classed objects so that R's internal generics dispatch on them."""
    from rpy2.rinterface_lib import memorymanagement, openrlib

    with memorymanagement.rmemory() as rmem:
        sym = rmem.protect(openrlib.rlib.Rf_install(name.encode("utf-8")))
        openrlib.rlib.Rf_setAttrib(vec.__sexp__._cdata, sym, value.__sexp__._cdata)


def _buffers(s: pl.Series) -> tuple[np.ndarray, np.ndarray | None]:
    """A numeric or boolean series as (values copied into a new array, null mask or None).

    Reads the Arrow buffers directly: one pass, no fill-null and no second is-null pass.
    """
    arr = s.to_arrow()
    if isinstance(arr, pa.ChunkedArray):  # pragma: no cover - Series.to_arrow rechunks
        arr = arr.combine_chunks()
    n, off = len(arr), arr.offset
    bufs = arr.buffers()
    if pa.types.is_boolean(arr.type):
        values = np.unpackbits(
            np.frombuffer(bufs[1], np.uint8), count=n + off, bitorder="little"
        )[off:].astype(np.int32)
    else:
        dtype = np.dtype(arr.type.to_pandas_dtype())
        values = np.frombuffer(bufs[1], dtype=dtype, count=n + off)[off:].copy()
    if arr.null_count == 0 or bufs[0] is None:
        return values, None
    valid = np.unpackbits(np.frombuffer(bufs[0], np.uint8), count=n + off, bitorder="little")[off:]
    return values, valid == 0


def _float_vector(ri, s: pl.Series):
    values, na = _buffers(s.cast(pl.Float64))
    if na is not None:
        values.view(np.uint64)[na] = _NA_REAL_BITS
    return ri.FloatSexpVector.from_memoryview(memoryview(values))


def _int_vector(ri, s: pl.Series, cls=None, offset: int = 0):
    """Integer-like or boolean column to R integer/logical (NA for nulls), adding ``offset``."""
    cls = cls or ri.IntSexpVector
    values, na = _buffers(s)
    values = values.astype(np.int32, copy=False)
    if offset:
        values += offset
    if na is not None:
        values[na] = _NA_INT
    return cls.from_memoryview(memoryview(np.ascontiguousarray(values)))


def _factor(ri, s: pl.Series, levels: list[str]):
    # R factor codes are 1-based; Enum physical codes 0-based.
    vec = _int_vector(ri, s.cast(pl.Enum(levels)).to_physical(), offset=1)
    _set_attr(vec, "levels", ri.StrSexpVector(levels))
    _set_attr(vec, "class", ri.StrSexpVector(["factor"]))
    return vec


def _column_to_r(ri, s: pl.Series):
    dt = s.dtype
    if dt == pl.Boolean:
        return _int_vector(ri, s, ri.BoolSexpVector)
    if dt in (pl.Int8, pl.Int16, pl.Int32, pl.UInt8, pl.UInt16):
        return _int_vector(ri, s)
    if dt in (pl.Int64, pl.UInt32, pl.UInt64):
        lo, hi = s.min(), s.max()
        if lo is None or (lo > _NA_INT and hi <= _INT32_MAX):
            return _int_vector(ri, s)
        return _float_vector(ri, s)
    if dt.is_float():
        return _float_vector(ri, s)
    if isinstance(dt, pl.Enum):
        return _factor(ri, s, list(dt.categories))
    if dt in (pl.String, pl.Categorical):
        s = s.cast(pl.String)
        return _factor(ri, s, sorted(v for v in s.unique().to_list() if v is not None))
    if dt == pl.Date:
        vec = _float_vector(ri, s.to_physical())
        _set_attr(vec, "class", ri.StrSexpVector(["Date"]))
        return vec
    if isinstance(dt, pl.Datetime):
        secs = s.dt.epoch("us").cast(pl.Float64) / 1e6
        vec = _float_vector(ri, secs)
        _set_attr(vec, "class", ri.StrSexpVector(["POSIXct", "POSIXt"]))
        _set_attr(vec, "tzone", ri.StrSexpVector([dt.time_zone or "UTC"]))
        return vec
    if dt == pl.Null:
        return _int_vector(ri, pl.Series(s.name, [None] * len(s), dtype=pl.Boolean),
                           ri.BoolSexpVector)
    raise TypeError(
        f"column '{s.name}' has dtype {dt}, which llmcoder.rbridge does not convert; "
        "cast it to a number, string, boolean or date first"
    )


def to_r(df: pl.DataFrame):
    """Convert a polars data frame to an R ``data.frame`` (an rpy2 ``ListSexpVector``).

    Parameters
    ----------
    df : polars.DataFrame
        The frame; see the module docstring for the type of each R column.

    Returns
    -------
    rpy2.rinterface.ListSexpVector
        An R ``data.frame`` with compact row names; pass it to :func:`r_call`.

    Examples
    --------
    >>> from llmcoder.rbridge import r_call, to_r
    >>> import polars as pl
    >>> list(r_call("base::levels", to_r(pl.DataFrame({"g": ["b", "a", "b"]}))[0]))
    ['a', 'b']
    """
    if not isinstance(df, pl.DataFrame):
        raise TypeError(f"to_r() takes a polars.DataFrame, not {type(df).__name__}")
    ri = r_session()
    cols = [_column_to_r(ri, df.get_column(c)) for c in df.columns]
    out = ri.ListSexpVector(cols)
    _set_attr(out, "names", ri.StrSexpVector(df.columns))
    _set_attr(out, "row.names", ri.IntSexpVector([_NA_INT, -df.height]))
    _set_attr(out, "class", ri.StrSexpVector(["data.frame"]))
    return out


# --------------------------------------------------------------------------------------------
# R -> polars


def _rclass(ri, vec) -> list[str]:
    cls = ri.baseenv["oldClass"](vec)
    return [] if cls is ri.NULL else list(cls)


def _r_doubles(vec) -> tuple[np.ndarray, np.ndarray | None]:
    arr = np.array(vec.memoryview(), dtype=np.float64, copy=True)
    na = np.isnan(arr) & ((arr.view(np.uint64) & np.uint64(0xFFFFFFFF)) == np.uint64(1954))
    return arr, (na if na.any() else None)


def _r_ints(vec) -> tuple[np.ndarray, np.ndarray | None]:
    arr = np.array(vec.memoryview(), dtype=np.int32, copy=True)
    na = arr == _NA_INT
    return arr, (na if na.any() else None)


def _with_nulls(name: str, values: np.ndarray, na: np.ndarray | None, dtype) -> pl.Series:
    s = pl.Series(name, values).cast(dtype)
    if na is not None:
        s = pl.select(pl.when(pl.lit(pl.Series(na))).then(None).otherwise(s).alias(name)).to_series()
    return s


def _factor_to_series(ri, name: str, vec, factors: str) -> pl.Series:
    codes, na = _r_ints(vec)
    levels = [str(v) for v in ri.baseenv["levels"](vec)]
    idx = codes.astype(np.int64) - 1
    if na is not None:
        idx[na] = 0
    s = pl.Series(name, levels, dtype=pl.String).gather(idx) if levels else None
    if s is None:
        s = pl.Series(name, [None] * len(codes), dtype=pl.String)
    elif na is not None:
        s = s.scatter(np.flatnonzero(na), None)
    s = s.alias(name)
    return s if factors == "string" else s.cast(pl.Enum(levels))


def _column_from_r(ri, name: str, vec, factors: str) -> pl.Series:
    cls = _rclass(ri, vec)
    t = vec.typeof
    if t == ri.RTYPES.INTSXP and "factor" in cls:
        return _factor_to_series(ri, name, vec, factors)
    if t == ri.RTYPES.STRSXP:
        # unique() and match() in R: only the distinct strings cross into Python.
        uniq = ri.baseenv["unique"](vec)
        codes, _ = _r_ints(ri.baseenv["match"](vec, uniq))
        values = [None if v is ri.NA_Character else str(v) for v in uniq]
        return pl.Series(name, values, dtype=pl.String).gather(codes.astype(np.int64) - 1)
    if t == ri.RTYPES.LGLSXP:
        arr, na = _r_ints(vec)
        return _with_nulls(name, arr.astype(bool), na, pl.Boolean)
    if t == ri.RTYPES.INTSXP:
        arr, na = _r_ints(vec)
        return _with_nulls(name, arr.astype(np.int64), na, pl.Int64)
    if t == ri.RTYPES.REALSXP:
        arr, na = _r_doubles(vec)
        if "Date" in cls:
            days = np.floor(np.where(na, 0, arr) if na is not None else arr).astype(np.int32)
            return _with_nulls(name, days, na, pl.Int32).cast(pl.Date)
        if "POSIXct" in cls:
            us = np.round(np.where(na, 0, arr) * 1e6 if na is not None else arr * 1e6)
            tz_attr = vec.do_slot("tzone") if "tzone" in list(vec.list_attrs()) else None
            tz = str(tz_attr[0]) if tz_attr is not None and len(tz_attr) and tz_attr[0] else None
            s = _with_nulls(name, us.astype(np.int64), na, pl.Int64).cast(pl.Datetime("us", "UTC"))
            return s.dt.convert_time_zone(tz) if tz and tz != "UTC" else s
        return _with_nulls(name, arr, na, pl.Float64)
    if t == ri.RTYPES.NILSXP:
        return pl.Series(name, [], dtype=pl.Null)
    raise TypeError(f"R column '{name}' has type {t!r} (class {cls}); llmcoder.rbridge cannot read it")


def from_r(robj, *, factors: Literal["string", "enum"] = "string") -> pl.DataFrame:
    """Convert an R ``data.frame`` (or tibble, or named list of equal-length vectors) to polars.

    Parameters
    ----------
    robj : rpy2 object
        An R data frame from :func:`to_r` or :func:`r_call` (``rpy2.rinterface`` or
        ``rpy2.robjects`` objects both work).
    factors : {"string", "enum"}, default="string"
        Factors come back as ``pl.String``, or as ``pl.Enum`` keeping R's levels and their order.

    Returns
    -------
    polars.DataFrame

    Examples
    --------
    >>> from llmcoder.rbridge import from_r, r_call
    >>> from_r(r_call("base::data.frame", x=r_call("base::c", 1, 2))).to_dict(as_series=False)
    {'x': [1.0, 2.0]}
    """
    if factors not in ("string", "enum"):
        raise ValueError(f"factors must be 'string' or 'enum', not {factors!r}")
    ri = r_session()
    if getattr(robj, "__sexp__", None) is None:
        raise TypeError(f"from_r() takes an R object from rpy2, not {type(robj).__name__}")
    if robj.typeof != ri.RTYPES.VECSXP:
        raise TypeError("from_r() takes an R data.frame or named list")
    names_attr = ri.baseenv["names"](robj)
    names = [] if names_attr is ri.NULL else [str(n) for n in names_attr]
    vec_list = ri.ListSexpVector(robj)
    cols = [_column_from_r(ri, n, vec_list[i], factors) for i, n in enumerate(names)]
    return pl.DataFrame(cols)


# --------------------------------------------------------------------------------------------
# calling R


def _to_r_arg(ri, value: Any):
    """Python value -> R value for :func:`r_call` arguments."""
    if getattr(value, "__sexp__", None) is not None:
        return value
    if isinstance(value, pl.DataFrame):
        return to_r(value)
    if isinstance(value, pl.Series):
        return _column_to_r(ri, value)
    if value is None:
        return ri.NULL
    if isinstance(value, bool):
        return ri.BoolSexpVector([value])
    if isinstance(value, int):
        return ri.IntSexpVector([value]) if abs(value) <= _INT32_MAX else ri.FloatSexpVector([value])
    if isinstance(value, float):
        return ri.FloatSexpVector([value])
    if isinstance(value, str | os.PathLike):
        return ri.StrSexpVector([os.fspath(value)])
    if isinstance(value, Mapping):
        items = [_to_r_arg(ri, v) for v in value.values()]
        out = ri.ListSexpVector(items)
        _set_attr(out, "names", ri.StrSexpVector([str(k) for k in value]))
        return out
    if isinstance(value, list | tuple):
        if value and all(isinstance(v, str) for v in value):
            return ri.StrSexpVector(list(value))
        if value and all(isinstance(v, bool) for v in value):
            return ri.BoolSexpVector(list(value))
        if value and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return ri.IntSexpVector(list(value))
        if value and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value):
            return ri.FloatSexpVector([float(v) for v in value])
        return ri.ListSexpVector([_to_r_arg(ri, v) for v in value])
    if isinstance(value, np.ndarray):
        return _column_to_r(ri, pl.Series(value))
    raise TypeError(f"cannot pass a {type(value).__name__} to R")


def _lookup(ri, pkg_fn: str):
    if "::" in pkg_fn:
        pkg, fn = pkg_fn.split("::", 1)
        ns = ri.baseenv["loadNamespace"](ri.StrSexpVector([pkg]))
        return ri.baseenv["getExportedValue"](ns, ri.StrSexpVector([fn]))
    return ri.globalenv.find(pkg_fn)


def r_call(pkg_fn: str, *args: Any, **kwargs: Any):
    """Call an R function by name, converting Python arguments on the way in.

    Parameters
    ----------
    pkg_fn : str
        ``"pkg::fn"`` (the package namespace is loaded, not attached) or a bare name found from
        R's global environment (base functions, say).
    *args, **kwargs
        Arguments; polars frames go through :func:`to_r`, polars series become one R vector, and
        Python scalars, lists of scalars, dicts (named lists), paths and ``None`` (``NULL``) are
        converted. rpy2 objects pass through. Keyword names are R argument names as written.

    Returns
    -------
    rpy2.rinterface object
        The R value, unconverted; use :func:`from_r` for data frames.

    Examples
    --------
    >>> from llmcoder.rbridge import r_call
    >>> r_call("stats::median", [1, 5, 3])[0]
    3
    """
    ri = r_session()
    fn = _lookup(ri, pkg_fn)
    rargs = [_to_r_arg(ri, a) for a in args]
    rkw = {k: _to_r_arg(ri, v) for k, v in kwargs.items()}
    return fn(*rargs, **rkw)
