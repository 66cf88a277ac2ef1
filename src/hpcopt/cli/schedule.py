"""``hpcopt simulate`` and ``hpcopt compare``: parse, run the task (hpcopt.schedule.tasks), render."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, NO_RECORD_HELP, console, note_run, print_json, run_task
from hpcopt.cli._outputs import FORCE_HELP, REPORT_HELP


ORDER_HELP = "Queue order: fcfs, sjf, wfp3, unicep, f1."
BACKFILL_HELP = "Backfilling: none, easy, conservative (in rlscheduler mode, easy = its greedy backfilling)."
RUNTIME_MODEL_HELP = ("A trained runtime model (hpcopt estimate train --out DIR, or model:NAME@ALIAS from the "
                      "registry) whose predictions the reservations use; it replaces --runtime.")


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
    runtime_model: Optional[str] = typer.Option(None, "--runtime-model", help=RUNTIME_MODEL_HELP),
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
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Replay a trace under one scheduling policy."""
    result = run_task("schedule.simulate", no_record=no_record, progress=not as_json, label="simulating",
                      trace=trace, order=order, backfill=backfill, runtime=runtime, runtime_model=runtime_model,
                      backfill_order=backfill_order,
                      correction=not no_correction, seed=seed, mode=mode, procs=procs, kill_at_request=kill,
                      node_size=node_size, engine=engine, jobs_out=jobs_out, per_user=per_user, force=force)
    if as_json:
        print_json(result.to_dict())
        return
    out = result.payload
    if out.get("mode") == "rlscheduler":
        console.print(_metrics_table(f"{trace} (rlscheduler mode, {order}, {out['backfill']} backfilling)",
                                     out["per_sequence"], ["start", "avg_bsld", "avg_wait", "utilization"]))
        console.print(f"mean over {out['sequences']} sequences: bsld {out['avg_bsld']:.4f}, "
                      f"utilization {out['utilization']:.4f}")
        note_run(result)
        return
    cols = ["jobs", "avg_wait", "median_wait", "p95_wait", "avg_bsld", "utilization", "makespan", "max_queue"]
    console.print(_metrics_table(f"{trace}: {out['order']} + {out['backfill']} on {out['procs']} processors "
                                 f"({out['runtime']} runtimes)", [out], cols))
    for line in out["read_notes"]:
        console.print(f"  read: {line}")
    for line in _cleaning_lines(out["cleaning"]):
        console.print(f"  cleaning: {line}")
    if per_user:
        top = out["per_user"][:15]
        who = "user_name" if top and "user_name" in top[0] else "user"
        console.print(_metrics_table("per user (top 15 by processor-seconds)", top,
                                     [who, "jobs", "avg_wait", "avg_bsld", "work"]))
    if jobs_out is not None:
        console.print(f"per-job results written to {jobs_out}")
    note_run(result)


def _cleaning_lines(c: dict) -> list[str]:
    return [f"{c['jobs_out']} of {c['jobs_in']} jobs kept", *(f"dropped {n}: {r}" for r, n in c["dropped"].items()),
            *(f"repaired {n}: {r}" for r, n in c["repaired"].items())]


@app.command("compare")
def compare_cmd(
    trace: Path = typer.Option(..., "--trace", help="Trace file (SWF, sacct -P, CSV job table)."),
    policies: str = typer.Option(None, "--policies",
                                 help="Comma-separated ORDER or ORDER+BACKFILLING (default: fcfs, fcfs+easy, "
                                      "fcfs+conservative and EASY under sjf, wfp3, unicep, f1)."),
    runtime_model: Optional[str] = typer.Option(None, "--runtime-model", help=RUNTIME_MODEL_HELP),
    runtime: str = typer.Option("requested", "--runtime", help="requested or actual."),
    procs: int = typer.Option(None, "--procs", help="Machine size P."),
    kill: bool = typer.Option(False, "--kill-at-request", help="Kill jobs at their requested time."),
    report: Path = typer.Option(None, "--report", help=REPORT_HELP),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Compare scheduling policies on one trace: a table, and optionally an HTML report."""
    chosen = {} if policies is None else {"policies": [p.strip() for p in policies.split(",") if p.strip()]}
    result = run_task("schedule.compare", no_record=no_record, progress=not as_json, label="comparing policies",
                      trace=trace, runtime=runtime, runtime_model=runtime_model, procs=procs, kill_at_request=kill,
                      report=report, force=force,
                      **chosen)
    if as_json:
        print_json(result.to_dict())
        return
    out = result.payload
    columns = list(out["policies"][0]) if out["policies"] else ["policy"]
    console.print(_metrics_table(f"{Path(trace).name}: {out['procs']} processors, {out['runtime']} runtimes",
                                 out["policies"], columns))
    if report is not None:
        console.print(f"report written to {report}")
    note_run(result)
