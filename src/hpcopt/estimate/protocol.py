"""The online estimation protocol shared by evaluation and simulation.

An :class:`OnlineEstimator` learns runtimes only from jobs that have completed: it is
told of each submission (and asked for an estimate then) and of each completion (and
told the runtime then), in time order. The same object serves

- the honest evaluation on a trace (:func:`hpcopt.estimate.replay.replay_trace`): events
  come from the trace's own schedule (end = submit + wait + runtime);
- the simulation (:mod:`hpcopt.schedule`): events come from the simulated schedule.

Leakage is ruled out by construction: ``start`` receives the job table with every
outcome column (runtime, wait, CPU time, used memory, status) blanked to -1, and a
runtime reaches the estimator only through ``on_complete``.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd

from hpcopt.data.workload import Workload

# Columns that are only known once a job has run: never shown at submit time.
OUTCOME_COLUMNS = ("wait", "runtime", "cpu_time", "used_mem", "status", "think_time")


def submit_view(workload: Workload) -> pd.DataFrame:
    """The job table as known at submit time: outcome columns set to -1."""
    jobs = workload.jobs.copy()
    for c in OUTCOME_COLUMNS:
        jobs[c] = -1
    for c in ("alloc_nodes",):  # Alea's allocated node list is an outcome too
        if c in jobs:
            jobs[c] = ""
    return jobs


@runtime_checkable
class OnlineEstimator(Protocol):
    """Learns runtimes from completed jobs; estimates at submit time."""

    def start(self, jobs: pd.DataFrame, header: dict[str, str]) -> None:
        """Reset, and see the submit-time job table (outcome columns are -1)."""

    def on_submit(self, row: int, now: float) -> tuple[float, float]:
        """Job ``row`` of the table is submitted at ``now``: (estimate, upper bound) in seconds.

        The upper bound is the end of the prediction interval (the estimate itself when the
        estimator has none); schedulers raise an overrunning job's estimate to it first.
        """

    def on_complete(self, row: int, now: float, runtime: float) -> None:
        """Job ``row`` completed at ``now`` after running ``runtime`` seconds."""


def requested_or(jobs: pd.DataFrame, fallback: float) -> np.ndarray:
    """The requested time where there is one, else ``fallback``."""
    req = jobs["req_time"].to_numpy(dtype=np.float64)
    return np.where(req > 0, req, fallback)
