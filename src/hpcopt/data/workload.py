"""The ``Workload`` table: one job per row, the 18 Standard Workload Format fields as
columns, shared by every capability (simulation, prediction, reports).

Columns are numpy arrays inside a pandas DataFrame, so handing them to numpy, pandas or
a model costs nothing. Unknown values are -1, as in SWF. Nothing is dropped when a trace
is read; cleaning for a purpose (e.g. simulation) is a separate, explicit step that
returns a :class:`CleaningReport` counting every dropped or repaired job by reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

# (column name, description) in SWF field order (field k is SWF_FIELDS[k-1]).
SWF_FIELDS: tuple[tuple[str, str], ...] = (
    ("job_id", "job number"),
    ("submit", "submit time"),
    ("wait", "wait time"),
    ("runtime", "run time"),
    ("alloc_procs", "allocated processors"),
    ("cpu_time", "average CPU time used"),
    ("used_mem", "used memory"),
    ("req_procs", "requested processors"),
    ("req_time", "requested time"),
    ("req_mem", "requested memory"),
    ("status", "status"),
    ("user", "user id"),
    ("group", "group id"),
    ("executable", "executable number"),
    ("queue", "queue number"),
    ("partition", "partition number"),
    ("prev_job", "preceding job number"),
    ("think_time", "think time from preceding job"),
)
COLUMNS: tuple[str, ...] = tuple(name for name, _ in SWF_FIELDS)
# Columns that hold identifiers or counts: stored as int64. The rest (times, memory) are
# float64 because SWF allows fractional values there.
INT_COLUMNS = frozenset(
    {"job_id", "alloc_procs", "req_procs", "status", "user", "group", "executable", "queue", "partition", "prev_job"}
)
# Text columns that name a job and its owner as the scheduler does (Slurm's JobID such
# as ``1234_5``, user and account names): carried into every per-job and per-user output.
IDENTITY_COLUMNS: tuple[str, ...] = ("native_job_id", "job_id_raw", "user_name", "group_name", "account",
                                     "partition_name", "queue_name")


def field_label(index: int) -> str:
    """``field 5 (allocated processors)`` for a 0-based column index."""
    return f"field {index + 1} ({SWF_FIELDS[index][1]})"


# What each field may hold. SWF: -1 means unknown; times are seconds; counts and ids are
# integers. Numbers stay below 2**53, so float64 holds every integer exactly and a cast to
# int64 cannot overflow; times stay within 100 years, far beyond any real job or trace.
# Readers of other formats can hold their job fields to the same rules.
MAX_SECONDS = 3_155_760_000  # 100 years of 365.25 days
MAX_INTEGER = 2**53  # exclusive


@dataclass(frozen=True)
class FieldRule:
    integer: bool  # counts and identifiers
    time: bool  # seconds, bounded by MAX_SECONDS (else bounded by MAX_INTEGER)
    negative_ok: bool = False  # any sign (else -1 or >= 0)


_TIME = FieldRule(integer=False, time=True)
_ID = FieldRule(integer=True, time=False)
FIELD_RULES: dict[str, FieldRule] = {
    "job_id": _ID,
    "submit": _TIME,
    "wait": _TIME,
    # Negative runtimes occur in real logs (wagap-2013 has two); the reader keeps them and
    # cleaning for simulation drops them, counted ("runtime unknown or negative").
    "runtime": FieldRule(integer=False, time=True, negative_ok=True),
    "alloc_procs": _ID,
    "cpu_time": _TIME,
    "used_mem": FieldRule(integer=False, time=False),  # KB, may be fractional
    "req_procs": _ID,
    "req_time": _TIME,
    "req_mem": FieldRule(integer=False, time=False),
    "status": _ID,  # 0 failed, 1 completed, 5 cancelled; other values for checkpoints
    "user": _ID,
    "group": _ID,
    "executable": _ID,
    "queue": _ID,
    "partition": _ID,
    "prev_job": _ID,
    "think_time": _TIME,
}


def field_problem(index: int, value: float, token: str) -> str | None:
    """Why ``value`` (read from ``token``) is not allowed in SWF field ``index`` (0-based), or None."""
    name, what = SWF_FIELDS[index]
    rule = FIELD_RULES[name]
    if not math.isfinite(value):
        return f"{token!r} is not a finite number"
    if value < 0 and value != -1 and not rule.negative_ok:
        return f"{token!r} is negative; {what} must be >= 0 or -1 (unknown)"
    if rule.integer and value != math.floor(value):
        return f"{token!r} is not an integer"
    if rule.time and abs(value) > MAX_SECONDS:
        return f"{token!r} is out of range; {what} must be at most {MAX_SECONDS} seconds (100 years)"
    if not rule.time and abs(value) >= MAX_INTEGER:
        return f"{token!r} is out of range; {what} must be below 2**53 ({MAX_INTEGER})"
    return None


def field_violations(index: int, values: np.ndarray) -> np.ndarray:
    """Boolean mask of the values that :func:`field_problem` refuses (vectorized)."""
    rule = FIELD_RULES[SWF_FIELDS[index][0]]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(values)
        if not rule.negative_ok:
            bad |= (values < 0) & (values != -1)
        if rule.integer:
            bad |= values != np.floor(values)
        bad |= np.abs(values) > MAX_SECONDS if rule.time else np.abs(values) >= MAX_INTEGER
    return bad


@dataclass
class CleaningReport:
    """What a cleaning step did: counts of dropped and repaired jobs, by reason."""

    jobs_in: int
    dropped: dict[str, int] = field(default_factory=dict)
    repaired: dict[str, int] = field(default_factory=dict)
    dropped_job_ids: dict[str, list[int]] = field(default_factory=dict)

    @property
    def jobs_out(self) -> int:
        return self.jobs_in - sum(self.dropped.values())

    def drop(self, reason: str, job_ids: np.ndarray) -> None:
        if len(job_ids):
            self.dropped[reason] = self.dropped.get(reason, 0) + int(len(job_ids))
            self.dropped_job_ids.setdefault(reason, []).extend(int(j) for j in job_ids[:1000])

    def repair(self, reason: str, count: int) -> None:
        if count:
            self.repaired[reason] = self.repaired.get(reason, 0) + int(count)

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs_in": self.jobs_in,
            "jobs_out": self.jobs_out,
            "dropped": dict(self.dropped),
            "repaired": dict(self.repaired),
        }

    def lines(self) -> list[str]:
        out = [f"{self.jobs_out} of {self.jobs_in} jobs kept"]
        out += [f"dropped {n}: {reason}" for reason, n in self.dropped.items()]
        out += [f"repaired {n}: {reason}" for reason, n in self.repaired.items()]
        return out


@dataclass
class Workload:
    """A job trace: the ``jobs`` table (SWF columns, plus optional extra columns such as
    ``queue_name``), the header (``MaxProcs`` and friends) and where it came from."""

    jobs: pd.DataFrame
    header: dict[str, str] = field(default_factory=dict)
    source: str = "<memory>"
    # Repairs made while reading (e.g. absolute submit times shifted); never drops.
    read_notes: list[str] = field(default_factory=list)
    # Jobs that had not finished when the trace was exported (Slurm PENDING, RUNNING,
    # SUSPENDED, ...): the current queue. Same columns as ``jobs`` (runtime -1) plus
    # ``state`` and ``elapsed`` (seconds run so far, -1 if not started); None when the
    # format has no such jobs (SWF holds finished jobs only).
    queue: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        missing = [c for c in COLUMNS if c not in self.jobs.columns]
        if missing:
            raise ValueError(f"Workload.jobs lacks columns {missing}")

    def __len__(self) -> int:
        return len(self.jobs)

    def content_hash(self) -> str:
        """A SHA-256 of the job table (SWF columns) and header: records what a result was computed on."""
        import hashlib

        h = hashlib.sha256()
        for name in COLUMNS:
            h.update(np.ascontiguousarray(self.jobs[name].to_numpy()).tobytes())
        for k in sorted(self.header):
            h.update(f"{k}={self.header[k]}".encode())
        return h.hexdigest()

    def column(self, name: str) -> np.ndarray:
        return self.jobs[name].to_numpy()

    def identity_columns(self) -> list[str]:
        """The text identity columns this trace has (real job id, user, account, ...)."""
        return [c for c in IDENTITY_COLUMNS if c in self.jobs.columns]

    def job_labels(self) -> np.ndarray:
        """The job id a user knows, per row: the scheduler's own (``native_job_id``, e.g.
        Slurm's ``1234_5``) when the trace has it, else SWF field 1."""
        if "native_job_id" in self.jobs.columns:
            return self.jobs["native_job_id"].astype(str).to_numpy()
        return self.jobs["job_id"].astype(str).to_numpy()

    def find_job(self, ident: str | int) -> int | None:
        """The row of the job a user names: its real id (``native_job_id`` or
        ``job_id_raw``) when the trace has one, else its SWF job number; None if absent.
        When an id repeats (``sacct -D`` lists each run of a requeued job) the last record wins."""
        text = str(ident).strip()
        for col in ("native_job_id", "job_id_raw"):
            if col in self.jobs.columns:
                hits = np.flatnonzero(self.jobs[col].astype(str).to_numpy() == text)
                if len(hits):
                    return int(hits[-1])
        if "native_job_id" in self.jobs.columns:
            return None
        try:
            number = int(text)
        except ValueError:
            return None
        hits = np.flatnonzero(self.jobs["job_id"].to_numpy() == number)
        return int(hits[0]) if len(hits) else None

    def _header_int(self, key: str) -> int | None:
        for k, v in self.header.items():
            if k.lower() == key.lower():
                try:
                    value = float(v.split()[0])
                except (ValueError, IndexError):
                    return None
                # The SWF reader refuses non-finite and huge header values; a workload built
                # in memory may still carry one.
                return int(value) if 0 < value < MAX_INTEGER else None
        return None

    @property
    def max_procs(self) -> int | None:
        return self._header_int("MaxProcs")

    @property
    def max_nodes(self) -> int | None:
        return self._header_int("MaxNodes")

    @property
    def unix_start_time(self) -> int | None:
        return self._header_int("UnixStartTime")

    def machine_procs(self) -> int:
        """P for simulation: MaxProcs, else MaxNodes, else the largest job."""
        for value in (self.max_procs, self.max_nodes):
            if value:
                return value
        procs = np.where(self.column("req_procs") > 0, self.column("req_procs"), self.column("alloc_procs"))
        return int(procs.max()) if len(procs) else 0

    def fields_present(self) -> dict[str, bool]:
        """Which SWF fields carry information (some value other than -1)."""
        return {name: bool(len(self.jobs) and (self.jobs[name].to_numpy() != -1).any()) for name in COLUMNS}

    def summary(self) -> dict[str, Any]:
        """Jobs, span, processors, offered load and fields present (``hpcopt trace info``)."""
        n = len(self.jobs)
        submit = self.column("submit")
        runtime = self.column("runtime")
        alloc = self.column("alloc_procs")
        req = self.column("req_procs")
        procs = np.where(alloc > 0, alloc, req)
        P = self.machine_procs()
        span = float(submit.max() - submit.min()) if n else 0.0
        valid = (runtime >= 0) & (procs > 0)
        work = float((runtime[valid] * procs[valid]).sum())
        present = self.fields_present()
        req_time = self.column("req_time")
        return {
            "source": self.source,
            "jobs": n,
            "first_submit": float(submit.min()) if n else None,
            "last_submit": float(submit.max()) if n else None,
            "span_s": span,
            "span_days": span / 86400.0,
            "procs": P,
            "procs_source": "MaxProcs" if self.max_procs else ("MaxNodes" if self.max_nodes else "largest job"),
            "max_nodes": self.max_nodes,
            "unix_start_time": self.unix_start_time,
            "largest_job_procs": int(procs.max()) if n else 0,
            "offered_load": work / (span * P) if span > 0 and P > 0 else None,
            "users": int(len(np.unique(self.column("user")[self.column("user") >= 0]))) if present["user"] else 0,
            "has_users": present["user"],
            "has_requested_time": bool(n and (req_time > 0).any()),
            "requested_time_share": float((req_time > 0).mean()) if n else 0.0,
            "has_wait_times": present["wait"],
            "fields_present": [name for name, ok in present.items() if ok],
            "fields_absent": [name for name, ok in present.items() if not ok],
            "extra_columns": [c for c in self.jobs.columns if c not in COLUMNS],
            "read_notes": list(self.read_notes),
        }

    @classmethod
    def from_arrays(cls, source: str = "<memory>", header: dict[str, str] | None = None, **columns: Any) -> "Workload":
        """Build a workload from some columns; the others are -1 (unknown).

        ``submit`` and ``runtime`` are required; ``job_id`` defaults to 1..n.
        """
        if "submit" not in columns or "runtime" not in columns:
            raise ValueError("Workload.from_arrays needs at least 'submit' and 'runtime'")
        n = len(columns["submit"])
        data = {}
        for name in COLUMNS:
            dtype = np.int64 if name in INT_COLUMNS else np.float64
            if name in columns:
                arr = np.asarray(columns[name], dtype=dtype)
                if arr.shape != (n,):
                    raise ValueError(f"column {name!r} has {arr.shape} values; expected ({n},)")
            elif name == "job_id":
                arr = np.arange(1, n + 1, dtype=np.int64)
            else:
                arr = np.full(n, -1, dtype=dtype)
            data[name] = arr
        extra = {k: v for k, v in columns.items() if k not in data}
        frame = pd.DataFrame(data)
        for k, v in extra.items():
            frame[k] = v
        return cls(frame, dict(header or {}), source)
