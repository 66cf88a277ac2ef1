"""``simulate``: one workload, one policy, one result."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hpcopt.data.workload import CleaningReport, Workload
from hpcopt.errors import ConfigError, InputError
from hpcopt.schedule.engine import run_generic
from hpcopt.schedule.jobs import Predictor, SimJobs, prepare_jobs
from hpcopt.schedule.metrics import bounded_slowdown, per_user, run_metrics
from hpcopt.schedule.policies import BACKFILLS, ORDERS, Backfill, Order, make_backfill, make_order

RESULT_SCHEMA = "hpcopt.simulation/1"
from hpcopt.core.progress import ProgressFn


@dataclass
class SimulationResult:
    """Per-job table, run metrics, per-user table, queue/utilization time series."""

    jobs: pd.DataFrame
    metrics: dict[str, Any]
    timeseries: pd.DataFrame
    cleaning: CleaningReport
    config: dict[str, Any] = field(default_factory=dict)

    def per_user(self) -> pd.DataFrame:
        """Per-user figures; with the user's real name (``user_name``) when the trace has names."""
        out = per_user(self.jobs)
        if "user_name" in self.jobs.columns:
            names = self.jobs.drop_duplicates("user").set_index("user")["user_name"]
            out.insert(1, "user_name", out["user"].map(names).to_numpy())
        return out

    def summary(self) -> dict[str, Any]:
        """The stable, versioned JSON object of ``hpcopt simulate --json``."""
        return {"schema": RESULT_SCHEMA, **self.config, **self.metrics, "cleaning": self.cleaning.to_dict()}

    def write_jobs(self, path: str | Path) -> Path:
        """Write the per-job table (CSV or Parquet by suffix) atomically."""
        import io

        from hpcopt.core.files import atomic_write_bytes

        p = Path(path)
        check_jobs_path(p)
        if p.suffix == ".parquet":
            buf = io.BytesIO()
            self.jobs.to_parquet(buf, index=False)
            atomic_write_bytes(p, buf.getvalue())
        else:
            atomic_write_bytes(p, self.jobs.to_csv(index=False).encode("utf-8"))
        return p


def check_jobs_path(path: str | Path) -> None:
    """A per-job table is written as .csv or .parquet."""
    if Path(path).suffix not in (".csv", ".parquet"):
        raise ConfigError(f"--jobs-out must end in .csv or .parquet; got {Path(path).name!r}")


def _versions() -> dict[str, str]:
    from hpcopt.core.provenance import version_record

    return version_record("numba")


def runs_compiled(order: str | Order, backfill: str | Backfill) -> bool:
    """Whether the compiled engine runs this pair (built-in classes, not subclasses)."""
    from hpcopt.schedule.fast import BACKFILL_CODES, ORDER_CODES

    o, b = make_order(order), make_backfill(backfill)
    return (
        o.name in ORDER_CODES and type(o) is ORDERS[o.name]
        and b.name in BACKFILL_CODES and type(b) is BACKFILLS[b.name]
    )


def run_jobs(
    jobs: SimJobs,
    order: str | Order = "fcfs",
    backfill: str | Backfill = "easy",
    engine: str = "auto",
    progress: ProgressFn | None = None,
    hooks=None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str]:
    """Start times and the (time, queue, busy) series; picks the compiled engine when it can."""
    order_obj, backfill_obj = make_order(order), make_backfill(backfill)
    if engine not in ("auto", "fast", "generic"):
        raise ConfigError(f"The 'engine' parameter must be 'auto', 'fast' or 'generic'; got {engine!r} instead.")
    use_fast = hooks is None and (engine == "fast" or (engine == "auto" and runs_compiled(order, backfill)))
    if use_fast and not runs_compiled(order, backfill):
        raise ConfigError("the compiled engine runs only the built-in orders and backfilling rules; use engine='generic'")
    if engine == "fast" and hooks is not None:
        raise ConfigError("online runtime estimates run in the generic engine; use engine='auto' or 'generic'")
    if len(jobs) == 0:
        raise InputError("no job is left to simulate after cleaning", hint="see the cleaning summary")
    if use_fast:
        from hpcopt.schedule.fast import BACKFILL_CODES, ORDER_CODES, simulate_kernel

        if progress:
            progress(0, len(jobs), "compiled engine")
        start, t, q, b = simulate_kernel(
            jobs.submit, jobs.duration, jobs.estimate, jobs.procs, jobs.procs_total,
            ORDER_CODES[order_obj.name], BACKFILL_CODES[backfill_obj.name],
        )
        if (start < 0).any():  # pragma: no cover - guarded by the reference-engine tests
            from hpcopt.schedule.engine import SimulationError

            raise SimulationError(f"{int((start < 0).sum())} jobs never started in the compiled engine")
        if progress:
            progress(len(jobs), len(jobs), "done")
        return start, t, q, b, "fast"
    series: list[tuple[float, int, int]] = []

    def record(now: float, queued: int, busy: int) -> None:
        if series and series[-1][0] == now:
            series.pop()
        series.append((now, queued, busy))

    start = run_generic(jobs, order_obj, backfill_obj, progress=progress, on_queue_change=record, hooks=hooks)
    arr = np.array(series, dtype=np.float64).reshape(-1, 3)
    return start, arr[:, 0], arr[:, 1].astype(np.int64), arr[:, 2].astype(np.int64), "generic"


def simulate(
    workload: Workload,
    order: str | Order = "fcfs",
    backfill: str | Backfill = "easy",
    runtime: str | Predictor = "requested",
    procs: int | None = None,
    kill_at_request: bool = False,
    engine: str = "auto",
    progress: ProgressFn | None = None,
    node_size: int | None = None,
    correction: bool = True,
    random_state: int | None = 0,
) -> SimulationResult:
    """Replay ``workload`` on a machine of ``procs`` processors under one policy.

    ``order``: fcfs, sjf, wfp3, unicep, f1 or an :class:`Order`; ``backfill``: none,
    easy, conservative or a :class:`Backfill`; ``runtime``: what reservations and SJF
    use -- ``requested`` (the user's request, raised to the runtime), ``actual`` (the
    oracle), a :class:`Predictor` (static estimates), or an online estimator
    (``"predicted:tsafrir"``, ``"predicted:gbm"`` or an
    :class:`~hpcopt.estimate.protocol.OnlineEstimator`), which learns only from jobs that
    completed earlier in the simulation; ``correction``: raise an overrunning job's
    estimate (to its interval's upper end, then doubling, never beyond the requested
    time); ``node_size``: allocate whole nodes of that many processors. Deterministic.
    """
    from hpcopt.schedule.online import OnlineEstimates, resolve_online

    estimator = resolve_online(runtime, random_state=random_state)
    hooks = None
    if estimator is not None:
        jobs = prepare_jobs(workload, procs=procs, runtime="requested", kill_at_request=kill_at_request,
                            node_size=node_size)
        hooks = OnlineEstimates(estimator, jobs, workload, correction=correction)
        jobs = hooks.jobs
    else:
        jobs = prepare_jobs(workload, procs=procs, runtime=runtime, kill_at_request=kill_at_request,
                            node_size=node_size)
    start, t, q, b, used = run_jobs(jobs, order, backfill, engine, progress, hooks=hooks)
    end = start + jobs.duration
    wait = start - jobs.submit
    table = pd.DataFrame(
        {
            "job_id": jobs.job_id,
            "user": jobs.user,
            "submit": jobs.submit,
            "start": start,
            "end": end,
            "wait": wait,
            "runtime": jobs.duration,
            "estimate": jobs.estimate,
            "procs": jobs.procs,
            "bsld": bounded_slowdown(wait, jobs.duration),
        }
    )
    # The scheduler's own names for jobs and users (Slurm's JobID, user and account names),
    # next to the SWF numbers, so per-job and per-user outputs name what the operator knows.
    ident = workload.identity_columns()
    if ident:
        base = list(table.columns)  # job_id, user, ...
        for col in ident:
            table[col] = workload.jobs[col].to_numpy()[jobs.row]
        ids = [c for c in ("native_job_id", "job_id_raw") if c in ident]
        table = table[base[:1] + ids + base[1:2] + [c for c in ident if c not in ids] + base[2:]]
    metrics = run_metrics(table, jobs.procs_total, q)
    config = {
        "trace": workload.source,
        "workload_sha256": workload.content_hash(),
        "mode": "default",
        "order": make_order(order).name,
        "backfill": make_backfill(backfill).name,
        "runtime": jobs.runtime_source if hooks is None else hooks.source,
        "kill_at_request": kill_at_request,
        "node_size": node_size,
        "procs": jobs.procs_total,
        "engine": used,
        "random_state": random_state if hooks is not None else None,
        "versions": _versions(),
    }
    if hooks is not None:
        config["correction"] = correction
        config["estimate_corrections"] = hooks.corrections
    series = pd.DataFrame({"time": t, "queue": q, "busy": b})
    return SimulationResult(table, metrics, series, jobs.cleaning, config)
