"""``hpcopt simulate``, ``hpcopt compare``, ``hpcopt demo``."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json, progress_bar
from hpcopt.cli._outputs import FORCE_HELP, REPORT_HELP, check_report
from hpcopt.errors import ConfigError


ORDER_HELP = "Queue order: fcfs, sjf, wfp3, unicep, f1."
BACKFILL_HELP = "Backfilling: none, easy, conservative (in rlscheduler mode, easy = its greedy backfilling)."


SHORT = {"avg_wait": "wait avg", "median_wait": "wait p50", "p95_wait": "wait p95", "avg_bsld": "bsld avg",
         "utilization": "util", "makespan": "makespan", "max_queue": "max q", "avg_bsld_": "bsld", "user_name": "user"}


def _metrics_table(title: str, rows: list[dict], columns: list[str]) -> Table:
    t = Table(title=title, caption="times in seconds; bsld: bounded slowdown (10 s)")
    for c in columns:
        t.add_column(SHORT.get(c, c), justify="left" if c in ("policy", "user_name") else "right")
    for r in rows:
        cells = []
        for c in columns:
            v = r.get(c)
            if isinstance(v, float) and v == 0:
                cells.append("0")
            elif isinstance(v, float):
                cells.append(f"{v:.4f}" if abs(v) < 10 else (f"{v:,.1f}" if abs(v) < 1000 else f"{v:,.0f}"))
            else:
                cells.append("" if v is None else str(v))
        t.add_row(*cells)
    return t


@app.command("simulate")
def simulate_cmd(
    trace: Path = typer.Option(..., "--trace", help="Trace file (SWF, sacct -P, CSV job table)."),
    order: str = typer.Option("fcfs", "--order", help=ORDER_HELP),
    backfill: str = typer.Option("easy", "--backfill", help=BACKFILL_HELP),
    runtime: str = typer.Option("requested", "--runtime",
                                help="What reservations use: requested, actual (oracle), predicted:tsafrir or "
                                     "predicted:gbm (online: learns only from jobs completed in the simulation)."),
    backfill_order: str = typer.Option("queue", "--backfill-order",
                                       help="EASY backfill candidates in queue order, or sjbf (shortest estimate first)."),
    no_correction: bool = typer.Option(False, "--no-correction", help="Do not raise estimates that jobs outlive."),
    seed: int = typer.Option(0, "--seed", help="random_state of a learned estimator."),
    mode: str = typer.Option("default", "--mode", help="default, or rlscheduler (Zhang et al. SC'20 protocol)."),
    procs: int = typer.Option(None, "--procs", help="Machine size P (default: MaxProcs, MaxNodes, largest job)."),
    kill: bool = typer.Option(False, "--kill-at-request", help="Kill jobs when they reach their requested time."),
    node_size: int = typer.Option(None, "--node-size", help="Whole-node allocation on nodes of this many processors."),
    engine: str = typer.Option("auto", "--engine", help="auto, fast (compiled) or generic (Python policies)."),
    jobs_out: Path = typer.Option(None, "--jobs-out", help="Write per-job results (with the trace's real job ids and "
                                  "user names when it has them) to FILE.csv or FILE.parquet."),
    per_user: bool = typer.Option(False, "--per-user", help="Also show metrics per user."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Replay a trace under one scheduling policy."""
    from hpcopt.data import load_workload

    if jobs_out is not None and mode == "rlscheduler":
        raise ConfigError("--jobs-out is not available in rlscheduler mode (it reports per-sequence figures)")
    if jobs_out is not None:
        from hpcopt.core.files import prepare_output
        from hpcopt.schedule.simulate import check_jobs_path

        check_jobs_path(jobs_out)
        prepare_output(jobs_out, inputs=[trace], force=force, option="--jobs-out")
    workload = load_workload(trace)
    if mode == "rlscheduler":
        from hpcopt.schedule.rlscheduler import simulate_rlscheduler

        if backfill not in ("none", "easy"):
            raise ConfigError("rlscheduler mode has no conservative backfilling; use --backfill none or easy")
        result = simulate_rlscheduler(workload, order, backfill == "easy")
        result["trace"] = str(trace)
        if as_json:
            print_json(result)
            return
        console.print(_metrics_table(f"{trace} (rlscheduler mode, {order}, {result['backfill']} backfilling)",
                                     result["per_sequence"], ["start", "avg_bsld", "avg_wait", "utilization"]))
        console.print(f"mean over {result['sequences']} sequences: bsld {result['avg_bsld']:.4f}, "
                      f"utilization {result['utilization']:.4f}")
        return
    if mode != "default":
        raise ConfigError(f"--mode must be default or rlscheduler; got {mode!r}")
    from hpcopt.schedule import simulate

    if backfill_order not in ("queue", "sjbf"):
        raise ConfigError(f"--backfill-order must be queue or sjbf; got {backfill_order!r}")
    if backfill_order == "sjbf":
        if backfill != "easy":
            raise ConfigError("--backfill-order sjbf applies to --backfill easy")
        backfill = "easy-sjbf"
    with progress_bar("simulating", enabled=not as_json) as progress:
        result = simulate(workload, order, backfill, runtime=runtime, procs=procs, kill_at_request=kill,
                          engine=engine, progress=progress, node_size=node_size, correction=not no_correction,
                          random_state=seed)
    if jobs_out is not None:
        result.write_jobs(jobs_out)
    summary = result.summary()
    # what the reader set aside (e.g. pending and running Slurm jobs), next to the cleaning counts
    summary["read_notes"] = list(workload.read_notes)
    summary["unfinished_jobs"] = 0 if workload.queue is None else len(workload.queue)
    if per_user:
        summary["per_user"] = result.per_user().to_dict(orient="records")
    if as_json:
        print_json(summary)
        return
    cols = ["jobs", "avg_wait", "median_wait", "p95_wait", "avg_bsld", "utilization", "makespan", "max_queue"]
    console.print(_metrics_table(f"{trace}: {summary['order']} + {summary['backfill']} on {summary['procs']} processors "
                                 f"({summary['runtime']} runtimes)", [summary], cols))
    for line in workload.read_notes:
        console.print(f"  read: {line}")
    for line in result.cleaning.lines():
        console.print(f"  cleaning: {line}")
    if per_user:
        top = result.per_user().head(15)
        who = "user_name" if "user_name" in top.columns else "user"
        console.print(_metrics_table("per user (top 15 by processor-seconds)", top.to_dict(orient="records"),
                                     [who, "jobs", "avg_wait", "avg_bsld", "work"]))
    if jobs_out is not None:
        console.print(f"per-job results written to {jobs_out}")


def _compare(trace: Path, policies: str, runtime: str, procs: int | None, kill: bool, report: Path | None,
             as_json: bool, force: bool = False) -> dict:
    from hpcopt.data import load_workload
    from hpcopt.report import write_compare_report
    from hpcopt.schedule.compare import compare_policies

    check_report(report, [trace], force)
    workload = load_workload(trace)
    names = [p.strip() for p in policies.split(",") if p.strip()]
    if not names:
        raise ConfigError("--policies is empty; give e.g. fcfs,fcfs+easy,sjf+easy")
    with progress_bar("comparing policies", enabled=not as_json) as progress:
        table, results = compare_policies(workload, names, runtime=runtime, procs=procs, kill_at_request=kill,
                                          progress=progress)
    summary = workload.summary()
    out = {
        "schema": "hpcopt.compare/1",
        "trace": str(trace),
        "procs": next(iter(results.values())).config["procs"],
        "runtime": runtime,
        "random_state": None,
        "policies": table.to_dict(orient="records"),
        "cleaning": next(iter(results.values())).cleaning.to_dict(),
    }
    if report is not None:
        write_compare_report(report, table, results, summary)
        out["report"] = str(report)
    if not as_json:
        console.print(_metrics_table(f"{Path(trace).name}: {out['procs']} processors, {runtime} runtimes",
                                     out["policies"], ["policy", *[c for c in table.columns if c != "policy"]]))
    return out


@app.command("compare")
def compare_cmd(
    trace: Path = typer.Option(..., "--trace", help="Trace file (SWF, sacct -P, CSV job table)."),
    policies: str = typer.Option("fcfs,fcfs+easy,fcfs+conservative,sjf+easy,wfp3+easy,unicep+easy,f1+easy",
                                 "--policies", help="Comma-separated ORDER or ORDER+BACKFILLING."),
    runtime: str = typer.Option("requested", "--runtime", help="requested or actual."),
    procs: int = typer.Option(None, "--procs", help="Machine size P."),
    kill: bool = typer.Option(False, "--kill-at-request", help="Kill jobs at their requested time."),
    report: Path = typer.Option(None, "--report", help=REPORT_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Compare scheduling policies on one trace: a table, and optionally an HTML report."""
    out = _compare(trace, policies, runtime, procs, kill, report, as_json, force)
    if as_json:
        print_json(out)
    elif report is not None:
        console.print(f"report written to {report}")
