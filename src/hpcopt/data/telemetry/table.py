"""CSV and Parquet tables with a header: :func:`read_text_table`, :func:`read_table`."""

from __future__ import annotations

import csv
import io
import math
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from hpcopt.core.files import read_bytes, read_text
from hpcopt.errors import ConfigError, InputError
from hpcopt.data.telemetry.base import RepairLog, _NUMBER, _cell_problem, _check_times, _data_lines, _fill_missing, _in_range, _parse_cells, _resolve, _too_large

__all__ = ['read_table', 'read_text_table']

def _header_names(cells: list[str], source: str, line: int = 1) -> list[str]:
    names = [c.strip() for c in cells]
    for k, n in enumerate(names):
        if n == "" and k != len(names) - 1:
            raise InputError(f"column {k + 1} of the header has no name", source=source, line=line, field="header",
                             hint="every column needs a name")
    seen: dict[str, int] = {}
    for k, n in enumerate(names):
        if n and n in seen:
            raise InputError(f"column name {n!r} appears twice (columns {seen[n] + 1} and {k + 1})", source=source,
                             line=line, field="header", hint="rename one of them")
        seen[n] = k
    return names


def _timestamps(values: list[str] | np.ndarray, source: str, name: str, line_of) -> np.ndarray:
    """Epoch seconds of a timestamp column (numbers, or ISO 8601 date-times), >= 0 and strictly increasing."""
    cells = [str(v) for v in values]
    t, miss, bad = _parse_cells(cells)
    if bad >= 0 and _NUMBER.fullmatch(cells[bad].strip(" \t")):  # a number, but infinite or too large
        raise InputError(f"timestamp {_cell_problem(cells[bad])}", source=source, line=line_of(bad),
                         field=f"column {name!r}")
    if bad >= 0 or miss.any():
        parsed = pd.to_datetime(pd.Series(cells), errors="coerce", format="ISO8601", utc=True)
        if parsed.isna().any():
            i = int(np.flatnonzero(parsed.isna().to_numpy())[0])
            what = "empty" if cells[i].strip() == "" else f"{cells[i][:40]!r} is not a number or an ISO 8601 time"
            raise InputError(f"timestamp {what}", source=source, line=line_of(i), field=f"column {name!r}")
        t = (parsed - pd.Timestamp("1970-01-01", tz="UTC")).dt.total_seconds().to_numpy(dtype=np.float64)
    _check_times(t, source, f"column {name!r}", line_of, shown=lambda i: repr(cells[i][:40]))
    dt = np.diff(t)
    if (dt <= 0).any():
        i = int(np.flatnonzero(dt <= 0)[0]) + 1
        what = "duplicated" if dt[i - 1] == 0 else "goes back in time"
        raise InputError(f"timestamp {cells[i][:40]} {what} (the row before has {cells[i - 1][:40]})", source=source,
                         line=line_of(i), field=f"column {name!r}",
                         hint="timestamps must strictly increase: sort the rows and merge duplicates first")
    return t


def _numeric_frame(columns: dict[str, list], source: str, line_of, missing: str, repairs: RepairLog | None,
                   hint: str | None = None) -> pd.DataFrame:
    names = list(columns)
    n = len(next(iter(columns.values()))) if columns else 0
    vals = np.empty((n, len(names)))
    miss = np.zeros((n, len(names)), dtype=bool)
    for j, c in enumerate(names):
        col = columns[c]
        if isinstance(col, np.ndarray) and col.dtype.kind in "iufb":
            if col.dtype.kind == "b":
                raise InputError("is a true/false column, not a number", source=source, field=f"column {c!r}")
            v = col.astype(np.float64)
            # an integer column is below 2**64 by its type (uint64's top values round up to 2**64 as floats)
            bad = (~_in_range(v) & ~np.isnan(v)) if col.dtype.kind == "f" else np.zeros(v.shape, dtype=bool)
            if bad.any():
                i = int(np.flatnonzero(bad)[0])
                raise InputError("infinite values are not allowed in telemetry" if np.isinf(v[i]) else _too_large(col[i]),
                                 source=source, line=line_of(i), field=f"column {c!r}")
            vals[:, j], miss[:, j] = v, np.isnan(v)
            continue
        cells = ["" if x is None or (isinstance(x, float) and math.isnan(x)) else str(x) for x in col]
        v, m, bad = _parse_cells(cells)
        if bad >= 0:
            raise InputError(_cell_problem(cells[bad]), source=source, line=line_of(bad), field=f"column {c!r}",
                             hint="fix the cell, or name the column as a text column")
        vals[:, j], miss[:, j] = v, m
    vals = _fill_missing(vals, miss, source, names, missing, repairs, line_of=line_of, hint=hint)
    return pd.DataFrame(vals, columns=names)


def read_text_table(path: str | Path) -> tuple[list[str], list[list[str]], list[int]]:
    """A CSV file with a header as text cells: ``(names, rows, line numbers of the rows)``.

    Strict: a header column without a name (except a trailing comma on every line), a name
    used twice, a row with another number of fields than the header and bad quoting raise
    :class:`InputError` naming the line. Blank lines at the end are not data.
    """
    p = Path(path)
    source = str(p)
    text = read_text(p)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows, lines_at = [], []
    try:
        for cells in reader:
            rows.append(cells)
            lines_at.append(reader.line_num)
    except csv.Error as exc:
        raise InputError(f"is not valid CSV ({exc})", source=source, line=reader.line_num + 1) from None
    while rows and all(c.strip() == "" for c in rows[-1]):
        rows.pop()
        lines_at.pop()
    if not rows:
        raise InputError("the file is empty (no header)", source=source)
    names = _header_names(rows[0], source)
    width = len(names)
    for r, line in zip(rows[1:], lines_at[1:]):
        if len(r) != width:
            raise InputError(f"row has {len(r)} fields, the header has {width}", source=source, line=line,
                             hint="every row needs one value per header column")
    if names and names[-1] == "":  # a trailing comma on every line
        for r, line in zip(rows[1:], lines_at[1:]):
            if r[-1].strip():
                raise InputError("a value in the last column, which has no name", source=source, line=line)
        names = names[:-1]
        rows = [r[:-1] for r in rows]
    return names, rows[1:], lines_at[1:]


def read_table(path: str | Path, *, timestamp: str | None = None, text_columns: Iterable[str] = (),
               missing: str = "error", repairs: RepairLog | None = None) -> pd.DataFrame:
    """Read a CSV (with a header) or Parquet file into a wide frame of numbers.

    With ``timestamp`` that column becomes the index, as epoch seconds (numbers, or ISO 8601
    date-times converted), must not be negative and must strictly increase (a duplicated
    or earlier timestamp raises). ``text_columns`` (e.g. a node id) are kept as they are; every other cell must
    be a finite number (see the cell rule above; ``missing`` as in :func:`read_matrix`).
    Ragged rows, header problems and bad cells raise :class:`InputError` naming the line
    and the column.
    """
    if missing not in ("error", "ffill"):
        raise ConfigError(f"missing must be 'error' or 'ffill'; got {missing!r} instead")
    text_columns = list(text_columns)
    p = _resolve(path)
    source = str(p)
    if p.name.removesuffix(".gz").endswith(".parquet"):
        raw = read_bytes(p)
        try:
            df = pd.read_parquet(io.BytesIO(raw))
        except Exception as exc:  # noqa: BLE001 - pyarrow raises many types for a damaged file
            raise InputError(f"is not a readable Parquet file ({type(exc).__name__}: {str(exc)[:120]})",
                             source=source, hint="re-export it, or pass a CSV") from None
        names = [str(c) for c in df.columns]
        columns = {str(c): df[c].to_numpy() for c in df.columns}
        line_of = lambda i: i + 1  # noqa: E731 - Parquet: "line" is the 1-based row
    else:
        names, body, body_lines = read_text_table(p)
        columns = {n: [r[j] for r in body] for j, n in enumerate(names)}
        line_of = lambda i: body_lines[i]  # noqa: E731
    for c in [timestamp, *text_columns]:
        if c is not None and c not in columns:
            raise InputError(f"no column {c!r}", source=source, field="header",
                             hint=f"the columns are {', '.join(names[:8])}{', ...' if len(names) > 8 else ''}")
    numeric = {c: v for c, v in columns.items() if c != timestamp and c not in text_columns}
    out = _numeric_frame(numeric, source, line_of, missing, repairs) if numeric else pd.DataFrame(
        index=range(len(next(iter(columns.values()))) if columns else 0))
    for c in text_columns:
        out[c] = [str(x) for x in columns[c]]
    out = out[[c for c in names if c in out.columns]]
    if timestamp is not None:
        out.index = pd.Index(_timestamps(columns[timestamp], source, timestamp, line_of), name=timestamp)
    return out



def _table_columns(p: Path) -> list[str]:
    """The column names of a CSV or Parquet table (its header), read cheaply."""
    if p.name.removesuffix(".gz").endswith(".parquet"):
        try:
            import pyarrow.parquet as pq

            return list(pq.read_schema(io.BytesIO(read_bytes(p))).names)
        except Exception as exc:  # noqa: BLE001
            raise InputError(f"is not a readable Parquet file ({type(exc).__name__})", source=str(p)) from None
    lines = _data_lines(read_text(p))
    if not lines:
        raise InputError("the file is empty (no header)", source=str(p))
    try:
        return [c.strip() for c in next(csv.reader([lines[0]], strict=True))]
    except (csv.Error, StopIteration) as exc:
        raise InputError(f"the header is not valid CSV ({exc})", source=str(p), line=1) from None
