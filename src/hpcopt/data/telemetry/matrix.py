"""Header-less numeric matrices (the SMD/ASD ``.txt`` files): :func:`read_matrix`."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.core.files import read_text
from hpcopt.errors import ConfigError, InputError
from hpcopt.data.telemetry.base import RepairLog, _FAST_CHARS, _cell_problem, _data_lines, _fill_missing, _in_range, _parse_cells, _resolve

__all__ = ['read_matrix']

def _matrix_fast(text: str) -> np.ndarray | None:
    """pandas' C parser on a file whose characters can only form plain numbers (so none of
    its extensions, e.g. ``True`` -> 1.0 or ``inf``, can occur); None when it is not clean."""
    if not _FAST_CHARS.issuperset(text):
        return None
    try:
        df = pd.read_csv(io.StringIO(text), header=None, dtype=np.float64, na_values=[""], keep_default_na=False,
                         quoting=csv.QUOTE_NONE, float_precision="round_trip", skip_blank_lines=False,
                         engine="c")
    except Exception:  # noqa: BLE001 - any refusal goes to the exact per-cell scan
        return None
    arr = df.to_numpy(dtype=np.float64)
    if not _in_range(arr).all():
        return None
    return arr


def _matrix_scan(lines: list[str], source: str) -> tuple[np.ndarray, np.ndarray]:
    """The exact per-cell reading of a header-less numeric CSV: values and missing mask."""
    width = len(lines[0].split(","))
    rows = []
    for i, line in enumerate(lines):
        cells = line.split(",")
        if len(cells) != width:
            if line.strip(" \t") == "":
                raise InputError(f"empty line; expected {width} comma-separated values", source=source, line=i + 1,
                                 hint="remove the empty line")
            raise InputError(f"row has {len(cells)} fields, expected {width} (as on line 1)", source=source,
                             line=i + 1, hint="every row needs the same number of comma-separated values")
        rows.append(cells)
    vals = np.empty((len(rows), width))
    miss = np.empty((len(rows), width), dtype=bool)
    for j in range(width):
        col = [r[j] for r in rows]
        v, m, bad = _parse_cells(col)
        if bad >= 0:
            raise InputError(_cell_problem(col[bad]), source=source, line=bad + 1, field=f"column {j + 1}",
                             hint="fix or remove the cell")
        vals[:, j], miss[:, j] = v, m
    return vals, miss


def read_matrix(
    path: str | Path,
    *,
    n_columns: int | None = None,
    missing: str = "error",
    repairs: RepairLog | None = None,
) -> np.ndarray:
    """Read a header-less numeric CSV (plain or ``.gz``) into a float64 array.

    Every cell must be a finite decimal number. ``missing="error"`` (default) refuses empty
    or ``nan`` cells; ``"ffill"`` carries the last value forward (then back-fills a leading
    gap) and records the count in ``repairs``. Text in a cell, ``inf``, an overflowing
    number, a ragged row or an empty line always raise :class:`InputError` naming the line
    and the column.
    """
    if missing not in ("error", "ffill"):
        raise ConfigError(f"missing must be 'error' or 'ffill'; got {missing!r} instead")
    p = _resolve(path)
    source = str(p)
    text = read_text(p)
    lines = _data_lines(text)
    if not lines:
        raise InputError("the file is empty (no rows)", source=source)
    arr = _matrix_fast("\n".join(lines))
    miss = None
    if arr is None or arr.shape[0] != len(lines):
        arr, miss = _matrix_scan(lines, source)
    if n_columns is not None and arr.shape[1] != n_columns:
        raise InputError(f"{arr.shape[1]} columns, expected {n_columns}", source=source, line=1,
                         hint="train and test must have the same metrics")
    if miss is not None:
        arr = _fill_missing(arr, miss, source, None, missing, repairs)
    return arr
