"""HPAS-injected anomalies in LDMS telemetry (shared/data/telemetry/hpas_ldms): labels and features.

A run folder holds LDMS ``store_csv`` files ``meminfo``, ``vmstat`` and ``procstat`` (1 Hz).
Features per run:

1. each file is read with :func:`~hpcopt.data.telemetry.read_ldms_csv` and put on a
   common 1-second grid of elapsed time (``Time`` minus the run's first ``Time``);
   short gaps (up to ``max_gap`` seconds) are interpolated and counted;
2. cumulative counters become per-second rates (vmstat entries other than ``nr_*`` and
   ``workingset_nodes``; procstat entries other than ``cores_up``, ``cpu_enabled``,
   ``per_core_cpu_enabled*``, ``procs_running``, ``procs_blocked``); meminfo is all gauges;
3. per-run normalisation against counter/page-cache drift between runs: every metric
   is expressed relative to its median over the run's first ``baseline_s`` seconds
   (all included runs start healthy; the earliest anomaly starts at 44 s), so gauges
   like ``Cached`` that drift from run to run start at zero in every run.

Labels: second ``k`` is anomalous when ``start_s <= k < end_s`` for one of the run's
anomaly windows (``labels.csv.gz``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.data.telemetry.base import RepairLog, _cell_problem, _parse_cells
from hpcopt.data.telemetry.frames import resample
from hpcopt.data.telemetry.ldms import read_ldms_csv
from hpcopt.data.telemetry.table import read_text_table
from hpcopt.errors import InputError

__all__ = ["load_hpas_labels", "hpas_run_features", "is_counter"]

_PROCSTAT_GAUGES = ("cores_up", "cpu_enabled", "procs_running", "procs_blocked")


def is_counter(file: str, column: str) -> bool:
    """Whether an LDMS metric of ``file`` (meminfo, vmstat, procstat) is a cumulative counter."""
    if file == "meminfo":
        return False
    if file == "vmstat":
        return not (column.startswith("nr_") or column == "workingset_nodes")
    if file == "procstat":
        return not (column in _PROCSTAT_GAUGES or column.startswith("per_core_cpu_enabled"))
    raise InputError(f"unknown LDMS sampler file {file!r}; expected meminfo, vmstat or procstat")


_LABEL_COLUMNS = ("run_id", "app", "n_anomalies", "included", "anomaly", "start_s", "end_s")


def load_hpas_labels(root: str | Path) -> pd.DataFrame:
    """The anomaly windows of the included runs (one row per window; healthy runs have none).

    ``labels.csv.gz`` is checked row by row: the columns of :data:`_LABEL_COLUMNS`, a run id
    that is a plain folder name, ``included`` True/False, ``n_anomalies`` a whole number,
    and for an anomalous row a named anomaly and ``0 <= start_s < end_s`` (finite seconds).
    Any other value raises :class:`InputError` naming the line and the column.
    """
    p = Path(root) / "labels.csv.gz"
    if not p.exists():
        raise InputError("labels.csv.gz not found", source=str(root), hint="--data is the hpas_ldms folder")
    source = str(p)
    names, rows, lines = read_text_table(p)
    missing = [c for c in _LABEL_COLUMNS if c not in names]
    if missing:
        raise InputError(f"no column(s) {', '.join(missing)}", source=source, line=1, field="header")
    col = {c: names.index(c) for c in names}
    recs = []
    for r, line in zip(rows, lines):
        rec = {c: r[j] for c, j in col.items()}
        run = rec["run_id"].strip()
        if not run or run in (".", "..") or "/" in run or "\\" in run:
            raise InputError(f"run id {run!r} is not a folder name", source=source, line=line, field="column 'run_id'")
        inc = rec["included"].strip()
        if inc not in ("True", "False"):
            raise InputError(f"{inc[:20]!r} is not True or False", source=source, line=line, field="column 'included'")
        n = rec["n_anomalies"].strip()
        if not (n.isascii() and n.isdigit()):
            raise InputError(f"{n[:20]!r} is not a whole number", source=source, line=line,
                             field="column 'n_anomalies'")
        rec["run_id"], rec["included"], rec["n_anomalies"] = run, inc, int(n)
        if rec["n_anomalies"] > 0 and inc == "True":
            se = []
            for c in ("start_s", "end_s"):
                v, m, bad = _parse_cells([rec[c]])
                if bad >= 0 or m[0]:
                    raise InputError(_cell_problem(rec[c]) if bad >= 0 else "empty: an anomalous run needs its window",
                                     source=source, line=line, field=f"column {c!r}")
                se.append(float(v[0]))
            if not 0 <= se[0] < se[1]:
                raise InputError(f"window {se[0]:g}..{se[1]:g} s: needs 0 <= start_s < end_s", source=source,
                                 line=line, field="column 'start_s'")
            if not rec["anomaly"].strip():
                raise InputError("an anomalous row needs the anomaly's name", source=source, line=line,
                                 field="column 'anomaly'")
            rec["start_s"], rec["end_s"] = se
        else:
            rec["start_s"] = rec["end_s"] = math.nan
        recs.append(rec)
    df = pd.DataFrame(recs, columns=names)
    return df[df["included"] == "True"].reset_index(drop=True)


def hpas_run_features(run_dir: str | Path, *, baseline_s: int = 30, max_gap: int = 5,
                      files: tuple[str, ...] = ("meminfo", "vmstat", "procstat"), per_core: bool = False,
                      repairs: RepairLog | None = None) -> pd.DataFrame:
    """Aligned, rate-converted, per-run-normalised features indexed by elapsed second.

    ``per_core=False`` drops procstat's ``per_core_*`` columns (20 CPUs x 12 counters),
    keeping the node totals, which are their sums.
    """
    run_dir = Path(run_dir)
    frames = {}
    for f in files:
        frames[f] = read_ldms_csv(run_dir / f"{f}.csv.gz", repairs=repairs)
    t0 = min(float(d.index[0]) for d in frames.values())
    parts = []
    for f, d in frames.items():
        d = d.copy()
        d.index = d.index.to_numpy() - t0
        d = d.loc[:, ~d.columns.duplicated()]
        if not per_core:
            d = d.loc[:, [c for c in d.columns if not c.startswith("per_core_")]]
        try:
            g = resample(d, 1.0, how="last", max_gap=max_gap, align="nearest", repairs=repairs)
        except InputError as exc:
            if exc.source is not None:
                raise
            raise InputError(exc.reason, source=str(run_dir / f"{f}.csv.gz"), hint=exc.hint) from None
        g.index = np.round(g.index.to_numpy()).astype(np.int64)
        counters = [c for c in g.columns if is_counter(f, c)]
        if counters:
            rates = _rates(g, counters, repairs)
            g = pd.concat([g.iloc[1:].drop(columns=counters), rates], axis=1)
        g.columns = [f"{f}.{c}" for c in g.columns]
        parts.append(g)
    X = pd.concat(parts, axis=1, join="inner").sort_index()
    if X.empty:
        raise InputError("the sampler files share no time steps", source=str(run_dir))
    base = X.loc[X.index < X.index[0] + baseline_s].median(axis=0)
    out = X - base
    out.attrs["start_time"] = t0  # the run's first LDMS timestamp (epoch s): orders the runs in time
    return out


def _rates(g: pd.DataFrame, counters: list[str], repairs: RepairLog | None) -> pd.DataFrame:
    v = g[counters].to_numpy(dtype=np.float64)
    d = np.diff(v, axis=0)
    reset = d < 0
    if reset.any():
        d = np.where(reset, v[1:], d)
        if repairs is not None:
            repairs.add("counter resets", int(reset.sum()))
    dt = np.diff(g.index.to_numpy(dtype=np.float64))[:, None]
    return pd.DataFrame(d / dt, index=g.index[1:], columns=counters)


def _labels_for(index: np.ndarray, windows: list[tuple[float, float]]) -> np.ndarray:
    y = np.zeros(index.size, dtype=np.int8)
    for s, e in windows:
        y[(index >= s) & (index < e)] = 1
    return y
