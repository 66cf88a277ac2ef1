"""Preparing a workload for simulation: the default semantics, with every dropped or
repaired job counted by reason.

- P = the header's MaxProcs, else MaxNodes, else the largest job (``procs`` overrides);
- processors = requested processors (field 8) when > 0, else allocated (field 5);
- kept: submit time known, runtime >= 0, 1 <= processors <= P;
- estimate = max(requested time, runtime), or the runtime when the request is missing;
  with ``kill_at_request`` a job runs min(runtime, request) and the estimate is the request;
- jobs are simulated in order of submit time, then file order.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from hpcopt.data.workload import CleaningReport, Workload
from hpcopt.errors import ConfigError, InputError


@runtime_checkable
class Predictor(Protocol):
    """Anything that estimates runtimes from what is known at submit time.

    ``predict`` gets the workload's job table (rows of the simulated jobs, SWF columns)
    and returns one runtime estimate in seconds per row.
    """

    def predict(self, jobs: pd.DataFrame) -> np.ndarray: ...


RUNTIME_SOURCES = ("requested", "actual")


@dataclass(frozen=True)
class SimJobs:
    """Columns of the jobs to simulate, in simulation order (submit time, file order)."""

    job_id: np.ndarray  # int64, from the trace
    row: np.ndarray  # int64, row in the workload's job table
    submit: np.ndarray  # float64
    duration: np.ndarray  # float64, how long the job really runs here
    estimate: np.ndarray  # float64, what the scheduler believes (reservations, SJF)
    procs: np.ndarray  # int64
    user: np.ndarray  # int64
    runtime: np.ndarray  # float64, the trace's runtime (for slowdown)
    procs_total: int
    cleaning: CleaningReport
    runtime_source: str
    kill_at_request: bool

    def __len__(self) -> int:
        return len(self.submit)


def prepare_jobs(
    workload: Workload,
    procs: int | None = None,
    runtime: str | Predictor = "requested",
    kill_at_request: bool = False,
    node_size: int | None = None,
) -> SimJobs:
    """Apply the default semantics; see the module docstring.

    ``node_size``: whole-node allocation on nodes of that many processors; a job then
    holds ceil(processors / node_size) whole nodes, and P is rounded down to whole nodes.
    """
    if procs is not None and procs < 1:
        raise ConfigError(f"The 'procs' parameter must be a positive integer; got {procs!r} instead.")
    if node_size is not None and node_size < 1:
        raise ConfigError(f"The 'node_size' parameter must be a positive integer; got {node_size!r} instead.")
    P = int(procs) if procs is not None else workload.machine_procs()
    if node_size is not None:
        P = (P // node_size) * node_size
        if P < 1:
            raise ConfigError(f"a machine of {procs or workload.machine_procs()} processors has no whole node of {node_size}")
    if P < 1:
        raise InputError("cannot tell the machine size (no MaxProcs/MaxNodes header and no jobs)",
                         source=workload.source, hint="pass --procs")
    n = len(workload)
    report = CleaningReport(jobs_in=n)
    job_id = workload.column("job_id")
    submit = workload.column("submit").astype(np.float64)
    run = workload.column("runtime").astype(np.float64)
    req_procs = workload.column("req_procs")
    alloc = workload.column("alloc_procs")
    nprocs = np.where(req_procs > 0, req_procs, alloc).astype(np.int64)
    req = workload.column("req_time").astype(np.float64)

    keep = np.ones(n, dtype=bool)
    for reason, bad in (
        ("submit time unknown (-1)", submit < 0),
        ("runtime unknown or negative", run < 0),
        ("no processor count (fields 5 and 8 < 1)", nprocs < 1),
        (f"more processors than the machine ({P})", nprocs > P),
    ):
        hit = bad & keep
        report.drop(reason, job_id[hit])
        keep &= ~bad

    if node_size is not None and node_size > 1:
        whole = np.ceil(np.maximum(nprocs, 1) / node_size).astype(np.int64) * node_size
        report.repair(f"processors rounded up to whole nodes of {node_size}", int(((whole != nprocs) & keep).sum()))
        nprocs = np.where(keep, whole, nprocs)
        over = keep & (nprocs > P)
        report.drop(f"more whole nodes than the machine ({P // node_size})", job_id[over])
        keep &= ~over

    has_req = req > 0
    k = keep
    report.repair("requested time missing: estimate = runtime", int((~has_req & k).sum()))
    if kill_at_request:
        duration = np.where(has_req, np.minimum(run, req), run)
        estimate = np.where(has_req, req, run)
        report.repair("killed at the requested time", int((has_req & (run > req) & k).sum()))
    else:
        duration = run.copy()
        estimate = np.where(has_req, np.maximum(req, run), run)
        report.repair("runtime exceeds the request: estimate raised to the runtime", int((has_req & (run > req) & k).sum()))
    report.repair("processors from field 5 (field 8 missing)", int(((req_procs <= 0) & (alloc > 0) & k).sum()))

    if isinstance(runtime, str):
        if runtime == "actual":
            estimate = duration.copy()
        elif runtime != "requested":
            raise ConfigError(
                f"The 'runtime' parameter must be one of {RUNTIME_SOURCES} or a Predictor; got {runtime!r} instead."
            )
        source = runtime
    elif isinstance(runtime, Predictor):
        rows = np.flatnonzero(keep)
        pred = np.asarray(runtime.predict(workload.jobs.iloc[rows]), dtype=np.float64)
        if pred.shape != (len(rows),):
            raise ConfigError(f"the predictor returned {pred.shape} values for {len(rows)} jobs")
        if not np.isfinite(pred).all() or (pred < 0).any():
            raise ConfigError("the predictor returned negative or non-finite runtimes")
        estimate = estimate.copy()
        estimate[rows] = pred
        source = f"predicted:{type(runtime).__name__}"
    else:
        raise ConfigError(f"The 'runtime' parameter must be 'requested', 'actual' or a Predictor; got {runtime!r}.")

    rows = np.flatnonzero(keep)
    order = rows[np.argsort(submit[rows], kind="stable")]
    return SimJobs(
        job_id=job_id[order].astype(np.int64),
        row=order.astype(np.int64),
        submit=submit[order],
        duration=duration[order],
        estimate=estimate[order],
        procs=nprocs[order],
        user=workload.column("user")[order].astype(np.int64),
        runtime=run[order],
        procs_total=P,
        cleaning=report,
        runtime_source=source,
        kill_at_request=kill_at_request,
    )
