"""The Numenta Anomaly Benchmark (NAB) layout as labelled series, for hpcopt's honest metrics.

NAB (Lavin and Ahmad, ICMLA 2015; numenta/NAB) gives univariate series ``timestamp,value``
and, per file, anomaly *windows* (``labels/combined_windows.json``). Its detectors run
online, and the first 15 % of each file is a *probationary period* in which they learn and
are not scored. :func:`load_nab_series` follows that: the probationary period is the
training part, the rest is the test part, and a test row is labelled 1 inside a window.

This is not NAB's own score (which rewards early detection inside a window with a sigmoid and
weighs false positives by an application profile); the evaluation reports hpcopt's point,
event and ranking metrics, beside random, instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.data.telemetry import LabelledSeries, RepairLog
from hpcopt.errors import InputError

__all__ = ["load_nab_series", "list_nab_files", "PROBATION"]

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


def _labels(root: str | Path) -> pd.DataFrame:
    p = Path(root) / "labels.csv.gz"
    if not p.exists():
        raise InputError("labels.csv.gz not found", source=str(root))
    return pd.read_csv(p)


def load_nab_series(root: str | Path, file: str, *, probation: float = PROBATION) -> LabelledSeries:
    """One NAB file as a :class:`LabelledSeries` (train = probationary period, labels from windows)."""
    if not 0.0 < probation < 1.0:
        raise InputError(f"probation must be in (0, 1); got {probation!r}")
    root = Path(root)
    file = str(file).removesuffix(".gz")  # labels name the plain .csv
    path = root / "data" / (file + ".gz")
    if not path.exists():
        path = root / "data" / file
    if not path.exists():
        raise InputError("NAB data file not found", source=str(path))
    df = pd.read_csv(path)
    if list(df.columns[:2]) != ["timestamp", "value"]:
        raise InputError(f"expected columns timestamp,value; got {list(df.columns)}", source=str(path))
    ts = pd.to_datetime(df["timestamp"], errors="coerce")
    vals = pd.to_numeric(df["value"], errors="coerce")
    if ts.isna().any() or vals.isna().any():
        bad = int(np.flatnonzero((ts.isna() | vals.isna()).to_numpy())[0])
        raise InputError("a timestamp or value is not readable", source=str(path), line=bad + 2)
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
        inside = ((ts >= pd.Timestamp(r.start)) & (ts <= pd.Timestamp(r.end))).to_numpy()
        y[inside] = 1
        if inside.any() and not inside[n_train:].any():
            lost.append(f"{r.start}..{r.end}")
    # A window wholly inside the probationary period is not scored (as in NAB): counted, not hidden.
    repairs.add("anomaly windows wholly in the probationary (training) part, not scored", len(lost))
    X = vals.to_numpy(dtype=np.float64).reshape(-1, 1)
    step = float(np.median(np.diff(ts.to_numpy()).astype("timedelta64[s]").astype(np.float64)))
    return LabelledSeries(file, X[:n_train], X[n_train:], y[n_train:], None, step, ["value"], repairs)
