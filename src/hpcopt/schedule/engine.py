"""The event core: jobs arrive at their submit time, a policy decides who starts.

At each instant: all completions first, then all arrivals (in file order), then one
scheduling pass. A job that starts with zero runtime completes at that same instant, as
a new round (completions, arrivals, pass). Mechanism only: what to start is the policy's
business (:mod:`hpcopt.schedule.policies`).

This engine consults plain Python policy objects, so any order or backfilling rule
works here; :mod:`hpcopt.schedule.fast` runs the built-in ones compiled, with the same
results.
"""

from __future__ import annotations

import heapq
import math
from typing import Callable

import numpy as np

from hpcopt.errors import HpcoptError
from hpcopt.schedule.jobs import SimJobs
from hpcopt.schedule.policies import MIN_RESERVATION, Backfill, ClusterView, Order

from hpcopt.core.progress import ProgressFn


class EngineHooks:
    """Callbacks of the generic engine; the default ones do nothing."""

    def on_arrival(self, j: int, now: float) -> None:
        """Job j was submitted (before the pass at ``now``)."""

    def on_completion(self, j: int, now: float) -> None:
        """Job j completed at ``now``."""

    def before_pass(self, now: float, running: dict[int, float]) -> None:
        """Called before each scheduling pass with the running jobs and their starts."""


class SimulationError(HpcoptError, RuntimeError):
    """The simulation reached a state it cannot leave (a policy bug, usually)."""


def run_generic(
    jobs: SimJobs,
    order: Order,
    backfill: Backfill,
    progress: ProgressFn | None = None,
    on_queue_change: Callable[[float, int, int], None] | None = None,
    hooks: "EngineHooks | None" = None,
) -> np.ndarray:
    """Simulate; returns each job's start time (in ``jobs`` order).

    ``hooks`` lets an online estimator see arrivals and completions as they happen in
    the simulation, and revise running jobs' estimates before each pass.
    """
    n = len(jobs)
    P = jobs.procs_total
    submit, duration, procs, est = jobs.submit, jobs.duration, jobs.procs, jobs.estimate
    start = np.full(n, -1.0)
    backfill.reset()
    completions: list[tuple[float, int]] = []
    queue: list[int] = []
    running: dict[int, float] = {}
    free = P
    i = 0
    done = 0
    tick = max(n // 100, 1)
    early = False
    wakeup = math.inf
    while i < n or completions or queue:
        t_arrival = submit[i] if i < n else math.inf
        t_done = completions[0][0] if completions else math.inf
        now = min(t_arrival, t_done, wakeup)
        if now == math.inf:
            raise SimulationError(f"{len(queue)} queued jobs never start (policy {backfill.name} made no progress)")
        first_round = True
        while first_round or (completions and completions[0][0] == now):
            while completions and completions[0][0] == now:
                _, j = heapq.heappop(completions)
                if hooks is not None:
                    hooks.on_completion(j, now)
                free += int(procs[j])
                if now < running.pop(j) + max(est[j], MIN_RESERVATION):
                    early = True
                done += 1
            if first_round:
                while i < n and submit[i] == now:
                    queue.append(i)
                    if hooks is not None:
                        hooks.on_arrival(i, now)
                    i += 1
            first_round = False
            if queue:
                if hooks is not None:
                    hooks.before_pass(now, running)
                ordered = order.sort(queue, now, jobs)
                view = ClusterView(now, free, jobs, running, early)
                chosen = backfill.select(ordered, view)
                early = False
                if chosen:
                    chosen_set = set(chosen)
                    for j in chosen:
                        if j in running or start[j] >= 0 or j not in queue:
                            raise SimulationError(f"policy {backfill.name} started job {j} twice or out of the queue")
                        p = int(procs[j])
                        if p > free:
                            raise SimulationError(
                                f"policy {backfill.name} started job {jobs.job_id[j]} needing {p} processors with {free} free"
                            )
                        free -= p
                        start[j] = now
                        running[j] = now
                        heapq.heappush(completions, (now + duration[j], j))
                    queue = [j for j in queue if j not in chosen_set]
            if on_queue_change is not None:
                on_queue_change(now, len(queue), P - free)
        wakeup = backfill.next_wakeup(now) if queue else math.inf
        if progress is not None and done // tick != (done - 1) // tick:
            progress(done, n, "")
    if queue:  # pragma: no cover - every job fits an empty machine
        raise SimulationError(f"{len(queue)} jobs never started")
    if progress is not None:
        progress(n, n, "done")
    return start
