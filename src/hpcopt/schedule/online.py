"""Online runtime estimates inside a simulation.

The estimator sees a job when it is submitted in the simulation and learns its runtime
only when it completes there (so it never uses a job that finished after the current
simulated time). Estimates are capped at the requested time. When a running job outlives
its estimate, the estimate is corrected: first to the upper end of its prediction
interval, then doubled, never beyond the requested time (jobs are killed only at their
requested time, and only with ``kill_at_request``).
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from hpcopt.data.workload import Workload
from hpcopt.estimate.protocol import OnlineEstimator, submit_view
from hpcopt.schedule.engine import EngineHooks
from hpcopt.schedule.jobs import SimJobs

def resolve_online(runtime, random_state: int | None = 0) -> OnlineEstimator | None:
    """``predicted:NAME`` or an OnlineEstimator -> the estimator; None for other sources.

    The name lookup is estimate's (``hpcopt.estimate.registry``): the simulator only
    drives the protocol's object.
    """
    if isinstance(runtime, str):
        if not runtime.startswith("predicted:"):
            return None
        from hpcopt.estimate.registry import make_online

        return make_online(runtime.split(":", 1)[1], random_state=random_state)
    if hasattr(runtime, "on_submit") and hasattr(runtime, "on_complete") and hasattr(runtime, "start"):
        return runtime
    return None


def corrected_estimate(est: float, upper: float, cap: float, elapsed: float) -> float:
    """The first of est, upper, then doublings (capped at ``cap``) that exceeds ``elapsed``."""
    c = est
    if c <= elapsed:
        c = max(c, upper)
    while c <= elapsed and c < cap:
        c = min(2.0 * c if c > 0 else 60.0, cap)
    return c


class OnlineEstimates(EngineHooks):
    def __init__(self, estimator: OnlineEstimator, jobs: SimJobs, workload: Workload, correction: bool = True):
        self.estimator = estimator
        self.correction = correction
        self.corrections = 0
        req = workload.column("req_time").astype(np.float64)[jobs.row]
        self.cap = np.where(req > 0, req, math.inf)
        self.upper = np.zeros(len(jobs))
        self.jobs = dataclasses.replace(jobs, estimate=jobs.estimate.copy())
        self.source = f"predicted:{getattr(estimator, 'name', type(estimator).__name__)}"
        estimator.start(submit_view(workload), dict(workload.header))

    def on_arrival(self, j: int, now: float) -> None:
        e, u = self.estimator.on_submit(int(self.jobs.row[j]), now)
        cap = self.cap[j]
        e = min(max(float(e), 0.0), cap)
        self.jobs.estimate[j] = e
        self.upper[j] = min(max(float(u), e), cap)

    def on_completion(self, j: int, now: float) -> None:
        self.estimator.on_complete(int(self.jobs.row[j]), now, float(self.jobs.duration[j]))

    def before_pass(self, now: float, running: dict[int, float]) -> None:
        if not self.correction:
            return
        est = self.jobs.estimate
        for r, s in running.items():
            if s + est[r] <= now:
                new = corrected_estimate(est[r], self.upper[r], self.cap[r], now - s)
                if new != est[r]:
                    est[r] = new
                    self.corrections += 1
