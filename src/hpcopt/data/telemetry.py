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

The SMD/ASD layout (OmniAnomaly / InterFusion) is a folder with ``train/``, ``test/``,
``test_label/`` and ``interpretation_label/`` sub-folders holding ``<entity>.txt`` (or
``.txt.gz``) files: comma-separated values without a header, one row per time step; one
0/1 per test row; and one line ``start-end:d1,d2,...`` per anomaly segment, where
``start`` is the 0-based first anomalous row, ``end`` is exclusive and the metric numbers
``d`` are 1-based. Inside hpcopt metric indices are always 0-based.
"""

from __future__ import annotations

import gzip
import io
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import pandas as pd

from hpcopt.errors import InputError

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
    "parse_prometheus_text",
    "write_prometheus_text",
    "iter_jsonl_samples",
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


def _open_text(path: Path) -> io.TextIOBase:
    if not path.exists():
        raise InputError("file not found", source=str(path), hint="check the path")
    if path.suffix == ".gz":
        return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8")
    return open(path, encoding="utf-8")


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


def _first_bad_cell(path: Path, n_columns: int | None) -> tuple[int, int, str]:
    """Scan a header-less CSV for the first cell that is not a float (1-based line/column)."""
    with _open_text(path) as fh:
        for lineno, line in enumerate(fh, start=1):
            cells = line.rstrip("\r\n").split(",")
            if n_columns is None:
                n_columns = len(cells)
            if len(cells) != n_columns:
                return lineno, -1, f"{len(cells)} fields, expected {n_columns}"
            for col, cell in enumerate(cells, start=1):
                try:
                    v = float(cell)
                except ValueError:
                    return lineno, col, repr(cell)
                if cell.strip() == "" or math.isnan(v):
                    return lineno, col, "empty" if cell.strip() == "" else "nan"
    return -1, -1, ""


def read_matrix(
    path: str | Path,
    *,
    n_columns: int | None = None,
    missing: str = "error",
    repairs: RepairLog | None = None,
) -> np.ndarray:
    """Read a header-less numeric CSV (plain or ``.gz``) into a float64 array.

    ``missing="error"`` (default) refuses empty/NaN cells; ``"ffill"`` carries the last
    value forward (then back-fills a leading gap) and records the count in ``repairs``.
    Non-numeric cells and ragged rows always raise :class:`InputError`.
    """
    if missing not in ("error", "ffill"):
        raise InputError(f"missing must be 'error' or 'ffill', got {missing!r}")
    p = _resolve(path)
    with _open_text(p) as fh:
        try:
            df = pd.read_csv(fh, header=None, dtype=np.float64, na_values=["", "nan", "NaN"],
                             keep_default_na=False, skip_blank_lines=False)
        except (ValueError, pd.errors.ParserError) as exc:
            line, col, what = _first_bad_cell(p, n_columns)
            if line > 0 and col < 0:
                raise InputError(f"row has {what}", source=str(p), line=line,
                                 hint="every row needs the same number of comma-separated values") from exc
            if line > 0:
                raise InputError(f"{what} is not a number", source=str(p), line=line, field=f"column {col}",
                                 hint="fix or remove the cell") from exc
            raise InputError(f"cannot parse: {exc}", source=str(p)) from exc
        except pd.errors.EmptyDataError as exc:
            raise InputError("file is empty", source=str(p)) from exc
    arr = df.to_numpy(dtype=np.float64)
    if n_columns is not None and arr.shape[1] != n_columns:
        raise InputError(f"{arr.shape[1]} columns, expected {n_columns}", source=str(p),
                         hint="train and test must have the same metrics")
    nan = np.isnan(arr)
    if nan.any():
        if missing == "error":
            r, c = np.argwhere(nan)[0]
            raise InputError(f"empty or NaN cell ({int(nan.sum())} in the file)", source=str(p), line=int(r) + 1,
                             field=f"column {int(c) + 1}",
                             hint="fill the gap, or pass missing='ffill' (CLI: --fill-missing) to carry values forward")
        filled = pd.DataFrame(arr).ffill().bfill()
        if repairs is not None:
            repairs.add(f"{p.name}: NaN cells forward-filled", int(nan.sum()))
        arr = filled.to_numpy(dtype=np.float64)
        if np.isnan(arr).any():
            raise InputError("a column has no numeric value at all", source=str(p))
    if np.isinf(arr).any():
        r, c = np.argwhere(np.isinf(arr))[0]
        raise InputError("infinite value", source=str(p), line=int(r) + 1, field=f"column {int(c) + 1}")
    return arr


def read_labels(path: str | Path, *, n_rows: int | None = None) -> np.ndarray:
    """Read one 0/1 label per line; the length must equal ``n_rows`` when given."""
    p = _resolve(path)
    out = []
    with _open_text(p) as fh:
        for lineno, line in enumerate(fh, start=1):
            s = line.strip()
            if s == "":
                continue
            try:
                v = float(s)
            except ValueError:
                raise InputError(f"{s!r} is not a 0/1 label", source=str(p), line=lineno) from None
            if v not in (0.0, 1.0):
                raise InputError(f"label {s!r} is not 0 or 1", source=str(p), line=lineno)
            out.append(int(v))
    labels = np.asarray(out, dtype=np.int8)
    if n_rows is not None and labels.size != n_rows:
        raise InputError(f"{labels.size} labels for {n_rows} test rows", source=str(p),
                         hint="the label file must have exactly one 0/1 line per test row")
    return labels


_INTERP = re.compile(r"^\s*(\d+)\s*-\s*(\d+)\s*:\s*([\d,\s]*)$")


def read_interpretation(path: str | Path, *, n_rows: int | None = None, n_metrics: int | None = None) -> list[Segment]:
    """Read ``start-end:d1,d2,...`` lines (0-based start, exclusive end, 1-based metrics)."""
    p = _resolve(path)
    segs: list[Segment] = []
    with _open_text(p) as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            m = _INTERP.match(line.strip())
            if not m:
                raise InputError(f"{line.strip()!r} is not 'start-end:d1,d2,...'", source=str(p), line=lineno)
            start, end = int(m.group(1)), int(m.group(2))
            if end <= start:
                raise InputError(f"segment end {end} is not after start {start}", source=str(p), line=lineno)
            if n_rows is not None and end > n_rows:
                raise InputError(f"segment end {end} is past the {n_rows} test rows", source=str(p), line=lineno)
            dims = [d for d in m.group(3).replace(" ", "").split(",") if d]
            metrics = []
            for d in dims:
                k = int(d)
                if k < 1 or (n_metrics is not None and k > n_metrics):
                    raise InputError(f"metric number {k} outside 1..{n_metrics}", source=str(p), line=lineno,
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


def read_table(path: str | Path, *, timestamp: str | None = None,
               text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a CSV or Parquet file with a header into a wide frame of numbers.

    With ``timestamp`` the column becomes the index. ``text_columns`` (e.g. a node id)
    are kept as they are; any non-numeric cell in the other columns raises
    :class:`InputError` naming its line and column.
    """
    text_columns = set(text_columns)
    p = _resolve(path)
    if not p.exists():
        raise InputError("file not found", source=str(p))
    if p.suffix == ".parquet":
        df = pd.read_parquet(p)
        line_offset = 0
    else:
        df = pd.read_csv(p)
        line_offset = 1
    if timestamp is not None:
        if timestamp not in df.columns:
            raise InputError(f"no column {timestamp!r}", source=str(p), hint=f"columns are {list(df.columns)[:8]}...")
        df = df.set_index(timestamp)
    for c in df.columns:
        if c in text_columns:
            continue
        if not pd.api.types.is_numeric_dtype(df[c]):
            num = pd.to_numeric(df[c], errors="coerce")
            bad = num.isna() & df[c].notna() & (df[c].astype(str).str.strip() != "")
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"{df[c].iloc[i]!r} is not a number", source=str(p), line=i + 1 + line_offset,
                                 field=f"column {c!r}")
            df[c] = num
    return df


_LDMS_ID_COLUMNS = ("Time", "Time_usec", "ProducerName", "component_id", "job_id", "app_id")


def read_ldms_csv(path: str | Path, *, repairs: RepairLog | None = None) -> pd.DataFrame:
    """Read an LDMS ``store_csv`` file (header ``#Time,Time_usec,ProducerName,...``).

    Returns a wide frame indexed by ``Time`` (epoch seconds, float) with the metric
    columns only (the id columns are dropped; ``ProducerName`` must be single-valued).
    Empty trailing columns from a trailing comma are removed. Truncated rows (a line cut
    short: its last values are missing), empty cells and rows with a duplicated ``Time`` raise unless ``repairs`` is
    given; then truncated rows are dropped, empty cells forward-filled and the last of
    duplicated rows kept, each counted in ``repairs``.
    """
    p = _resolve(path)
    with _open_text(p) as fh:
        header = fh.readline()
        if not header.startswith("#Time"):
            raise InputError("not an LDMS store_csv file: the header must start with '#Time'", source=str(p), line=1)
        cols = header.lstrip("#").rstrip("\r\n").split(",")
        try:
            df = pd.read_csv(fh, header=None, names=cols if cols[-1] else cols[:-1] + ["_trailing"],
                             index_col=False, low_memory=False)
        except pd.errors.ParserError as exc:
            raise InputError(f"cannot parse: {exc}", source=str(p)) from exc
    df = df.loc[:, [c for c in df.columns if c and c != "_trailing" and not c.startswith("Unnamed")]]
    metric_cols = [c for c in df.columns if c not in _LDMS_ID_COLUMNS]
    # a line cut short: its missing cells are exactly the last ones
    na = df[metric_cols].isna().to_numpy() if metric_cols else np.zeros((len(df), 0), bool)
    n_tail = np.cumprod(na[:, ::-1], axis=1).sum(axis=1) if na.size else np.zeros(len(df), int)
    truncated = (n_tail > 0) & (n_tail == na.sum(axis=1))
    if truncated.any():
        i = int(np.flatnonzero(truncated)[0])
        if repairs is None:
            raise InputError(f"truncated row ({int(n_tail[i])} trailing values missing)", source=str(p), line=i + 2,
                             hint="pass a RepairLog to drop truncated rows and count them")
        repairs.add(f"{p.name}: truncated rows dropped", int(truncated.sum()))
        df = df[~truncated].reset_index(drop=True)
    if "ProducerName" in df.columns and df["ProducerName"].nunique() > 1:
        raise InputError("several producers in one file", source=str(p),
                         hint="split by ProducerName (one node per frame) before reading")
    for c in metric_cols:
        if not pd.api.types.is_numeric_dtype(df[c]):
            num = pd.to_numeric(df[c], errors="coerce")
            bad = num.isna() & df[c].notna()
            if bad.any():
                i = int(np.flatnonzero(bad.to_numpy())[0])
                raise InputError(f"{df[c].iloc[i]!r} is not a number", source=str(p), line=i + 2, field=f"column {c!r}")
            df[c] = num
    holes = df[metric_cols].isna().to_numpy()
    if holes.any():
        r, c = np.argwhere(holes)[0]
        if repairs is None:
            raise InputError("empty cell", source=str(p), line=int(r) + 2, field=f"column {metric_cols[c]!r}",
                             hint="pass a RepairLog to forward-fill empty cells and count them")
        repairs.add(f"{p.name}: empty cells forward-filled", int(holes.sum()))
        df[metric_cols] = df[metric_cols].ffill().bfill()
    t = pd.to_numeric(df["Time"], errors="coerce").to_numpy(dtype=np.float64)
    out = df[metric_cols].astype(np.float64)
    out.index = pd.Index(t, name="Time")
    if not out.index.is_monotonic_increasing:
        out = out.sort_index(kind="stable")
        if repairs is not None:
            repairs.add(f"{p.name}: rows re-sorted by Time")
    dup = out.index.duplicated(keep="last")
    if dup.any():
        if repairs is None:
            i = int(np.flatnonzero(dup)[0])
            raise InputError(f"duplicated timestamp {out.index[i]}", source=str(p),
                             hint="pass a RepairLog to keep the last sample of each timestamp")
        repairs.add(f"{p.name}: duplicated timestamps dropped (kept last)", int(dup.sum()))
        out = out[~dup]
    return out


# Prometheus exposition lives in its own module (prometheus_client's parsers); the names stay importable here
from hpcopt.data.prometheus import parse_prometheus_text, write_prometheus_text  # noqa: E402


def iter_jsonl_samples(lines: Iterable[str], *, source: str = "stdin") -> Iterator[tuple[int, dict]]:
    """Yield ``(line_number, object)`` for each non-empty JSON line; bad JSON raises InputError."""
    import json

    for lineno, raw in enumerate(lines, start=1):
        s = raw.strip()
        if not s:
            continue
        try:
            obj = json.loads(s)
        except json.JSONDecodeError as exc:
            raise InputError(f"not JSON: {exc.msg}", source=source, line=lineno) from None
        if not isinstance(obj, dict):
            raise InputError("each line must be a JSON object", source=source, line=lineno)
        yield lineno, obj
