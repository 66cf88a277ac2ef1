"""Node telemetry in and out: the SMD/ASD layout, LDMS CSV, Prometheus text, long/wide frames.

Two shapes are used throughout hpcopt:

* **wide**: a 2-D float array (or DataFrame) with one row per time step and one column per
  metric; this is what detectors consume;
* **long**: a DataFrame with the columns ``timestamp, entity, metric, value``; this is what
  scrapers and samplers produce.

Readers never drop or invent data silently. A cell that is not a number, a ragged row, a
gap or a duplicated timestamp raises :class:`~hpcopt.errors.InputError` naming the file,
the line and the field, unless the caller asks for an explicit repair; every repair is
counted in a :class:`RepairLog` that the caller can report.

A telemetry value must be a finite number with magnitude below 2**64 (no counter or gauge
of a real node exceeds it, so a larger value is a damaged file), and anything else is
refused with one :class:`~hpcopt.errors.InputError` naming the file, the line and the
column; a timestamp (JSON lines, tables, LDMS ``Time``) must in addition be non-negative
(seconds since the epoch).

The SMD/ASD layout (OmniAnomaly / InterFusion) is a folder with ``train/``, ``test/``,
``test_label/`` and ``interpretation_label/`` sub-folders holding ``<entity>.txt`` (or
``.txt.gz``) files: comma-separated values without a header, one row per time step; one
0/1 per test row; and one line ``start-end:d1,d2,...`` per anomaly segment, where
``start`` is the 0-based first anomalous row, ``end`` is exclusive and the metric numbers
``d`` are 1-based. Inside hpcopt metric indices are always 0-based.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from hpcopt.core.files import iter_text_lines, read_bytes, read_text
from hpcopt.errors import ConfigError, InputError

__all__ = [
    "RepairLog",
    "Segment",
    "LabelledSeries",
    "read_matrix",
    "read_labels",
    "read_interpretation",
    "label_segments",
    "list_entities",
    "load_labelled_series",
    "to_long",
    "to_wide",
    "counters_to_rates",
    "resample",
    "read_ldms_csv",
    "read_table",
    "read_text_table",
    "parse_prometheus_text",
    "write_prometheus_text",
    "iter_jsonl_samples",
    "parse_jsonl_line",
    "read_jsonl",
    "read_telemetry",
    "detect_format",
    "Telemetry",
    "FORMATS",
    "SMD_INTERVAL_S",
    "ASD_INTERVAL_S",
]

SMD_INTERVAL_S = 60.0
ASD_INTERVAL_S = 300.0


@dataclass
class RepairLog:
    """Counts of every repair a reader made, so that nothing is changed silently."""

    actions: dict[str, int] = field(default_factory=dict)

    def add(self, what: str, count: int = 1) -> None:
        if count:
            self.actions[what] = self.actions.get(what, 0) + int(count)

    def __bool__(self) -> bool:
        return bool(self.actions)

    def as_dict(self) -> dict[str, int]:
        return dict(self.actions)


@dataclass(frozen=True)
class Segment:
    """One labelled anomaly: rows ``[start, end)`` and the culprit metrics (0-based)."""

    start: int
    end: int
    metrics: tuple[int, ...] = ()

    def __len__(self) -> int:
        return self.end - self.start


@dataclass
class LabelledSeries:
    """One entity of a labelled data set in the SMD/ASD layout."""

    name: str
    train: np.ndarray
    test: np.ndarray
    labels: np.ndarray | None = None
    interpretation: list[Segment] | None = None
    interval_s: float = SMD_INTERVAL_S
    metric_names: list[str] | None = None
    repairs: RepairLog = field(default_factory=RepairLog)

    @property
    def n_metrics(self) -> int:
        return int(self.train.shape[1])


def _resolve(path: str | Path) -> Path:
    """Accept ``x.txt`` when only ``x.txt.gz`` exists, and the reverse."""
    p = Path(path)
    if p.exists():
        return p
    if p.suffix == ".gz" and p.with_suffix("").exists():
        return p.with_suffix("")
    gz = p.with_name(p.name + ".gz")
    if gz.exists():
        return gz
    return p


# --------------------------------------------------------------------------- cells and lines
#
# One rule for every numeric cell of every reader: a decimal number (``1``, ``-2.5``,
# ``.5``, ``3e-4``; spaces or tabs around it are allowed); an empty cell or ``nan`` is a
# *missing* value, refused unless the caller asks for a repair (``missing="ffill"``, CLI
# ``--fill-missing``), which is then counted; ``inf``, ``infinity`` and numbers that
# overflow a 64-bit float are always refused (no telemetry format here can mean them);
# anything else (``True``, ``0x10``, ``1_000``, ``N/A``) is not a number. A finite number
# of magnitude 2**64 or more is refused too (VALUE_LIMIT: beyond any u64 counter, so a
# damaged file); timestamps must also be >= 0 (_check_times).

#: every telemetry value (and timestamp) must be below this in magnitude
VALUE_LIMIT = 2.0**64

_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_FAST_CHARS = frozenset("0123456789.eE+-, \t\n")


def _is_missing(s: str) -> bool:
    return s == "" or s.lower() in ("nan", "+nan", "-nan")


def _in_range(vals: np.ndarray) -> np.ndarray:
    """Which values are allowed: finite with magnitude below :data:`VALUE_LIMIT` (NaN: False)."""
    return np.abs(vals) < VALUE_LIMIT


def _too_large(v: object) -> str:
    return (f"{str(v)[:40]!r} has magnitude 2**64 or more: no counter or gauge of a real node reaches it "
            "(a damaged file?)")


def _cell_problem(cell: str) -> str:
    """Why one cell is not an allowed number (for a cell that failed the fast paths)."""
    s = cell.strip(" \t")
    if _NUMBER.fullmatch(s):
        return f"{s!r} overflows a 64-bit float" if math.isinf(float(s)) else _too_large(s)
    if s.lower().lstrip("+-") in ("inf", "infinity"):
        return f"{s!r}: infinite values are not allowed in telemetry"
    return f"{cell[:40]!r} is not a number"


def _parse_cells(cells: list[str]) -> tuple[np.ndarray, np.ndarray, int]:
    """Floats of one column of cells, the mask of missing cells, and the index of the first
    bad cell (-1 if none). Vectorised when every cell is plain ASCII number text."""
    n = len(cells)
    stripped = [c.strip(" \t") for c in cells]
    missing = np.fromiter((_is_missing(s) for s in stripped), dtype=bool, count=n)
    out = np.full(n, np.nan)
    present = [s for s, m in zip(stripped, missing) if not m]
    if present and _FAST_CHARS.issuperset("".join(present)):
        try:
            vals = np.asarray(present, dtype=np.float64)
        except ValueError:
            vals = None
        if vals is not None and _in_range(vals).all():
            out[~missing] = vals
            return out, missing, -1
    for i, s in enumerate(stripped):
        if missing[i]:
            continue
        if not _NUMBER.fullmatch(s):
            return out, missing, i
        v = float(s)
        if not abs(v) < VALUE_LIMIT:
            return out, missing, i
        out[i] = v
    return out, missing, -1


def _check_times(t: np.ndarray, source: str, field: str, line_of, shown=None) -> None:
    """Refuse a negative timestamp: timestamps are seconds since the epoch (the values
    themselves have passed the cell rule, so they are finite)."""
    neg = t < 0
    if neg.any():
        i = int(np.flatnonzero(neg)[0])
        what = shown(i) if shown is not None else f"{t[i]:g}"
        raise InputError(f"timestamp {what} is negative", source=source, line=line_of(i), field=field,
                         hint="timestamps are seconds since the epoch (1970-01-01 UTC), 0 or more")


def _data_lines(text: str) -> list[str]:
    """Lines of a text file without line ends; blank lines at the very end are not data."""
    text = text.replace("\r\n", "\n")
    lines = text.split("\n")
    while lines and lines[-1].strip(" \t") == "":
        lines.pop()
    return lines


def _fill_missing(arr: np.ndarray, miss: np.ndarray, source: str, names: list[str] | None, missing: str,
                  repairs: RepairLog | None, line_of=lambda r: r + 1, hint: str | None = None) -> np.ndarray:
    """Refuse missing cells, or forward-fill them (a leading gap back-filled) and count them."""
    if not miss.any():
        return arr
    r, c = (int(v) for v in np.argwhere(miss)[0])
    col = f"column {names[c]!r}" if names else f"column {c + 1}"
    if missing == "error":
        raise InputError(f"empty cell or NaN ({int(miss.sum())} in the file)", source=source, line=line_of(r),
                         field=col, hint=hint or "fill the gap, or pass missing='ffill' (CLI: --fill-missing) to "
                                                 "carry the last value forward, counted")
    empty_cols = np.flatnonzero(miss.all(axis=0))
    if empty_cols.size:
        c = int(empty_cols[0])
        col = f"column {names[c]!r}" if names else f"column {c + 1}"
        raise InputError("the column has no value at all; nothing to fill it from", source=source, field=col)
    filled = pd.DataFrame(arr).ffill().bfill().to_numpy(dtype=np.float64)
    if repairs is not None:
        repairs.add(f"{Path(source).name}: empty or NaN cells forward-filled", int(miss.sum()))
    return filled


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


def read_labels(path: str | Path, *, n_rows: int | None = None) -> np.ndarray:
    """Read one 0/1 label per line; the length must equal ``n_rows`` when given.

    A label is ``0`` or ``1`` (``0.0``/``1.0`` are accepted); an empty line, any other value
    or a count other than ``n_rows`` raises :class:`InputError`.
    """
    p = _resolve(path)
    source = str(p)
    lines = _data_lines(read_text(p))
    out = np.empty(len(lines), dtype=np.int8)
    for i, line in enumerate(lines):
        s = line.strip(" \t")
        if s in ("0", "1"):
            out[i] = int(s)
            continue
        if s == "":
            raise InputError("empty line; expected a 0/1 label", source=source, line=i + 1,
                             hint="one 0/1 line per test row, no empty lines")
        if _NUMBER.fullmatch(s) and float(s) in (0.0, 1.0):
            out[i] = int(float(s))
            continue
        raise InputError(f"label {s[:40]!r} is not 0 or 1", source=source, line=i + 1)
    if n_rows is not None and out.size != n_rows:
        raise InputError(f"{out.size} labels for {n_rows} test rows", source=source,
                         hint="the label file must have exactly one 0/1 line per test row")
    return out


_INTERP = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*:\s*([\d,\s]*)$", re.ASCII)


def read_interpretation(path: str | Path, *, n_rows: int | None = None, n_metrics: int | None = None) -> list[Segment]:
    """Read ``start-end:d1,d2,...`` lines (0-based start, exclusive end, 1-based metrics).

    Blank lines are allowed; a line of another shape, a segment that ends before it starts
    or past ``n_rows``, an empty metric number (``1,,3``, a trailing comma, no metric) and a
    metric number outside ``1..n_metrics`` raise
    :class:`InputError` naming the line.
    """
    p = _resolve(path)
    source = str(p)
    segs: list[Segment] = []
    for lineno, line in enumerate(_data_lines(read_text(p)), start=1):
        if not line.strip():
            continue
        m = _INTERP.match(line.strip())
        if not m:
            raise InputError(f"{line.strip()[:60]!r} is not 'start-end:d1,d2,...'", source=source, line=lineno)
        start, end = int(m.group(1)), int(m.group(2))
        if end <= start:
            raise InputError(f"segment end {end} is not after start {start}", source=source, line=lineno,
                             field="segment")
        if n_rows is not None and end > n_rows:
            raise InputError(f"segment end {end} is past the {n_rows} test rows", source=source, line=lineno,
                             field="segment")
        metrics = []
        for d in m.group(3).split(","):
            d = d.strip()
            if not d:  # '1,,3', a trailing comma or no metric at all: a number was lost
                raise InputError(f"empty metric number in {m.group(3).strip()[:60]!r}", source=source, line=lineno,
                                 field="metrics", hint="list the segment's culprit metrics as 1-based numbers "
                                                       "separated by single commas")
            if not (d.isascii() and d.isdigit()):
                raise InputError(f"metric number {d[:20]!r} is not an integer", source=source, line=lineno,
                                 field="metrics")
            k = int(d)
            if k < 1 or (n_metrics is not None and k > n_metrics):
                top = f"1..{n_metrics}" if n_metrics is not None else "1 or more"
                raise InputError(f"metric number {k} outside {top}", source=source, line=lineno, field="metrics",
                                 hint="metric numbers in interpretation labels are 1-based")
            metrics.append(k - 1)
        segs.append(Segment(start, end, tuple(sorted(set(metrics)))))
    return segs


def label_segments(labels: np.ndarray) -> list[tuple[int, int]]:
    """Contiguous runs of 1s as ``(start, end)`` pairs with an exclusive end."""
    y = np.asarray(labels).astype(np.int8).ravel()
    if y.size == 0:
        return []
    d = np.diff(np.concatenate([[0], y, [0]]))
    starts = np.flatnonzero(d == 1)
    ends = np.flatnonzero(d == -1)
    return list(zip(starts.tolist(), ends.tolist()))


def list_entities(root: str | Path) -> list[str]:
    """Entities of an SMD/ASD-layout folder (names of the files in ``test/``)."""
    d = Path(root) / "test"
    if not d.is_dir():
        raise InputError("no test/ folder", source=str(root), hint="expected the SMD/ASD layout train/ test/ test_label/")
    names = sorted({f.name.removesuffix(".gz").removesuffix(".txt") for f in d.iterdir() if ".txt" in f.name})
    return names


def load_labelled_series(
    root: str | Path,
    entity: str,
    *,
    interval_s: float | None = None,
    missing: str = "error",
) -> LabelledSeries:
    """Load one entity of an SMD/ASD-layout folder, validating shapes and labels.

    ``interval_s`` (seconds per row, for false alarms per day) defaults to 300 for ASD
    entities (named ``omi-*``) and 60 otherwise (SMD).
    """
    root = Path(root)
    repairs = RepairLog()
    train = read_matrix(root / "train" / f"{entity}.txt", missing=missing, repairs=repairs)
    test = read_matrix(root / "test" / f"{entity}.txt", n_columns=train.shape[1], missing=missing, repairs=repairs)
    lab_p = _resolve(root / "test_label" / f"{entity}.txt")
    labels = read_labels(lab_p, n_rows=test.shape[0]) if lab_p.exists() else None
    int_p = _resolve(root / "interpretation_label" / f"{entity}.txt")
    interp = (read_interpretation(int_p, n_rows=test.shape[0], n_metrics=train.shape[1])
              if int_p.exists() else None)
    if interval_s is None:
        interval_s = ASD_INTERVAL_S if entity.startswith("omi-") else SMD_INTERVAL_S
    return LabelledSeries(entity, train, test, labels, interp, float(interval_s), None, repairs)


# --------------------------------------------------------------------------- long / wide


def to_long(wide: pd.DataFrame, *, entity: str = "node", timestamp: str | None = None) -> pd.DataFrame:
    """Wide (rows = time, columns = metrics) to long ``timestamp, entity, metric, value``."""
    df = wide.copy()
    if timestamp is not None:
        ts = df.pop(timestamp)
    else:
        ts = pd.Series(df.index, index=df.index)
    df.insert(0, "timestamp", ts.to_numpy())
    long = df.melt(id_vars="timestamp", var_name="metric", value_name="value")
    long.insert(1, "entity", entity)
    return long.sort_values(["entity", "timestamp", "metric"], kind="stable").reset_index(drop=True)


def to_wide(long: pd.DataFrame, *, duplicates: str = "error", repairs: RepairLog | None = None,
            source: str = "long frame") -> dict[str, pd.DataFrame]:
    """Long frame to one wide frame per entity (index = timestamp, columns = metrics).

    Duplicated ``(timestamp, entity, metric)`` keys raise unless ``duplicates`` is
    ``"last"`` or ``"mean"``; the number merged is recorded in ``repairs``.
    """
    need = {"timestamp", "entity", "metric", "value"}
    missing_cols = need - set(long.columns)
    if missing_cols:
        raise InputError(f"missing columns {sorted(missing_cols)}", source=source,
                         hint="a long frame has timestamp, entity, metric, value")
    vals = pd.to_numeric(long["value"], errors="coerce")
    bad = vals.isna() & long["value"].notna()
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise InputError(f"{long['value'].iloc[i]!r} is not a number", source=source, line=i + 1, field="value")
    df = long.assign(value=vals)
    key = ["entity", "timestamp", "metric"]
    dup = df.duplicated(key, keep=False)
    if dup.any():
        if duplicates == "error":
            i = int(np.flatnonzero(dup.to_numpy())[0])
            r = df.iloc[i]
            raise InputError(f"duplicated timestamp {r['timestamp']} for {r['entity']}/{r['metric']}",
                             source=source, line=i + 1,
                             hint="pass duplicates='last' or 'mean' to merge them explicitly")
        if duplicates not in ("last", "mean"):
            raise InputError(f"duplicates must be 'error', 'last' or 'mean', got {duplicates!r}")
        n_merged = int(dup.sum() - df[dup].drop_duplicates(key).shape[0])
        if repairs is not None:
            repairs.add(f"duplicated samples merged ({duplicates})", n_merged)
        df = df.groupby(key, sort=True, as_index=False)["value"].agg(duplicates)
    out = {}
    for ent, g in df.groupby("entity", sort=True):
        w = g.pivot(index="timestamp", columns="metric", values="value").sort_index()
        w.columns.name = None
        out[str(ent)] = w
    return out


def counters_to_rates(wide: pd.DataFrame, columns: Iterable[str] | None = None, *,
                      time: np.ndarray | pd.Index | None = None,
                      repairs: RepairLog | None = None) -> pd.DataFrame:
    """Turn cumulative counters into per-second rates.

    The first row has no rate and is dropped (the result is one row shorter). A counter
    that goes down (reset or wrap) gives a rate from zero at that step (Prometheus'
    ``rate()`` convention); each reset is counted in ``repairs``. ``columns`` defaults to
    every column; ``time`` defaults to the index (seconds).
    """
    cols = list(wide.columns if columns is None else columns)
    t = np.asarray(wide.index if time is None else time, dtype=np.float64)
    dt = np.diff(t)
    if (dt <= 0).any():
        i = int(np.flatnonzero(dt <= 0)[0]) + 1
        raise InputError(f"time does not increase at row {i + 1} ({t[i - 1]} then {t[i]})",
                         hint="sort by time and merge duplicated timestamps first")
    out = wide.iloc[1:].copy()
    for c in cols:
        v = wide[c].to_numpy(dtype=np.float64)
        d = np.diff(v)
        reset = d < 0
        if reset.any():
            d = np.where(reset, v[1:], d)
            if repairs is not None:
                repairs.add(f"counter resets in {c}", int(reset.sum()))
        out[c] = d / dt
    return out


def resample(wide: pd.DataFrame, interval_s: float, *, how: str = "mean", max_gap: int = 0,
             align: str = "floor", repairs: RepairLog | None = None) -> pd.DataFrame:
    """Align a wide frame indexed by epoch seconds on a regular grid of ``interval_s``.

    With ``align="floor"`` bins are ``[t0 + k*interval, t0 + (k+1)*interval)``; with
    ``"nearest"`` each sample goes to the nearest grid point (for samplers that fire about
    once per interval with jitter, so that 0.999 s and 1.001 s spacing does not leave
    empty bins). Empty bins are gaps: more than
    ``max_gap`` consecutive empty bins raise :class:`InputError`; shorter gaps are
    linearly interpolated and counted in ``repairs``.
    """
    if interval_s <= 0:
        raise InputError(f"interval_s must be positive, got {interval_s}")
    if how not in ("mean", "last", "max", "min", "sum"):
        raise InputError(f"how must be mean/last/max/min/sum, got {how!r}")
    if align not in ("floor", "nearest"):
        raise InputError(f"align must be 'floor' or 'nearest', got {align!r}")
    t = np.asarray(wide.index, dtype=np.float64)
    t0 = np.floor(t.min() / interval_s) * interval_s
    rnd = np.floor if align == "floor" else np.round
    k = rnd((t - t0) / interval_s).astype(np.int64)
    g = wide.groupby(k).agg(how)
    full = np.arange(0, int(k.max()) + 1)
    g = g.reindex(full)
    empty = g.isna().all(axis=1).to_numpy()
    if empty.any():
        runs = label_segments(empty.astype(np.int8))
        longest = max(e - s for s, e in runs)
        if longest > max_gap:
            s, e = max(runs, key=lambda r: r[1] - r[0])
            raise InputError(f"gap of {e - s} empty {interval_s:g}s bins from t={t0 + s * interval_s:g}",
                             hint=f"raise max_gap (now {max_gap}) to interpolate, or split the series there")
        if repairs is not None:
            repairs.add("empty bins interpolated", int(empty.sum()))
        g = g.interpolate(limit_direction="both")
    g.index = t0 + g.index.to_numpy() * interval_s
    return g


# --------------------------------------------------------------------------- other formats


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


_LDMS_ID_COLUMNS = ("Time", "Time_usec", "ProducerName", "component_id", "job_id", "app_id")


def read_ldms_csv(path: str | Path, *, repairs: RepairLog | None = None) -> pd.DataFrame:
    """Read an LDMS ``store_csv`` file (header ``#Time,Time_usec,ProducerName,...``).

    Returns a wide frame indexed by ``Time`` (epoch seconds, float) with the metric
    columns only (the id columns are dropped; ``ProducerName`` must be single-valued).
    A trailing comma on every line is allowed. The header must start with ``#Time`` and
    name every column once. Without ``repairs`` every problem raises
    :class:`InputError`: a truncated row (a line cut short: fewer fields than the
    header), an empty cell, rows out of time order, a duplicated ``Time``. With
    ``repairs``: truncated rows are dropped, empty cells forward-filled, rows sorted by
    time and the last of duplicated rows kept, each counted. A row with more fields than
    the header, text in a number cell, ``inf`` and a ``Time`` that is not a number always
    raise.
    """
    p = _resolve(path)
    source = str(p)
    lines = _data_lines(read_text(p))
    if not lines or not lines[0].startswith("#Time"):
        raise InputError("not an LDMS store_csv file: the header must start with '#Time'", source=source, line=1,
                         field="header")
    names = _header_names(lines[0][1:].split(","), source)
    trailing = names[-1] == ""
    width = len(names)
    if trailing:
        names = names[:-1]
    metric_at = [j for j, n in enumerate(names) if n not in _LDMS_ID_COLUMNS]
    kept, kept_lines = [], []
    n_truncated = 0
    for i, line in enumerate(lines[1:], start=2):
        cells = line.split(",")
        if len(cells) > width:
            raise InputError(f"row has {len(cells)} fields, the header has {width}", source=source, line=i,
                             hint="every row needs one value per header column")
        if trailing and len(cells) == width:
            if cells[-1].strip():
                raise InputError("a value after the last named column", source=source, line=i)
            cells = cells[:-1]
        n_cut = max(0, len(names) - len(cells))
        if not n_cut and metric_at and not cells[metric_at[-1]].strip():
            # a line cut short after a comma: its empty cells are exactly the last ones
            empty = [not cells[j].strip() for j in metric_at]
            tail = len(empty) - next((k for k in range(len(empty) - 1, -1, -1) if not empty[k]), -1) - 1
            n_cut = tail if tail == sum(empty) else 0
        if n_cut:
            if repairs is None:
                raise InputError(f"truncated row ({n_cut} trailing values missing)", source=source,
                                 line=i, hint="pass a RepairLog to drop truncated rows and count them")
            n_truncated += 1
            continue
        kept.append(cells)
        kept_lines.append(i)
    if repairs is not None:
        repairs.add(f"{p.name}: truncated rows dropped", n_truncated)
    if not kept:
        raise InputError("no complete data row", source=source)
    columns = {n: [r[j] for r in kept] for j, n in enumerate(names)}
    line_of = lambda i: kept_lines[i]  # noqa: E731
    if "ProducerName" in columns and len(set(columns["ProducerName"])) > 1:
        raise InputError("several producers in one file", source=source, field="column 'ProducerName'",
                         hint="split by ProducerName (one node per frame) before reading")
    t, tmiss, bad = _parse_cells(columns["Time"])
    if bad >= 0 or tmiss.any():
        i = bad if bad >= 0 else int(np.flatnonzero(tmiss)[0])
        raise InputError(_cell_problem(columns["Time"][i]) if bad >= 0 else "empty Time", source=source,
                         line=line_of(i), field="column 'Time'")
    _check_times(t, source, "column 'Time'", line_of, shown=lambda i: repr(columns["Time"][i].strip()[:40]))
    metric_cols = [c for c in names if c not in _LDMS_ID_COLUMNS]
    out = _numeric_frame({c: columns[c] for c in metric_cols}, source, line_of,
                         "ffill" if repairs is not None else "error", repairs,
                         hint="pass a RepairLog (CLI: --fill-missing) to forward-fill empty cells and count them")
    out.index = pd.Index(t, name="Time")
    order = np.argsort(t, kind="stable")
    if (np.diff(t) < 0).any():
        i = int(np.flatnonzero(np.diff(t) < 0)[0]) + 1
        if repairs is None:
            raise InputError(f"Time {t[i]} is earlier than the row before ({t[i - 1]})", source=source,
                             line=line_of(i), field="column 'Time'",
                             hint="pass a RepairLog to sort the rows by time and count it")
        out = out.iloc[order]
        repairs.add(f"{p.name}: rows re-sorted by Time")
    dup = out.index.duplicated(keep="last")
    if dup.any():
        if repairs is None:
            i = int(np.flatnonzero(dup)[0])
            raise InputError(f"duplicated timestamp {out.index[i]}", source=source, line=line_of(int(order[i])),
                             field="column 'Time'", hint="pass a RepairLog to keep the last sample of each timestamp")
        repairs.add(f"{p.name}: duplicated timestamps dropped (kept last)", int(dup.sum()))
        out = out[~dup]
    return out


# Prometheus exposition lives in its own module (prometheus_client's parsers); the names stay importable here
from hpcopt.data.prometheus import parse_prometheus_text, write_prometheus_text  # noqa: E402


def _refuse_constant(name: str):
    raise ValueError(f"{name} is not valid JSON (use null for a missing value)")


def parse_jsonl_line(text: str, lineno: int, source: str = "stdin") -> dict:
    """One JSON-lines record as a dict; ``NaN``/``Infinity`` (not JSON) and anything but an
    object raise :class:`InputError` naming the line (a stream can catch it and go on)."""
    try:
        obj = json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise InputError(f"not JSON: {exc.msg} (column {exc.colno})", source=source, line=lineno) from None
    except (ValueError, RecursionError) as exc:
        raise InputError(f"not JSON: {str(exc)[:80]}", source=source, line=lineno) from None
    if not isinstance(obj, dict):
        raise InputError("each line must be a JSON object", source=source, line=lineno)
    return obj


def iter_jsonl_samples(lines: Iterable[str | bytes], *, source: str = "stdin") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-empty JSON line; a bad line raises InputError.

    Lines may be text or bytes (UTF-8, Latin-1 as the stated fallback; NUL bytes and
    over-long lines refused by :func:`hpcopt.core.files.iter_text_lines`).
    """
    for lineno, text, problem in iter_text_lines(lines, source):
        if problem is not None:
            raise InputError(problem, source=source, line=lineno)
        if not text.strip():
            continue
        yield lineno, parse_jsonl_line(text, lineno, source)


def _json_number(v, source: str, lineno: int, field: str) -> float:
    if v is None:
        return math.nan  # missing: refused or filled by the caller's policy
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise InputError(f"{json.dumps(v)[:40] if _jsonable(v) else repr(v)[:40]} is not a number", source=source,
                         line=lineno, field=field)
    try:
        f = float(v)
    except OverflowError:  # an integer too large for a float
        f = math.inf
    if math.isinf(f):
        raise InputError(f"{str(v)[:40]!r} overflows a 64-bit float", source=source, line=lineno, field=field)
    if not abs(f) < VALUE_LIMIT:
        raise InputError(_too_large(v), source=source, line=lineno, field=field)
    return f


def _jsonable(v) -> bool:
    return isinstance(v, (str, list, dict, int, float, bool)) or v is None


def read_jsonl(path: str | Path, *, metric_names: list[str] | None = None, missing: str = "error",
               repairs: RepairLog | None = None) -> pd.DataFrame:
    """Read a JSON-lines telemetry file into a wide frame (one row per line).

    Each line is ``{"timestamp": t, "values": [...]}`` (columns ``1..n``, or
    ``metric_names``) or ``{"timestamp": t, "metrics": {"name": v, ...}}`` (columns: the
    first line's names, or ``metric_names``; every line must carry the same names). An
    optional ``"entity"`` must be the same on every line. ``null`` is a missing value
    (``missing`` as in :func:`read_matrix`); ``timestamp``, when the lines have one, must
    be a number of seconds since the epoch (0 or more) that strictly increases, and becomes
    the index. Any other problem raises
    :class:`InputError` naming the line and the field.
    """
    if missing not in ("error", "ffill"):
        raise ConfigError(f"missing must be 'error' or 'ffill'; got {missing!r} instead")
    p = _resolve(path)
    source = str(p)
    text = read_text(p)
    rows: list[list[float]] = []
    lines_at: list[int] = []
    times: list[float] = []
    names = list(metric_names) if metric_names is not None else None
    kind = entity = None
    has_ts = None
    for lineno, line in enumerate(text.replace("\r\n", "\n").split("\n"), start=1):
        if not line.strip():
            continue
        obj = parse_jsonl_line(line, lineno, source)
        this = "values" if "values" in obj else ("metrics" if "metrics" in obj else None)
        if this is None:
            raise InputError("the line has neither 'values' nor 'metrics'", source=source, line=lineno)
        if kind is None:
            kind = this
        elif this != kind:
            raise InputError(f"the line has '{this}' but line {lines_at[0]} has '{kind}'", source=source, line=lineno,
                             hint="use one of the two forms in the whole file")
        ent = obj.get("entity")
        if entity is None and not rows:
            entity = ent
        elif ent != entity:
            raise InputError(f"entity {ent!r} but line {lines_at[0]} names {entity!r}", source=source, line=lineno,
                             field="entity", hint="one file, one entity: split the file by entity")
        ts = obj.get("timestamp")
        if has_ts is None:
            has_ts = ts is not None
        elif has_ts != (ts is not None):
            raise InputError("some lines have a timestamp and some do not", source=source, line=lineno,
                             field="timestamp")
        if has_ts:
            times.append(_json_number(ts, source, lineno, "timestamp"))
            if math.isnan(times[-1]):
                raise InputError("timestamp is null", source=source, line=lineno, field="timestamp")
            _check_times(np.asarray(times[-1:]), source, "timestamp", lambda i: lineno)
        if kind == "values":
            vals = obj["values"]
            if not isinstance(vals, list):
                raise InputError("'values' must be a list of numbers", source=source, line=lineno, field="values")
            if names is None:
                names = [str(k + 1) for k in range(len(vals))]
            if len(vals) != len(names):
                raise InputError(f"{len(vals)} values, expected {len(names)}", source=source, line=lineno,
                                 field="values")
            row = [_json_number(v, source, lineno, f"values[{k}]") for k, v in enumerate(vals)]
        else:
            d = obj["metrics"]
            if not isinstance(d, dict):
                raise InputError("'metrics' must be an object of name: number", source=source, line=lineno,
                                 field="metrics")
            if names is None:
                names = [str(k) for k in d]
            if set(d) != set(names):
                extra = sorted(set(d) - set(names))[:3]
                lack = sorted(set(names) - set(d))[:3]
                raise InputError(f"metrics differ from the expected names (missing {lack}, unexpected {extra})",
                                 source=source, line=lineno, field="metrics")
            row = [_json_number(d[n], source, lineno, f"metrics[{n!r}]") for n in names]
        rows.append(row)
        lines_at.append(lineno)
    if not rows:
        raise InputError("the file has no JSON line", source=source)
    arr = np.asarray(rows, dtype=np.float64)
    line_of = lambda i: lines_at[i]  # noqa: E731
    arr = _fill_missing(arr, np.isnan(arr), source, names, missing, repairs, line_of=line_of)
    out = pd.DataFrame(arr, columns=names)
    out.attrs["named"] = kind == "metrics" or metric_names is not None  # 'values' lines carry no names
    if has_ts:
        t = np.asarray(times)
        dt = np.diff(t)
        if (dt <= 0).any():
            i = int(np.flatnonzero(dt <= 0)[0]) + 1
            raise InputError(f"timestamp {t[i]:g} {'is duplicated' if dt[i - 1] == 0 else 'goes back in time'} "
                             f"(the line before has {t[i - 1]:g})", source=source, line=lines_at[i],
                             field="timestamp", hint="timestamps must strictly increase")
        out.index = pd.Index(t, name="timestamp")
    return out


# --------------------------------------------------------------------------- one entry point

#: the input formats of ``hpcopt detect`` (``--format``)
FORMATS = ("auto", "matrix", "csv", "parquet", "ldms", "jsonl", "prometheus")

#: columns of a CSV/Parquet table taken as the time index (the first one present)
TIME_COLUMNS = ("timestamp", "time", "Time")
#: columns of a CSV/Parquet table that identify, not measure (kept out of the metrics)
ID_COLUMNS = ("entity", "node", "node_id", "host", "hostname", "instance", "job_id", "component_id",
              "ProducerName")


def detect_format(path: str | Path) -> str:
    """The format of a telemetry file, by its name and then its first line.

    ``.parquet`` -> parquet; ``.jsonl``/``.ndjson`` -> jsonl; ``.prom``/``.txt`` exposition
    with ``# TYPE`` or ``# HELP`` first -> prometheus; otherwise (``.gz`` looked through) a
    first line starting with ``#Time`` -> ldms, with ``{`` -> jsonl, made only of numbers
    -> matrix, anything else -> csv (a header line).
    """
    p = _resolve(path)
    name = p.name.removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith((".jsonl", ".ndjson")):
        return "jsonl"
    lines = _data_lines(read_text(p))
    if not lines:
        raise InputError("the file is empty", source=str(p))
    first = lines[0].strip()
    if first.startswith("#Time"):
        return "ldms"
    if name.endswith(".prom") or first.startswith(("# TYPE ", "# HELP ")):
        return "prometheus"
    if first.startswith("{"):
        return "jsonl"
    cells = [c.strip(" \t") for c in first.split(",")]
    if all(_NUMBER.fullmatch(c) or _is_missing(c) for c in cells):
        return "matrix"
    return "csv"


@dataclass
class Telemetry:
    """A telemetry file read for a detector: the matrix, its metric names (None for a
    header-less matrix: metrics are then numbered from 1), the time index if the file has
    one, and the format it was read as."""

    values: np.ndarray
    metric_names: list[str] | None
    time: np.ndarray | None
    format: str
    source: str

    def metric_label(self, j: int) -> str | int:
        """How metric ``j`` (0-based) is named in outputs: its name, or its 1-based number."""
        return self.metric_names[j] if self.metric_names else j + 1


def read_telemetry(path: str | Path, *, format: str = "auto", missing: str = "error",
                   repairs: RepairLog | None = None) -> Telemetry:
    """Read one telemetry file in any of :data:`FORMATS` into a matrix for a detector.

    csv / parquet: a header; the first of :data:`TIME_COLUMNS` present becomes the time
    index (strictly increasing), the :data:`ID_COLUMNS` present are set aside (an id column
    with several values is refused: one entity per file), every other column is a metric.
    ldms: :func:`read_ldms_csv` (repairs only with ``missing="ffill"``). jsonl:
    :func:`read_jsonl`. matrix: :func:`read_matrix`.
    """
    if format not in FORMATS:
        raise ConfigError(f"--format must be one of {', '.join(FORMATS)}; got {format!r} instead")
    p = _resolve(path)
    fmt = detect_format(p) if format == "auto" else format
    if fmt == "matrix":
        arr = read_matrix(p, missing=missing, repairs=repairs)
        return Telemetry(arr, None, None, fmt, str(p))
    if fmt == "ldms":
        df = read_ldms_csv(p, repairs=(repairs if repairs is not None else RepairLog()) if missing == "ffill" else None)
    elif fmt == "jsonl":
        df = read_jsonl(p, missing=missing, repairs=repairs)
    elif fmt == "prometheus":
        # an exposition file with timestamped samples: one entity's series, counters as rates
        from hpcopt.data.prometheus import prometheus_to_wide, read_prometheus

        frames = prometheus_to_wide(read_prometheus(p), source=str(p),
                                    repairs=repairs if repairs is not None else RepairLog())
        if len(frames) != 1:
            raise InputError(f"holds {len(frames)} entities ({', '.join(sorted(map(str, frames))[:5])}); "
                             "a detector is fitted on one entity's series", source=str(p),
                             hint="split the file by instance")
        df = next(iter(frames.values()))
    else:
        if fmt == "parquet" and not p.name.removesuffix(".gz").endswith(".parquet"):
            raise ConfigError(f"--format parquet needs a .parquet file; got {p.name}")
        if fmt == "csv" and p.name.removesuffix(".gz").endswith(".parquet"):
            raise ConfigError(f"{p.name} is a Parquet file; use --format parquet or auto")
        cols = _table_columns(p)
        ts = next((c for c in TIME_COLUMNS if c in cols), None)
        ids = [c for c in ID_COLUMNS if c in cols]
        df = read_table(p, timestamp=ts, text_columns=ids, missing=missing, repairs=repairs)
        for c in ids:
            values = set(df[c])
            if len(values) > 1:
                raise InputError(f"column {c!r} has {len(values)} different values: several entities in one file",
                                 source=str(p), field=f"column {c!r}", hint="split the file by entity")
        df = df.drop(columns=ids)
    if df.shape[1] == 0:
        raise InputError("no metric column", source=str(p))
    time = None if df.index.name is None else df.index.to_numpy(dtype=np.float64)
    names = [str(c) for c in df.columns] if df.attrs.get("named", True) else None
    return Telemetry(df.to_numpy(dtype=np.float64), names, time, fmt, str(p))


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
