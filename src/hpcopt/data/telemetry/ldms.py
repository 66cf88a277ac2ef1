"""LDMS ``store_csv`` files: :func:`read_ldms_csv`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.core.files import read_text
from hpcopt.errors import InputError
from hpcopt.data.telemetry.base import RepairLog, _cell_problem, _check_times, _data_lines, _parse_cells, _resolve
from hpcopt.data.telemetry.table import _header_names, _numeric_frame

__all__ = ['read_ldms_csv']

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
