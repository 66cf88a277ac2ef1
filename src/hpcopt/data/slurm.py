"""Slurm accounting (``sacct -P``) and CSV job tables, mapped onto the SWF columns.

Mapping (SWF field <- Slurm): submit <- Submit (seconds from the earliest submit; the
epoch of that instant is the header's UnixStartTime), wait <- Start - Submit, runtime <-
ElapsedRaw / Elapsed / End - Start, allocated processors <- AllocCPUS / NCPUS, requested
processors <- ReqCPUS, requested time <- TimelimitRaw (minutes) / Timelimit, requested
memory <- ReqMem (KB per processor, see below), status <- State (COMPLETED 1; FAILED,
TIMEOUT, NODE_FAIL, OUT_OF_MEMORY, BOOT_FAIL, DEADLINE, PREEMPTED 0; CANCELLED 5),
user/group/partition/queue(QOS) <- numbered 1..n in order of first appearance (group from
Group, else Account). Job steps (``123.batch``, ``123.0``) are not jobs: they are skipped
and counted in ``read_notes``.

Identities are kept as text columns next to the SWF ones: ``native_job_id`` (sacct's
JobID as printed, e.g. ``1234``, ``1234_5`` for an array task, ``1234+0`` for a
heterogeneous component; JobIDRaw when there is no JobID column), ``job_id_raw`` (when
both are exported), ``user_name``, ``group_name``, ``account``, ``partition_name``,
``queue_name`` (QOS) and ``job_name``. SWF field 1 (``job_id``) stays 1..n.

Job states (sacct(1), JOB STATE CODES; long names or the short codes):

- finished (the job table): COMPLETED, FAILED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY,
  BOOT_FAIL, DEADLINE, PREEMPTED, CANCELLED. A finished job without a Start (empty,
  ``Unknown``, ``None``) and with nothing elapsed, e.g. one cancelled while it was
  pending, never ran: its wait and runtime are -1 (unknown, as in SWF), and it is counted
  in ``read_notes``;
- not finished when the history was exported: PENDING, RUNNING, SUSPENDED, REQUEUED,
  REQUEUE_HOLD, REQUEUE_FED, RESIZING, CONFIGURING, COMPLETING, STOPPED, SIGNALING,
  STAGE_OUT, SPECIAL_EXIT, RESV_DEL_HOLD. They are not finished jobs -- a running job's
  elapsed time is how long it has run so far, not its runtime -- so they are kept out of
  the job table, counted, and returned as ``Workload.queue`` (the current queue): the same
  columns plus ``state`` and ``elapsed`` (seconds run so far, -1 when not started);
- REQUEUED with both a Start and an End is an earlier run of a requeued job (``sacct -D``
  lists every run): a finished run, status 0, counted;
- REVOKED (a federated sibling removed because another cluster started the job) is not a
  job of this cluster: skipped and counted;
- any other state name is kept as a finished job with status -1, counted.

``ReqMem`` (what sacct prints; sacct(1) and sacct's ``src/sacct/print.c``):

- Slurm before 21.08 prints the job's memory request with a suffix: ``n`` per node
  (``--mem``), ``c`` per CPU (``--mem-per-cpu``), e.g. ``4000Mc``, ``1.50Gn``;
- Slurm 21.08 and later prints the ``mem`` count of the job's requested TRES (ReqTRES):
  the job's total requested memory, with no suffix, e.g. ``16G``.

Sizes are in MB unless a unit letter follows (K, M, G, T, P; binary, as Slurm's own
conversion). SWF field 10 is KB per processor: a per-node value times NNodes over the
processors, a per-CPU value as is, a total over the processors (ReqCPUS, else AllocCPUS).

Values: ``-1`` (and empty, ``Unknown``, ``None``, ``N/A``) means unknown, as in SWF;
``UNLIMITED`` only in a time limit. Anything else must be a finite number in range --
processor and node counts whole numbers from 0 to 2,147,483,647, durations from 0 to 100
years -- or the reader refuses the file with one line naming the file, line and column
(``inf``, ``nan``, ``1e308``, ``-5`` and text all refused; ``nan`` in a time or ReqMem
too). A finished job that ran and lacks its elapsed time, Start, End, processor or node
count (unknown, or 0 processors) keeps it as unknown (-1) and is counted in ``read_notes``.

Job IDs are the jobs' identities and are checked as Slurm prints them: JobIDRaw digits;
JobID ``123``, ``123_4``, ``123_[1-9%2]`` (a pending array) or ``123+0``; every number at
most 4,294,967,295 (uint32). An empty, negative, text or larger ID is refused, and so is
a job step in a CSV table (one row per job: ``sacct -X``).
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from hpcopt.core.files import read_text
from hpcopt.data.workload import COLUMNS, INT_COLUMNS, Workload
from hpcopt.errors import InputError

# what sacct prints for a value it does not have; "nan" is not among them (a NaN is refused)
_MISSING = {"", "unknown", "none", "n/a", "invalid"}
_UNLIMITED = {"unlimited", "partition_limit", "infinite"}
_NOT_FINITE = {"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"}
_MAX_COUNT = 2**31 - 1
_MAX_SECONDS = 100 * 365 * 86400
_MAX_MEM_KB = float(1 << 50)  # 1 EiB per processor: beyond any machine
_MAX_JOB_ID = 2**32 - 1  # Slurm job IDs, array task IDs and het offsets are uint32_t
# sacct's JobID: 123, 123_4 (array task), 123_[1-9%2] (pending array), 123+0 (het component)
_JOB_ID_RE = r"^(\d+)(?:_(\d+)|_\[[0-9,\-%:]*\]|\+(\d+))?$"
_RAW_ID_RE = r"^(\d+)()()$"  # JobIDRaw: digits only

_STATUS = {"COMPLETED": 1, "FAILED": 0, "TIMEOUT": 0, "NODE_FAIL": 0, "OUT_OF_MEMORY": 0, "BOOT_FAIL": 0,
           "DEADLINE": 0, "PREEMPTED": 0, "CANCELLED": 5}
_ACTIVE = {"PENDING", "RUNNING", "SUSPENDED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "CONFIGURING",
           "COMPLETING", "STOPPED", "SIGNALING", "STAGE_OUT", "SPECIAL_EXIT", "RESV_DEL_HOLD"}
_SKIPPED = {"REVOKED"}
_SHORT = {"BF": "BOOT_FAIL", "CA": "CANCELLED", "CD": "COMPLETED", "DL": "DEADLINE", "F": "FAILED",
          "NF": "NODE_FAIL", "OOM": "OUT_OF_MEMORY", "PD": "PENDING", "PR": "PREEMPTED", "R": "RUNNING",
          "RQ": "REQUEUED", "RS": "RESIZING", "RV": "REVOKED", "S": "SUSPENDED", "TO": "TIMEOUT",
          "CF": "CONFIGURING", "CG": "COMPLETING", "ST": "STOPPED", "SI": "SIGNALING", "SO": "STAGE_OUT",
          "SE": "SPECIAL_EXIT", "RH": "REQUEUE_HOLD", "RF": "REQUEUE_FED", "RD": "RESV_DEL_HOLD"}

# Column aliases for CSV job tables (lower-case); the first present one wins.
TABLE_ALIASES: dict[str, tuple[str, ...]] = {
    "job_id": ("jobid", "jobidraw", "job_id", "id"),
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
    "group": ("group", "group_id", "gid"),
    "account": ("account",),
    "partition": ("partition",),
    "queue": ("qos", "queue"),
    "job_name": ("jobname", "name", "job_name"),
}
_NODES_ALIASES = ("nnodes", "nodes_req", "reqnodes")


def _duration_seconds(text: str) -> float:
    """``[DD-]HH:MM:SS``, ``MM:SS`` or plain seconds -> seconds; -1 when missing."""
    t = text.strip().lower()
    if t in _MISSING or t in _UNLIMITED:
        return -1.0
    days = 0.0
    if "-" in t:
        d, _, t = t.partition("-")
        days = float(int(d))
    parts = [float(p) for p in t.split(":")]
    if not all(np.isfinite(p) and p >= 0 for p in parts) or days < 0:
        raise ValueError(text)
    if len(parts) == 1:
        seconds = parts[0]
    elif len(parts) == 2:
        seconds = parts[0] * 60 + parts[1]
    elif len(parts) == 3:
        seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    else:
        raise ValueError(text)
    return days * 86400 + seconds


_UNITS = {"": 1024.0, "K": 1.0, "M": 1024.0, "G": 1024.0**2, "T": 1024.0**3, "P": 1024.0**4}
_MEM_RE = r"^([0-9]+(?:\.[0-9]*)?)\s*([KMGTPkmgtp]?)([nNcC]?)$"


def _memory_kb(raw: pd.Series, procs: np.ndarray, nodes: np.ndarray) -> np.ndarray:
    """ReqMem cells -> KB per processor; -1 when missing (see the module docstring).

    Returns the values, or raises ``ValueError(i, message)`` for the first bad cell."""
    text = raw.astype(str)
    missing = (text.str.lower().isin(_MISSING) | text.isin(["0", "0n", "0c"])).to_numpy()
    parts = text.str.extract(_MEM_RE)
    bad = parts[0].isna().to_numpy() & ~missing
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(i, f"{text.iloc[i]!r} is not a memory size (e.g. 4000M, 4Gn, 2Gc)")
    with np.errstate(over="ignore", invalid="ignore"):
        value = pd.to_numeric(parts[0], errors="coerce").to_numpy(dtype=np.float64)
        value = value * parts[1].fillna("").str.upper().map(_UNITS).to_numpy(dtype=np.float64)  # bare number: MB
        per = parts[2].fillna("").str.lower().to_numpy(dtype=object)
        p = np.maximum(procs, 1).astype(np.float64)
        kb = np.where(per == "c", value,  # per CPU
                      np.where(per == "n", value * np.maximum(nodes, 1) / p,  # per node
                               value / p))  # Slurm >= 21.08: the job's total (ReqTRES mem)
    huge = ~missing & (~np.isfinite(kb) | (kb > _MAX_MEM_KB))
    if huge.any():
        i = int(np.flatnonzero(huge)[0])
        raise ValueError(i, f"{text.iloc[i]!r} is larger than any machine's memory")
    return np.where(missing, -1.0, kb)


def _codes(values: pd.Series) -> np.ndarray:
    """Names -> 1..n in order of first appearance; missing -> -1."""
    text = values.astype(str)
    missing = text.str.lower().isin(_MISSING | {"nan"}).to_numpy()  # "nan": a frame's missing name as text
    codes, _ = pd.factorize(text.where(~missing))  # NaN (missing) -> -1, first appearance -> 0
    return np.where(codes >= 0, codes + 1, -1).astype(np.int64)


def _pick(frame: pd.DataFrame, key: str) -> str | None:
    lower = {c.lower().strip(): c for c in frame.columns}
    for alias in TABLE_ALIASES[key]:
        if alias in lower:
            return lower[alias]
    return None


def _line(frame: pd.DataFrame, i: int, header_lines: int) -> int:
    return int(frame.index[i]) + 1 + header_lines


def _times(frame: pd.DataFrame, col: str, source: str, header_lines: int) -> np.ndarray:
    """Timestamps -> epoch seconds (float); missing -> NaN; garbage -> InputError."""
    raw = frame[col].astype(str)
    missing = raw.str.lower().isin(_MISSING)
    parsed = pd.to_datetime(raw.where(~missing), errors="coerce", format="mixed")
    bad = np.flatnonzero(parsed.isna().to_numpy() & ~missing.to_numpy())
    if len(bad):
        r = int(bad[0])
        raise InputError(f"{raw.iloc[r]!r} is not a date and time", source=source, line=_line(frame, r, header_lines),
                         field=f"column {col}", hint="sacct prints YYYY-MM-DDTHH:MM:SS")
    secs = (parsed - pd.Timestamp("1970-01-01")).dt.total_seconds()
    return secs.to_numpy(dtype=np.float64)


def _numbers(frame: pd.DataFrame, col: str, source: str, header_lines: int, kind: str,
             limit_column: bool = False) -> np.ndarray:
    """A numeric column -> float64, -1 where unknown; refuses non-finite, negative, fractional
    counts and out-of-range values. ``kind``: count, seconds, minutes or duration ([DD-]HH:MM:SS).
    ``UNLIMITED`` (-1) only in a time-limit column (``limit_column``)."""
    raw = frame[col].astype(str)
    lower = raw.str.lower()
    missing = (lower.isin(_MISSING) | (lower.isin(_UNLIMITED) & limit_column)).to_numpy()

    def refuse(i: int, why: str) -> InputError:
        return InputError(f"{raw.iloc[i]!r} {why}", source=source, line=_line(frame, i, header_lines),
                          field=f"column {col}")

    if kind == "duration":
        values = np.full(len(raw), -1.0)
        for i, t in enumerate(raw.tolist()):
            if missing[i]:
                continue
            if t.lower() in _UNLIMITED:  # not a time-limit column
                raise refuse(i, "is not a duration ([DD-]HH:MM:SS or seconds)")
            try:
                values[i] = _duration_seconds(t)
            except (ValueError, OverflowError):
                raise refuse(i, "is not a duration ([DD-]HH:MM:SS or seconds)") from None
    else:
        values = pd.to_numeric(raw.where(~missing), errors="coerce").to_numpy(dtype=np.float64)
        bad = np.isnan(values) & ~missing
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise refuse(i, "is not a finite number" if lower.iloc[i] in _NOT_FINITE else "is not a number")
        values[missing] = -1.0
    checks = [(~np.isfinite(values), "is not a finite number"),
              ((values < 0) & (values != -1), "is negative (only -1, meaning unknown, may be)")]
    if kind == "count":
        checks += [(values != np.floor(values), "is not a whole number"),
                   (values > _MAX_COUNT, f"is larger than {_MAX_COUNT:,}")]
    else:
        limit = _MAX_SECONDS / 60 if kind == "minutes" else _MAX_SECONDS
        checks.append((values > limit, "is longer than 100 years"))
    for bad, why in checks:
        if bad.any():
            raise refuse(int(np.flatnonzero(bad)[0]), why)
    return values


def _check_job_ids(frame: pd.DataFrame, col: str, source: str, header_lines: int) -> None:
    """Refuses a job ID that is not one Slurm prints: JobIDRaw is digits; JobID (or a job
    table's ID column) as ``_JOB_ID_RE``; every number at most ``_MAX_JOB_ID``. The IDs are
    the jobs' identities (outputs, ``explain --job``): an empty, negative or text ID is refused."""
    raw = frame[col].astype(str)
    is_raw = col.lower().strip() == "jobidraw"
    parts = raw.str.extract(_RAW_ID_RE if is_raw else _JOB_ID_RE)

    def refuse(i: int, why: str, hint: str | None = None) -> InputError:
        return InputError(f"{raw.iloc[i]!r} {why}" if raw.iloc[i] else why.replace("is ", "the job ID is ", 1),
                          source=source, line=_line(frame, i, header_lines), field=f"column {col}", hint=hint)

    bad = np.flatnonzero(parts[0].isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        if not raw.iloc[i]:
            raise refuse(i, "is empty", hint="every job needs its Slurm job ID")
        if "." in raw.iloc[i]:
            raise refuse(i, "is a job step, not a job", hint="one row per job: export with sacct -X")
        what = "digits" if is_raw else "123, 123_4 (array task) or 123+0 (heterogeneous job component)"
        raise refuse(i, f"is not a Slurm job ID: expected {what}")
    too_big = np.zeros(len(raw), dtype=bool)
    for k in parts.columns:
        digits = parts[k].fillna("").str.lstrip("0")
        n_digits = digits.str.len()
        # compared as text (equal lengths compare as numbers): a 400-digit ID never becomes a float
        too_big |= ((n_digits > 10) | ((n_digits == 10) & (digits > str(_MAX_JOB_ID)))).to_numpy()
    if too_big.any():
        raise refuse(int(np.flatnonzero(too_big)[0]), f"is larger than Slurm's largest job ID ({_MAX_JOB_ID:,})")


def _state_names(frame: pd.DataFrame, col: str | None) -> np.ndarray:
    """``CANCELLED by 123``, ``CANCELLED+``, ``CA`` -> ``CANCELLED``; no column -> COMPLETED-like ''."""
    if col is None:
        return np.full(len(frame), "", dtype=object)
    first = frame[col].astype(str).str.upper().str.split().str[0].fillna("").str.rstrip("+")
    return first.map(lambda s: _SHORT.get(s, s)).to_numpy(dtype=object)


def _count_text(counter: Counter) -> str:
    return ", ".join(f"{k or 'no state'} {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def table_to_workload(frame: pd.DataFrame, source: str, *, header_lines: int = 1,
                      notes: list[str] | None = None) -> Workload:
    """Map a job table (one row per job, string cells) onto the SWF columns.

    Finished jobs make the job table; jobs not finished (pending, running, ...) are
    returned as ``Workload.queue``. See the module docstring for every rule.
    """
    notes = list(notes or [])
    # cells are compared as text from here on: strip each used column once
    frame = frame.apply(lambda c: c.astype(str).str.strip())
    cols = {key: _pick(frame, key) for key in TABLE_ALIASES}
    if cols["submit"] is None:
        raise InputError(
            f"has no submit-time column (looked for {', '.join(TABLE_ALIASES['submit'])})",
            source=source,
            hint="export with: sacct -P -X --format=JobID,JobIDRaw,User,Group,Account,Partition,QOS,Submit,Start,"
            "End,ElapsedRaw,AllocCPUS,ReqCPUS,TimelimitRaw,ReqMem,NNodes,State",
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
    raw_col = next((c for c in frame.columns if c.lower().strip() == "jobidraw"), None)
    for c in dict.fromkeys(c for c in (cols["job_id"], raw_col) if c is not None):
        _check_job_ids(frame, c, source, header_lines)
    n = len(frame)
    states = _state_names(frame, cols["state"])
    active = np.isin(states, list(_ACTIVE))
    skipped = np.isin(states, list(_SKIPPED))
    submit_abs = _times(frame, cols["submit"], source, header_lines)
    start = _times(frame, cols["start"], source, header_lines) if cols["start"] else np.full(n, np.nan)
    end = _times(frame, cols["end"], source, header_lines) if cols["end"] else np.full(n, np.nan)
    # sacct -D lists the earlier runs of a requeued job as REQUEUED records with an End:
    # runs that ended (and used the machine), not jobs waiting now
    requeued_runs = (states == "REQUEUED") & ~np.isnan(start) & ~np.isnan(end)
    active &= ~requeued_runs
    finished = ~active & ~skipped

    if np.isnan(submit_abs).any():
        r = int(np.flatnonzero(np.isnan(submit_abs))[0])
        raise InputError("submit time is missing", source=source, line=_line(frame, r, header_lines),
                         field=f"column {cols['submit']}")
    origin = float(np.min(submit_abs[~skipped])) if (~skipped).any() else 0.0
    data: dict[str, np.ndarray] = {name: np.full(n, -1, dtype=np.int64 if name in INT_COLUMNS else np.float64)
                                   for name in COLUMNS}
    data["submit"] = submit_abs - origin
    wait = start - submit_abs
    negative_wait = ~np.isnan(wait) & (wait < 0) & finished
    data["wait"] = np.where(np.isnan(wait) | (wait < 0), -1.0, wait)
    if negative_wait.any():
        notes.append(f"{int(negative_wait.sum())} jobs start before their submit time: wait set to -1 (unknown)")

    if cols["runtime"] is not None:
        name = cols["runtime"].lower()
        elapsed = _numbers(frame, cols["runtime"], source, header_lines,
                           "seconds" if name in ("elapsedraw", "run_time", "runtime") else "duration")
    else:
        elapsed = np.where(np.isnan(start) | np.isnan(end), -1.0, end - start)
        bad = np.flatnonzero(elapsed < -0.5)
        if len(bad):
            r = int(bad[0])
            raise InputError("the job ends before it starts", source=source, line=_line(frame, r, header_lines),
                             field=f"columns {cols['start']} and {cols['end']}")
    # no Start and nothing elapsed: it never ran (a table whose start column is empty but whose
    # runtimes are positive keeps those runtimes)
    never_started = (finished & np.isnan(start) & (elapsed <= 0)) if cols["start"] else np.zeros(n, dtype=bool)
    data["runtime"] = np.where(never_started, -1.0, elapsed)
    data["wait"] = np.where(never_started, -1.0, data["wait"])
    if never_started.any():
        by_state = Counter(states[never_started].tolist())
        notes.append(f"{int(never_started.sum())} jobs ended without starting ({_count_text(by_state)}): "
                     "no wait or runtime (-1)")
    # a finished job that ran has every one of these; one that is missing is counted, never silent
    ran = finished & ~never_started

    def count_unknown(mask: np.ndarray, what: str) -> None:
        if mask.any():
            notes.append(f"{int(mask.sum())} finished jobs {what}")

    if cols["start"]:
        count_unknown(ran & np.isnan(start), f"with a runtime but no {cols['start']}: wait unknown (-1)")
    if cols["end"]:
        count_unknown(finished & np.isnan(end), f"without {cols['end']} (empty or Unknown)" +
                      ("" if cols["runtime"] is not None else ": runtime unknown (-1)"))
    if cols["runtime"] is not None:
        count_unknown(ran & (elapsed < 0), f"without {cols['runtime']} (empty, Unknown or -1): runtime unknown (-1)")

    def counts(col: str) -> np.ndarray:
        # no processor or node on a job that ran is missing data, not 0: unknown (-1), counted
        values = _numbers(frame, col, source, header_lines, "count").astype(np.int64)
        unknown = ran & (values <= 0)
        count_unknown(unknown, f"without {col} (empty, Unknown, -1 or 0): unknown (-1)")
        return np.where(unknown, -1, values)

    if cols["alloc_procs"]:
        data["alloc_procs"] = counts(cols["alloc_procs"])
    if cols["req_procs"]:
        data["req_procs"] = counts(cols["req_procs"])
    if not cols["alloc_procs"]:
        data["alloc_procs"] = data["req_procs"].copy()
        notes.append("allocated processors taken from the requested processors (no allocation column)")
    if cols["req_time"]:
        name = cols["req_time"].lower()
        if name == "timelimitraw":
            minutes = _numbers(frame, cols["req_time"], source, header_lines, "minutes", limit_column=True)
            data["req_time"] = np.where(minutes > 0, minutes * 60.0, -1.0)
        elif name == "timelimit":
            data["req_time"] = _numbers(frame, cols["req_time"], source, header_lines, "duration", limit_column=True)
        else:
            data["req_time"] = _numbers(frame, cols["req_time"], source, header_lines, "seconds", limit_column=True)
    nodes_col = next((c for c in frame.columns if c.lower().strip() in _NODES_ALIASES), None)
    nodes = counts(nodes_col) if nodes_col else np.ones(n, np.int64)
    if cols["req_mem"]:
        procs = np.where(data["req_procs"] > 0, data["req_procs"], data["alloc_procs"])
        mem_col = cols["req_mem"]
        try:
            data["req_mem"] = _memory_kb(frame[mem_col], procs, nodes)
        except ValueError as exc:
            i, why = exc.args
            raise InputError(why, source=source, line=_line(frame, i, header_lines), field=f"column {mem_col}") from None
    if cols["state"]:
        data["status"] = np.array([_STATUS.get(s, -1) for s in states], dtype=np.int64)
        data["status"][requeued_runs] = 0  # the run ended without completing
        if requeued_runs.any():
            notes.append(f"{int(requeued_runs.sum())} REQUEUED records with a start and an end (earlier runs of "
                         "requeued jobs, sacct -D): kept as finished runs, status 0")
        unknown = finished & ~np.isin(states, list(_STATUS)) & ~requeued_runs
        if unknown.any():
            notes.append(f"{int(unknown.sum())} jobs with a state that is not a Slurm job state "
                         f"({_count_text(Counter(states[unknown].tolist()))}): kept as finished, status -1")
    group_key = "group" if cols["group"] else "account"
    for key, target in (("user", "user"), (group_key, "group"), ("partition", "partition"), ("queue", "queue")):
        if cols[key]:
            data[target] = _codes(frame[cols[key]])

    table = pd.DataFrame(data)
    id_col = cols["job_id"]
    for key, extra in (("job_id", "native_job_id"), ("user", "user_name"), ("group", "group_name"),
                       ("account", "account"), ("partition", "partition_name"), ("queue", "queue_name"),
                       ("job_name", "job_name")):
        if cols[key]:
            table[extra] = frame[cols[key]].astype(str).to_numpy()
    if raw_col is not None and raw_col != id_col:
        table["job_id_raw"] = frame[raw_col].astype(str).to_numpy()

    jobs = table[finished].reset_index(drop=True)
    jobs["job_id"] = np.arange(1, len(jobs) + 1, dtype=np.int64)
    queue = None
    if active.any():
        queue = table[active].reset_index(drop=True)
        queue["job_id"] = np.arange(len(jobs) + 1, len(jobs) + len(queue) + 1, dtype=np.int64)
        queue["state"] = states[active]
        queue["start"] = np.where(np.isnan(start[active]), -1.0, start[active] - origin)
        queue["elapsed"] = np.where(np.isnan(start[active]), -1.0, elapsed[active])
        queue["runtime"] = -1.0  # not known until the job ends
        queue["status"] = -1
        notes.append(f"{len(queue)} jobs had not finished when exported ({_count_text(Counter(queue['state']))}): "
                     "set aside as the current queue (Workload.queue), not in the job table")
    if skipped.any():
        notes.append(f"{int(skipped.sum())} REVOKED records skipped: federated siblings that ran on another cluster")
    header = {"UnixStartTime": str(int(origin))} if n else {}
    return Workload(jobs, header, source, read_notes=notes, queue=queue)


def _record_lines(text: str, sep: str, source: str) -> list[int]:
    """File line numbers of the records of a one-record-per-line table; a line with a field
    too few (the parser would pad it with empty fields) or too many is refused."""
    lines = text.split("\n")
    want = lines[0].count(sep)
    numbers = []
    for no, line in enumerate(lines[1:], start=2):
        if line in ("", "\r"):
            continue
        if line.count(sep) != want:
            raise InputError(f"has {line.count(sep) + 1} fields; the header has {want + 1}", source=source,
                             line=no, hint="the line is cut short or has a separator too many")
        numbers.append(no)
    return numbers


def _read_frame(text: str, sep: str, source: str, quoting: int = csv.QUOTE_MINIMAL) -> pd.DataFrame:
    """The table as strings, indexed so that row index + 2 is the file line of the row."""
    numbers = _record_lines(text, sep, source) if quoting == csv.QUOTE_NONE or '"' not in text else None
    try:
        frame = pd.read_csv(io.StringIO(text), sep=sep, dtype=str, keep_default_na=False, quoting=quoting)
    except pd.errors.ParserError as exc:
        raise InputError(f"cannot be read as a table ({' '.join(str(exc).split())})", source=source) from None
    except pd.errors.EmptyDataError:
        raise InputError("is empty", source=source, hint="export at least a header and one job") from None
    if frame.empty:
        raise InputError("contains no jobs", source=source, hint="export at least one job")
    if numbers is not None and len(numbers) == len(frame):
        frame.index = np.asarray(numbers, dtype=np.int64) - 2  # blank lines do not shift line numbers
    return frame


def read_sacct(path: str | Path) -> Workload:
    """Read ``sacct -P`` (pipe-separated, with header) output; job steps are skipped and counted."""
    text = read_text(path)
    frame = _read_frame(text, "|", str(path), quoting=csv.QUOTE_NONE)  # sacct never quotes
    notes = []
    id_col = next((c for c in frame.columns if c.lower().strip() in ("jobid", "jobidraw")), None)
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
