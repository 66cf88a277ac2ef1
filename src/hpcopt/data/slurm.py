"""Slurm accounting (``sacct -P``) and CSV job tables, mapped onto the SWF columns.

Mapping (SWF field <- Slurm): submit <- Submit (seconds from the earliest submit; the
epoch of that instant is the header's UnixStartTime), wait <- Start - Submit, runtime <-
ElapsedRaw / Elapsed / End - Start, allocated processors <- AllocCPUS / NCPUS, requested
processors <- ReqCPUS, requested time <- TimelimitRaw (minutes) / Timelimit, requested
memory <- ReqMem (KB per processor), status <- State (COMPLETED 1; FAILED, TIMEOUT,
NODE_FAIL, OUT_OF_MEMORY 0; CANCELLED 5), user/group/partition/queue(QOS) <- numbered
1..n in order of first appearance, the names kept as extra columns. Job steps (``123.batch``,
``123.0``) are not jobs: they are skipped and counted in ``read_notes``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.core.files import read_text
from hpcopt.data.workload import COLUMNS, INT_COLUMNS, Workload
from hpcopt.errors import InputError

_MISSING = {"", "unknown", "none", "n/a", "nan", "invalid"}
_UNLIMITED = {"unlimited", "partition_limit", "infinite"}
_STATUS = {"COMPLETED": 1, "FAILED": 0, "TIMEOUT": 0, "NODE_FAIL": 0, "OUT_OF_MEMORY": 0, "BOOT_FAIL": 0,
           "DEADLINE": 0, "PREEMPTED": 0, "CANCELLED": 5}

# Column aliases for CSV job tables (lower-case); the first present one wins.
TABLE_ALIASES: dict[str, tuple[str, ...]] = {
    "job_id": ("jobidraw", "jobid", "job_id", "id"),
    "submit": ("submit", "submit_time", "submittime", "eligible"),
    "start": ("start", "start_time", "starttime"),
    "end": ("end", "end_time", "endtime"),
    "runtime": ("elapsedraw", "run_time", "runtime", "elapsed"),
    "alloc_procs": ("alloccpus", "ncpus", "processors_alloc", "alloc_procs"),
    "req_procs": ("reqcpus", "processors_req", "req_procs", "ncpus_req"),
    "req_time": ("timelimitraw", "timelimit", "wallclock_req", "req_time", "time_limit"),
    "req_mem": ("reqmem", "mem_req", "req_mem"),
    "state": ("state", "status"),
    "user": ("user", "user_id", "uid"),
    "group": ("group", "account", "group_id"),
    "partition": ("partition",),
    "queue": ("qos", "queue"),
    "job_name": ("jobname", "name", "job_name"),
}


def _duration_seconds(text: str) -> float:
    """``[DD-]HH:MM:SS``, ``MM:SS`` or plain seconds -> seconds; -1 when missing."""
    t = text.strip().lower()
    if t in _MISSING or t in _UNLIMITED:
        return -1.0
    days = 0
    if "-" in t:
        d, _, t = t.partition("-")
        days = int(d)
    parts = [float(p) for p in t.split(":")]
    if len(parts) == 1:
        seconds = parts[0]
    elif len(parts) == 2:
        seconds = parts[0] * 60 + parts[1]
    elif len(parts) == 3:
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    else:
        raise ValueError(text)
    return days * 86400 + seconds


def _memory_kb(text: str, procs: int, nodes: int) -> float:
    """``4000M``, ``4Gn`` (per node), ``2Gc`` (per CPU) -> KB per processor; -1 when missing."""
    t = text.strip()
    if t.lower() in _MISSING or t in ("0", "0n", "0c"):
        return -1.0
    m = re.fullmatch(r"([0-9.]+)\s*([KMGTP]?)([nc]?)", t, flags=re.IGNORECASE)
    if not m:
        raise ValueError(text)
    value = float(m.group(1)) * {"": 1 / 1024 * 1024, "K": 1, "M": 1024, "G": 1024**2, "T": 1024**3, "P": 1024**4}[
        m.group(2).upper()
    ]
    if m.group(2) == "":
        value = float(m.group(1)) * 1024  # sacct prints plain numbers in MB
    if m.group(3).lower() == "c":
        return value
    per_node = value
    total = per_node * max(nodes, 1)
    return total / max(procs, 1)


def _codes(values: pd.Series) -> np.ndarray:
    """Names -> 1..n in order of first appearance; missing -> -1."""
    out = np.full(len(values), -1, dtype=np.int64)
    seen: dict[str, int] = {}
    for i, v in enumerate(values.astype(str)):
        if v.strip().lower() in _MISSING:
            continue
        out[i] = seen.setdefault(v, len(seen) + 1)
    return out


def _pick(frame: pd.DataFrame, key: str) -> str | None:
    lower = {c.lower().strip(): c for c in frame.columns}
    for alias in TABLE_ALIASES[key]:
        if alias in lower:
            return lower[alias]
    return None


def _times(frame: pd.DataFrame, col: str, source: str, header_lines: int) -> np.ndarray:
    """Timestamps -> epoch seconds (float); missing -> NaN; garbage -> InputError."""
    raw = frame[col].astype(str).str.strip()
    missing = raw.str.lower().isin(_MISSING)
    parsed = pd.to_datetime(raw.where(~missing), errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy() & ~missing.to_numpy())
    if len(bad):
        r = int(bad[0])
        raise InputError(
            f"{raw.iloc[r]!r} is not a date and time", source=source, line=int(frame.index[r]) + 1 + header_lines,
            field=f"column {col}"
        )
    secs = (parsed - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return secs.to_numpy(dtype=np.float64)


def _numbers(frame: pd.DataFrame, col: str, source: str, header_lines: int, parse=float) -> np.ndarray:
    out = np.empty(len(frame), dtype=np.float64)
    for i, v in enumerate(frame[col].astype(str)):
        t = v.strip()
        if t.lower() in _MISSING or t.lower() in _UNLIMITED:
            out[i] = -1.0
            continue
        try:
            out[i] = parse(t)
        except (ValueError, KeyError):
            raise InputError(f"{t!r} is not a valid value", source=source, line=int(frame.index[i]) + 1 + header_lines,
                             field=f"column {col}") from None
    return out


def table_to_workload(frame: pd.DataFrame, source: str, *, header_lines: int = 1, notes: list[str] | None = None) -> Workload:
    """Map a job table (one row per job, string cells) onto the SWF columns."""
    notes = list(notes or [])
    cols = {key: _pick(frame, key) for key in TABLE_ALIASES}
    if cols["submit"] is None:
        raise InputError(
            f"has no submit-time column (looked for {', '.join(TABLE_ALIASES['submit'])})",
            source=source,
            hint="export with: sacct -P -X --format=JobIDRaw,User,Group,Partition,QOS,Submit,Start,End,ElapsedRaw,"
            "AllocCPUS,ReqCPUS,TimelimitRaw,ReqMem,NNodes,State",
        )
    if cols["runtime"] is None and not (cols["start"] and cols["end"]):
        raise InputError(
            "has no run-time column (ElapsedRaw, Elapsed or run_time) and no Start and End columns",
            source=source,
            hint="add ElapsedRaw to the sacct --format list",
        )
    if cols["alloc_procs"] is None and cols["req_procs"] is None:
        raise InputError(
            "has no processor-count column (AllocCPUS, NCPUS, ReqCPUS or processors_req)",
            source=source,
            hint="add AllocCPUS and ReqCPUS to the sacct --format list",
        )
    n = len(frame)
    submit_abs = _times(frame, cols["submit"], source, header_lines)
    if np.isnan(submit_abs).any():
        r = int(np.flatnonzero(np.isnan(submit_abs))[0])
        raise InputError("submit time is missing", source=source, line=int(frame.index[r]) + 1 + header_lines,
                         field=f"column {cols['submit']}")
    origin = float(np.min(submit_abs)) if n else 0.0
    data: dict[str, np.ndarray] = {name: np.full(n, -1, dtype=np.int64 if name in INT_COLUMNS else np.float64) for name in COLUMNS}
    data["job_id"] = np.arange(1, n + 1, dtype=np.int64)
    data["submit"] = submit_abs - origin
    start = _times(frame, cols["start"], source, header_lines) if cols["start"] else np.full(n, np.nan)
    end = _times(frame, cols["end"], source, header_lines) if cols["end"] else np.full(n, np.nan)
    data["wait"] = np.where(np.isnan(start), -1.0, start - submit_abs)
    if cols["runtime"] is not None:
        is_raw = cols["runtime"].lower() in ("elapsedraw", "run_time", "runtime")
        data["runtime"] = _numbers(frame, cols["runtime"], source, header_lines, float if is_raw else _duration_seconds)
    else:
        data["runtime"] = np.where(np.isnan(start) | np.isnan(end), -1.0, end - start)
    if cols["alloc_procs"]:
        data["alloc_procs"] = _numbers(frame, cols["alloc_procs"], source, header_lines).astype(np.int64)
    if cols["req_procs"]:
        data["req_procs"] = _numbers(frame, cols["req_procs"], source, header_lines).astype(np.int64)
    if not cols["alloc_procs"]:
        data["alloc_procs"] = data["req_procs"].copy()
        notes.append("allocated processors taken from the requested processors (no allocation column)")
    if cols["req_time"]:
        name = cols["req_time"].lower()
        if name == "timelimitraw":
            data["req_time"] = _numbers(frame, cols["req_time"], source, header_lines)
            data["req_time"] = np.where(data["req_time"] > 0, data["req_time"] * 60.0, -1.0)
        elif name == "timelimit":
            data["req_time"] = _numbers(frame, cols["req_time"], source, header_lines, _duration_seconds)
        else:
            data["req_time"] = _numbers(frame, cols["req_time"], source, header_lines)
    nodes_col = next((c for c in frame.columns if c.lower() in ("nnodes", "nodes_req", "reqnodes")), None)
    nodes = _numbers(frame, nodes_col, source, header_lines).astype(np.int64) if nodes_col else np.ones(n, np.int64)
    if cols["req_mem"]:
        procs = np.where(data["req_procs"] > 0, data["req_procs"], data["alloc_procs"])
        mem_col = cols["req_mem"]
        values = frame[mem_col].astype(str).tolist()
        out = np.empty(n)
        for i, v in enumerate(values):
            try:
                out[i] = _memory_kb(v, int(procs[i]), int(nodes[i]))
            except ValueError:
                raise InputError(f"{v!r} is not a memory size", source=source, line=int(frame.index[i]) + 1 + header_lines,
                                 field=f"column {mem_col}") from None
        data["req_mem"] = out
    if cols["state"]:
        states = frame[cols["state"]].astype(str).str.strip().str.upper().str.split().str[0].fillna("")
        data["status"] = states.map(lambda s: _STATUS.get(s, -1)).to_numpy(dtype=np.int64)
    for key in ("user", "group", "partition", "queue"):
        if cols[key]:
            data[key] = _codes(frame[cols[key]])
    out_frame = pd.DataFrame(data)
    for key, extra in (("job_id", "native_job_id"), ("user", "user_name"), ("group", "group_name"),
                       ("partition", "partition_name"), ("queue", "queue_name"), ("job_name", "job_name")):
        if cols[key]:
            out_frame[extra] = frame[cols[key]].astype(str).to_numpy()
    header = {"UnixStartTime": str(int(origin))} if n else {}
    return Workload(out_frame, header, source, read_notes=notes)


def _read_frame(text: str, sep: str, source: str) -> pd.DataFrame:
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, engine="python")
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot be read as a table ({exc})", source=source) from None
    except pd.errors.EmptyDataError:
        raise InputError("is empty", source=source, hint="export at least a header and one job") from None
    if frame.empty:
        raise InputError("contains no jobs", source=source, hint="export at least one job")
    return frame


def read_sacct(path: str | Path) -> Workload:
    """Read ``sacct -P`` (pipe-separated, with header) output; job steps are skipped and counted."""
    text = read_text(path)
    frame = _read_frame(text, "|", str(path))
    notes = []
    id_col = next((c for c in frame.columns if c.lower() in ("jobid", "jobidraw")), None)
    if id_col is not None:
        step = frame[id_col].astype(str).str.contains(".", regex=False)
        if step.any():
            notes.append(f"{int(step.sum())} job-step lines (JobID with '.') skipped: steps are not jobs")
            frame = frame[~step.to_numpy()]  # keep the index: it gives file line numbers
    return table_to_workload(frame, str(path), notes=notes)


def read_job_table(path: str | Path) -> Workload:
    """Read a CSV (or TSV) job table with a header row, such as NREL's Eagle sample."""
    text = read_text(path)
    first = text.split("\n", 1)[0]
    sep = "\t" if first.count("\t") > first.count(",") else ","
    return table_to_workload(_read_frame(text, sep, str(path)), str(path))
