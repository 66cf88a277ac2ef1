"""Per-job, per-run and per-user metrics of a simulated schedule."""

from __future__ import annotations

import numpy as np
import pandas as pd

BSLD_BOUND = 10.0  # seconds: the usual bound of bounded slowdown (Feitelson et al. 1997)


def bounded_slowdown(wait: np.ndarray, runtime: np.ndarray, bound: float = BSLD_BOUND) -> np.ndarray:
    """max((wait + runtime) / max(runtime, bound), 1)."""
    return np.maximum((wait + runtime) / np.maximum(runtime, bound), 1.0)


def run_metrics(table: pd.DataFrame, procs_total: int, queue_lengths: np.ndarray | None = None) -> dict:
    """Mean/median/p95 wait, mean bounded slowdown, utilization, makespan, max queue."""
    n = len(table)
    if n == 0:
        return {"jobs": 0}
    wait = table["wait"].to_numpy()
    run = table["runtime"].to_numpy()
    first = float(table["submit"].min())
    last_end = float(table["end"].max())
    makespan = last_end - first
    work = float((run * table["procs"].to_numpy()).sum())
    return {
        "jobs": n,
        "avg_wait": float(wait.mean()),
        "median_wait": float(np.median(wait)),
        "p95_wait": float(np.percentile(wait, 95)),
        "max_wait": float(wait.max()),
        "avg_bsld": float(table["bsld"].mean()),
        "median_bsld": float(table["bsld"].median()),
        "max_bsld": float(table["bsld"].max()),
        "utilization": work / (procs_total * makespan) if makespan > 0 else None,
        "makespan": makespan,
        "max_queue": int(queue_lengths.max()) if queue_lengths is not None and len(queue_lengths) else None,
    }


def per_user(table: pd.DataFrame) -> pd.DataFrame:
    """Jobs, mean wait, mean bounded slowdown and processor-seconds per user id."""
    t = table.assign(work=table["runtime"] * table["procs"])
    out = t.groupby("user").agg(
        jobs=("job_id", "size"),
        avg_wait=("wait", "mean"),
        avg_bsld=("bsld", "mean"),
        max_wait=("wait", "max"),
        work=("work", "sum"),
    )
    return out.reset_index().sort_values("work", ascending=False, kind="stable")


def wait_cdf(wait: np.ndarray) -> dict:
    """The empirical CDF of wait times: each distinct wait (s, ascending) and the share of jobs waiting at most that."""
    w = np.asarray(wait, dtype=float)
    if w.size == 0:
        return {"wait_s": [], "share": []}
    values, counts = np.unique(w, return_counts=True)
    return {"wait_s": values.tolist(), "share": (np.cumsum(counts) / w.size).tolist()}


def queue_over_time(submit: np.ndarray, start: np.ndarray) -> dict:
    """Jobs waiting (submitted, not started) after all the submits and starts at each event time."""
    sub, st = np.asarray(submit, dtype=float), np.asarray(start, dtype=float)
    times = np.concatenate([sub, st])
    steps = np.concatenate([np.ones(sub.size, dtype=np.int64), -np.ones(st.size, dtype=np.int64)])
    if times.size == 0:
        return {"time": [], "queue": []}
    uniq, inv = np.unique(times, return_inverse=True)
    return {"time": uniq.tolist(), "queue": np.cumsum(np.bincount(inv, weights=steps).astype(np.int64)).tolist()}
