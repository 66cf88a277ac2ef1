"""Several policies on one workload, side by side."""

from __future__ import annotations

from typing import Callable

import pandas as pd

from hpcopt.data.workload import Workload
from hpcopt.schedule.jobs import Predictor
from hpcopt.schedule.policies import parse_policy
from hpcopt.schedule.simulate import SimulationResult, simulate

DEFAULT_POLICIES = ("fcfs", "fcfs+easy", "fcfs+conservative", "sjf+easy", "wfp3+easy", "unicep+easy", "f1+easy")
TABLE_COLUMNS = ("avg_wait", "median_wait", "p95_wait", "avg_bsld", "utilization", "makespan", "max_queue")


def compare_policies(
    workload: Workload,
    policies: list[str] | tuple[str, ...] = DEFAULT_POLICIES,
    runtime: str | Predictor = "requested",
    procs: int | None = None,
    kill_at_request: bool = False,
    progress: Callable[[int, int, str], None] | None = None,
) -> tuple[pd.DataFrame, dict[str, SimulationResult]]:
    """Simulate each ``ORDER`` or ``ORDER+BACKFILL`` policy; returns (table, results)."""
    parsed = [(p, *parse_policy(p)) for p in policies]  # validate all before running any
    results: dict[str, SimulationResult] = {}
    for k, (name, order, backfill) in enumerate(parsed):
        if progress:
            progress(k, len(parsed), name)
        results[name] = simulate(workload, order, backfill, runtime=runtime, procs=procs, kill_at_request=kill_at_request)
    if progress:
        progress(len(parsed), len(parsed), "done")
    rows = [{"policy": name, **{c: r.metrics.get(c) for c in TABLE_COLUMNS}} for name, r in results.items()]
    return pd.DataFrame(rows), results
