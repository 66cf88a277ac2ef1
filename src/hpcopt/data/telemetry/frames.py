"""Long and wide telemetry frames: :func:`to_long`, :func:`to_wide`, counters as rates, resampling.

* **wide**: one row per time step and one column per metric; what detectors consume;
* **long**: the columns ``timestamp, entity, metric, value``; what scrapers and samplers produce.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
import pandas as pd

from hpcopt.errors import InputError
from hpcopt.data.telemetry.base import RepairLog, label_segments

__all__ = ['counters_to_rates', 'resample', 'to_long', 'to_wide']

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
