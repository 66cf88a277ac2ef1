"""One entry point for a detector's input: :func:`read_telemetry` in any of :data:`FORMATS`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hpcopt.core.files import read_text
from hpcopt.errors import ConfigError, InputError
from hpcopt.data.telemetry.base import RepairLog, _NUMBER, _data_lines, _is_missing, _resolve
from hpcopt.data.telemetry.matrix import read_matrix
from hpcopt.data.telemetry.table import _table_columns, read_table
from hpcopt.data.telemetry.ldms import read_ldms_csv
from hpcopt.data.telemetry.jsonl import read_jsonl

__all__ = ['FORMATS', 'ID_COLUMNS', 'TIME_COLUMNS', 'Telemetry', 'detect_format', 'read_telemetry']

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
