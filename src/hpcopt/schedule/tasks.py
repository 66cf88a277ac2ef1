"""Scheduling use cases as tasks: ``schedule.simulate``, ``schedule.compare``, ``trace.info``.

Each takes file paths and plain options, reads the trace, runs the work, writes its own
outputs (per-job table, HTML report) after checking them before any work, and returns the
payload every face renders. ``trace.info`` lives here, not in :mod:`hpcopt.data`, because
its cleaning summary is the simulation's (:func:`hpcopt.schedule.jobs.prepare_jobs`).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hpcopt.core.progress import ProgressFn
from hpcopt.core.results import Result
from hpcopt.core.tasks import task
from hpcopt.errors import ConfigError
from hpcopt.schedule.compare import DEFAULT_POLICIES

__all__ = ["simulate_trace", "compare_trace", "trace_info"]

TRACE_FORMATS = ("auto", "swf", "sacct", "csv")
MODES = ("default", "rlscheduler")
BACKFILL_ORDERS = ("queue", "sjbf")


def _check_choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"--{name.replace('_', '-')} must be {', '.join(choices[:-1])} or {choices[-1]}; "
                          f"got {value!r}")


def _runtime_source(runtime: str, runtime_model: str | Path | None):
    """What reservations use: the ``runtime`` name, or a trained model's frozen predictions."""
    if runtime_model is None:
        return runtime
    if runtime not in ("requested", "predicted:model"):
        raise ConfigError(f"runtime={runtime!r} and a runtime model were both given; a runtime model replaces "
                          "the runtime source (leave runtime at its default or say predicted:model)")
    from hpcopt.estimate.registry import load_predictor  # the model lookup is estimate's

    return load_predictor(runtime_model)


@task("schedule.simulate", schema="hpcopt.simulation", version=1, inputs=("trace", "runtime_model"),
      outputs=("jobs_out",),
      libraries=("numba",))
def simulate_trace(
    trace: str | Path,
    order: str = "fcfs",
    backfill: str = "easy",
    runtime: str = "requested",
    backfill_order: str = "queue",
    correction: bool = True,
    seed: int = 0,
    mode: str = "default",
    procs: int | None = None,
    kill_at_request: bool = False,
    node_size: int | None = None,
    engine: str = "auto",
    jobs_out: str | Path | None = None,
    per_user: bool = False,
    force: bool = False,
    runtime_model: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> dict | Result:
    """Replay a trace under one scheduling policy: run metrics, cleaning, optional per-user table and per-job file.

    ``mode="rlscheduler"`` runs Zhang et al.'s (SC'20) evaluation protocol instead (means over
    fixed job sequences; schema ``hpcopt.rlscheduler/1``). ``seed`` is the random_state of a
    learned online runtime estimator (``runtime="predicted:gbm"``). ``runtime_model`` is a
    trained runtime model (``estimate.train``'s directory, or ``model:NAME@ALIAS`` from the
    registry) whose frozen predictions the reservations use instead.
    """
    from hpcopt.data import load_workload

    _check_choice("mode", mode, MODES)
    _check_choice("backfill_order", backfill_order, BACKFILL_ORDERS)
    if jobs_out is not None:
        if mode == "rlscheduler":
            raise ConfigError("--jobs-out is not available in rlscheduler mode (it reports per-sequence figures)")
        from hpcopt.core.files import prepare_output
        from hpcopt.schedule.simulate import check_jobs_path

        check_jobs_path(jobs_out)
        prepare_output(jobs_out, inputs=[trace], force=force, option="--jobs-out")
    if mode == "rlscheduler" and backfill not in ("none", "easy"):
        raise ConfigError("rlscheduler mode has no conservative backfilling; use --backfill none or easy")
    if backfill_order == "sjbf":
        if backfill != "easy":
            raise ConfigError("--backfill-order sjbf applies to --backfill easy")
        backfill = "easy-sjbf"
    workload = load_workload(trace)
    if mode == "rlscheduler":
        from hpcopt.schedule.rlscheduler import simulate_rlscheduler

        payload = simulate_rlscheduler(workload, order, backfill == "easy")
        payload["trace"] = str(trace)
        return Result("hpcopt.rlscheduler", 1, payload)
    from hpcopt.schedule.simulate import simulate

    result = simulate(workload, order, backfill, runtime=_runtime_source(runtime, runtime_model), procs=procs, kill_at_request=kill_at_request,
                      engine=engine, progress=progress, node_size=node_size, correction=correction,
                      random_state=seed)
    if jobs_out is not None:
        result.write_jobs(jobs_out)
    summary = result.summary()
    # what the reader set aside (e.g. pending and running Slurm jobs), next to the cleaning counts
    summary["read_notes"] = list(workload.read_notes)
    summary["unfinished_jobs"] = 0 if workload.queue is None else len(workload.queue)
    if per_user:
        summary["per_user"] = result.per_user().to_dict(orient="records")
    summary["_extras"] = {"simulation": result}
    return summary


@task("schedule.compare", schema="hpcopt.compare", version=1, inputs=("trace", "runtime_model"), outputs=("report",),
      libraries=("numba", "matplotlib"))
def compare_trace(
    trace: str | Path,
    policies: list[str] | tuple[str, ...] = DEFAULT_POLICIES,
    runtime: str = "requested",
    procs: int | None = None,
    kill_at_request: bool = False,
    report: str | Path | None = None,
    force: bool = False,
    runtime_model: str | Path | None = None,
    progress: ProgressFn | None = None,
) -> dict:
    """Compare scheduling policies (``ORDER`` or ``ORDER+BACKFILL``) on one trace; optionally an HTML report.

    Deterministic: no randomness (``random_state`` is null). ``runtime_model``: as in
    ``schedule.simulate``.
    """
    from hpcopt.core.files import prepare_report
    from hpcopt.data import load_workload
    from hpcopt.schedule.compare import compare_policies

    if isinstance(policies, str):
        policies = [policies]
    names = [p.strip() for p in policies if isinstance(p, str) and p.strip()]
    if not names:
        raise ConfigError("--policies is empty; give e.g. fcfs,fcfs+easy,sjf+easy")
    prepare_report(report, inputs=[trace], force=force)
    workload = load_workload(trace)
    table, results = compare_policies(workload, names, runtime=_runtime_source(runtime, runtime_model), procs=procs,
                                      kill_at_request=kill_at_request, progress=progress)
    first = next(iter(results.values()))
    out: dict[str, Any] = {
        "schema": "hpcopt.compare/1",
        "trace": str(trace),
        "procs": first.config["procs"],
        "runtime": runtime if runtime_model is None else "predicted:model",
        "runtime_model": None if runtime_model is None else str(runtime_model),
        "random_state": None,
        "policies": table.to_dict(orient="records"),
        "cleaning": first.cleaning.to_dict(),
    }
    if report is not None:
        from hpcopt.report import write_compare_report

        write_compare_report(report, table, results, workload.summary())
        out["report"] = str(report)
    out["_extras"] = {"table": table, "simulations": results}
    return out


@task("trace.info", inputs=("trace",))
def trace_info(trace: str | Path, format: str = "auto", procs: int | None = None) -> dict:
    """Jobs, time span, processors, offered load, fields present, cleaning summary, unfinished jobs."""
    from hpcopt.data import load_workload
    from hpcopt.schedule.jobs import prepare_jobs

    _check_choice("format", format, TRACE_FORMATS)
    workload = load_workload(trace, format)
    summary = workload.summary()
    queue = workload.queue
    # Pending/running jobs at export time are not in the job table (see hpcopt.data.slurm)
    summary["unfinished_jobs"] = 0 if queue is None else len(queue)
    summary["unfinished_by_state"] = {} if queue is None else dict(Counter(queue["state"].tolist()))
    summary["cleaning_for_simulation"] = (prepare_jobs(workload, procs=procs).cleaning.to_dict() if len(workload)
                                          else {"jobs_in": 0, "jobs_out": 0, "dropped": {}, "repaired": {}})
    return summary
