"""The honest online evaluation on a trace: replay its submissions and completions in
time order through an :class:`OnlineEstimator`.

A job's completion time is the trace's own: submit + wait + runtime (submit + runtime
when the trace has no wait times, e.g. models or NASA's log). At equal times, submissions
come before completions, so an estimate for a job submitted at t uses only jobs that
completed strictly before t.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import pandas as pd

from hpcopt.data.workload import Workload
from hpcopt.errors import InputError
from hpcopt.estimate.protocol import OnlineEstimator, submit_view


@dataclass
class Replay:
    """Estimates for the evaluated jobs (rows of the workload's table)."""

    rows: np.ndarray
    submit: np.ndarray
    actual: np.ndarray
    estimate: np.ndarray
    upper: np.ndarray
    seen_before: np.ndarray  # completed jobs known when each estimate was made
    user_history: np.ndarray  # completed jobs of the same user known then


def evaluable_rows(workload: Workload) -> np.ndarray:
    """Jobs with a known submit time and a runtime >= 0."""
    submit = workload.column("submit")
    run = workload.column("runtime")
    return np.flatnonzero((submit >= 0) & (run >= 0))


def replay_trace(
    workload: Workload,
    estimator: OnlineEstimator,
    progress: Callable[[int, int, str], None] | None = None,
) -> Replay:
    rows = evaluable_rows(workload)
    if len(rows) == 0:
        raise InputError("no job has both a submit time and a runtime", source=workload.source)
    submit = workload.column("submit").astype(np.float64)[rows]
    run = workload.column("runtime").astype(np.float64)[rows]
    wait = workload.column("wait").astype(np.float64)[rows]
    end = submit + np.where(wait >= 0, wait, 0.0) + run
    user = workload.column("user")[rows]
    estimator.start(submit_view(workload), dict(workload.header))
    n = len(rows)
    # events: (time, kind, k) with kind 0 = submit before kind 1 = complete
    times = np.concatenate([submit, end])
    kinds = np.concatenate([np.zeros(n, np.int8), np.ones(n, np.int8)])
    idx = np.concatenate([np.arange(n), np.arange(n)])
    order = np.lexsort((idx, kinds, times))
    est = np.empty(n)
    upper = np.empty(n)
    seen = np.empty(n, dtype=np.int64)
    user_seen = np.empty(n, dtype=np.int64)
    per_user: dict[int, int] = {}
    completed = 0
    tick = max(n // 100, 1)
    for e in order:
        k = idx[e]
        if kinds[e] == 0:
            est[k], upper[k] = estimator.on_submit(int(rows[k]), float(submit[k]))
            seen[k] = completed
            user_seen[k] = per_user.get(int(user[k]), 0)
            if progress is not None and k % tick == 0:
                progress(int(k), n, "")
        else:
            estimator.on_complete(int(rows[k]), float(end[k]), float(run[k]))
            completed += 1
            per_user[int(user[k])] = per_user.get(int(user[k]), 0) + 1
    if progress is not None:
        progress(n, n, "done")
    return Replay(rows, submit, run, est, upper, seen, user_seen)
