"""The Numenta Anomaly Benchmark (NAB) layout as labelled series.

NAB (Lavin and Ahmad, ICMLA 2015; numenta/NAB) gives univariate series ``timestamp,value``
and, per file, anomaly *windows* (``labels.csv.gz``, kind=window). Its detectors run online,
and the first 15 % of each file is a *probationary period* in which they learn and are not
scored. :func:`load_nab_series` follows that: the probationary period is the training part,
the rest is the test part, and a test row is labelled 1 inside a window. :func:`nab_windows`
gives each window's rows in the file, read from the label file (so adjacent windows stay
separate, which they would not if read back from the 0/1 labels).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.data.corpora.labelled import LabelledSeries
from hpcopt.data.telemetry.base import RepairLog, _cell_problem, _parse_cells
from hpcopt.data.telemetry.table import read_text_table
from hpcopt.errors import InputError

__all__ = ["load_nab_series", "list_nab_files", "nab_windows", "PROBATION"]

#: NAB's probationary share of each file (learning only, not scored)
PROBATION = 0.15


def list_nab_files(root: str | Path) -> list[str]:
    """Relative paths (``realAWSCloudwatch/x.csv``) of the data files under ``root/data``
    (``.csv`` or ``.csv.gz``); files without a window in ``labels.csv.gz`` are normal-only."""
    data = Path(root) / "data"
    if not data.is_dir():
        raise InputError("no data/ folder", source=str(root))
    out = {str(p.relative_to(data)).removesuffix(".gz") for p in data.rglob("*.csv*")}
    return sorted(out)


def _times(cells: list[str], source: str, lines: list[int], column: str, allow_empty: bool = False) -> pd.Series:
    """NAB time stamps (``2014-02-14 14:30:00``, optional fraction) as Timestamps; a cell that
    is not one raises :class:`InputError` naming the line."""
    ts = pd.to_datetime(pd.Series(cells, dtype=object), errors="coerce", format="ISO8601")
    bad = ts.isna().to_numpy() & ~(allow_empty & (pd.Series(cells).str.strip() == "").to_numpy())
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise InputError(f"{cells[i][:40]!r} is not a date-time (YYYY-MM-DD hh:mm:ss)", source=source, line=lines[i],
                         field=f"column {column!r}")
    if getattr(ts.dt, "tz", None) is not None:
        ts = ts.dt.tz_convert(None)
    return ts


def _labels(root: str | Path) -> pd.DataFrame:
    """``labels.csv.gz``: ``file, kind, start, end`` per row; a window needs ``start <= end``."""
    p = Path(root) / "labels.csv.gz"
    if not p.exists():
        raise InputError("labels.csv.gz not found", source=str(root), hint="--data is a NAB folder")
    source = str(p)
    names, rows, lines = read_text_table(p)
    missing = [c for c in ("file", "kind", "start", "end") if c not in names]
    if missing:
        raise InputError(f"no column(s) {', '.join(missing)}", source=source, line=1, field="header")
    df = pd.DataFrame(rows, columns=names)
    win = (df["kind"] == "window").to_numpy()
    for c in ("start", "end"):
        ts = _times(df[c].tolist(), source, lines, c, allow_empty=True)
        ts[~win] = pd.NaT
        if pd.isna(ts[win]).any():
            i = int(np.flatnonzero(win & pd.isna(ts).to_numpy())[0])
            raise InputError("a window needs its start and end", source=source, line=lines[i], field=f"column {c!r}")
        df[c] = ts
    back = win & (df["end"] < df["start"]).to_numpy()
    if back.any():
        i = int(np.flatnonzero(back)[0])
        raise InputError("the window ends before it starts", source=source, line=lines[i], field="column 'end'")
    return df


def _read(root: Path, file: str) -> tuple[str, pd.DataFrame, pd.Series, pd.Series]:
    """The data file (``.csv.gz`` or ``.csv``): its label name, rows, timestamps and values."""
    file = str(file).removesuffix(".gz")  # labels name the plain .csv
    path = root / "data" / (file + ".gz")
    if not path.exists():
        path = root / "data" / file
    if not path.exists():
        raise InputError("NAB data file not found", source=str(path))
    source = str(path)
    names, rows, lines = read_text_table(path)
    if names[:2] != ["timestamp", "value"]:
        raise InputError(f"expected columns timestamp,value; got {','.join(names)[:80]}", source=source, line=1,
                         field="header")
    if not rows:
        raise InputError("no data row", source=source)
    ts = _times([r[0] for r in rows], source, lines, "timestamp")
    cells = [r[1] for r in rows]
    v, miss, bad = _parse_cells(cells)
    if bad >= 0 or miss.any():
        i = bad if bad >= 0 else int(np.flatnonzero(miss)[0])
        raise InputError(_cell_problem(cells[i]) if bad >= 0 else "empty or NaN value", source=source, line=lines[i],
                         field="column 'value'")
    df = pd.DataFrame({"timestamp": ts, "value": v})
    return file, df, ts, pd.Series(v)


def nab_windows(root: str | Path, file: str) -> tuple[list[tuple[int, int]], int]:
    """Each anomaly window of ``file`` as ``(first_row, last_row)`` (0-based rows of the whole
    file, both inclusive, in time order) from ``labels.csv.gz`` (kind=window), and the file's
    row count -- the inputs of :func:`hpcopt.detect.nab_score.nab_score_file`.

    A window covers the rows whose timestamp lies in ``[start, end]``; it must cover at least one
    row and be one block of consecutive rows.
    """
    root = Path(root)
    file, df, ts, _ = _read(root, file)
    lab = _labels(root)
    win = lab[(lab["file"] == file) & (lab["kind"] == "window")]
    out = []
    for r in win.itertuples():
        rows = np.flatnonzero(((ts >= r.start) & (ts <= r.end)).to_numpy())
        if not len(rows):
            raise InputError(f"window {r.start}..{r.end} covers no row of the file", source=f"{root}/labels.csv.gz",
                             hint="check that the label file matches this data file")
        if rows[-1] - rows[0] + 1 != len(rows):
            raise InputError(f"window {r.start}..{r.end} is not one block of consecutive rows (timestamps step back "
                             "inside it)", source=f"{root}/labels.csv.gz")
        out.append((int(rows[0]), int(rows[-1])))
    return sorted(out), len(df)


def load_nab_series(root: str | Path, file: str, *, probation: float = PROBATION) -> LabelledSeries:
    """One NAB file as a :class:`LabelledSeries` (train = probationary period, labels from windows)."""
    if not 0.0 < probation < 1.0:
        raise InputError(f"probation must be in (0, 1); got {probation!r}")
    root = Path(root)
    file, df, ts, vals = _read(root, file)
    # NAB scores rows in file order; a few of its files repeat or step back in time (e.g. a
    # clock change). Rows are kept in file order, as NAB keeps them, and the count is reported.
    steps = np.diff(ts.to_numpy()).astype("timedelta64[ns]").astype(np.int64)
    repairs = RepairLog()
    repairs.add("rows whose timestamp does not increase (kept in file order, as NAB scores them)",
                int((steps <= 0).sum()))
    lab = _labels(root)
    win = lab[(lab["file"] == file) & (lab["kind"] == "window")]
    y = np.zeros(len(df), dtype=np.int8)
    n_train = int(round(probation * len(df)))
    lost = []
    for r in win.itertuples():
        inside = ((ts >= r.start) & (ts <= r.end)).to_numpy()
        y[inside] = 1
        if inside.any() and not inside[n_train:].any():
            lost.append(f"{r.start}..{r.end}")
    # A window wholly inside the probationary period is not scored (as in NAB): counted, not hidden.
    repairs.add("anomaly windows wholly in the probationary (training) part, not scored", len(lost))
    X = vals.to_numpy(dtype=np.float64).reshape(-1, 1)
    step = float(np.median(np.diff(ts.to_numpy()).astype("timedelta64[s]").astype(np.float64)))
    return LabelledSeries(file, X[:n_train], X[n_train:], y[n_train:], None, step, ["value"], repairs)
