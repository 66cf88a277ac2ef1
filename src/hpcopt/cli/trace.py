"""``hpcopt trace ...``: look at a workload trace."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json

trace_app = typer.Typer(help="Read workload traces (SWF, sacct -P, CSV job tables).", no_args_is_help=True)
app.add_typer(trace_app, name="trace")


@trace_app.command("info")
def info(
    file: Path = typer.Argument(..., help="Trace: .swf/.swf.gz, sacct -P output, or a CSV job table."),
    fmt: str = typer.Option("auto", "--format", help="swf, sacct, csv or auto."),
    procs: int = typer.Option(None, "--procs", help="Machine size for the simulation cleaning summary."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Jobs, time span, processors, offered load, fields present, cleaning summary."""
    from hpcopt.data import load_workload
    from hpcopt.schedule.jobs import prepare_jobs

    workload = load_workload(file, fmt)
    summary = workload.summary()
    summary["cleaning_for_simulation"] = prepare_jobs(workload, procs=procs).cleaning.to_dict()
    if as_json:
        print_json(summary)
        return
    t = Table(title=f"{file}", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    load = summary["offered_load"]
    rows = [
        ("jobs", f"{summary['jobs']:,}"),
        ("time span", f"{summary['span_days']:.1f} days (submit {summary['first_submit']:.0f} .. {summary['last_submit']:.0f} s)"),
        ("processors (P)", f"{summary['procs']:,} (from {summary['procs_source']})"),
        ("largest job", f"{summary['largest_job_procs']:,} processors"),
        ("offered load", f"{load:.3f}" if load is not None else "n/a"),
        ("users", f"{summary['users']:,}" if summary["has_users"] else "absent"),
        ("requested times", f"{summary['requested_time_share']:.0%} of jobs" if summary["has_requested_time"] else "absent"),
        ("wait times", "present" if summary["has_wait_times"] else "absent"),
        ("fields present", ", ".join(summary["fields_present"])),
        ("fields absent", ", ".join(summary["fields_absent"]) or "none"),
    ]
    if summary["extra_columns"]:
        rows.append(("extra columns", ", ".join(summary["extra_columns"])))
    for note in summary["read_notes"]:
        rows.append(("read note", note))
    c = summary["cleaning_for_simulation"]
    rows.append(("simulation cleaning", f"{c['jobs_out']:,} of {c['jobs_in']:,} jobs kept"))
    for reason, n in c["dropped"].items():
        rows.append(("  dropped", f"{n:,}: {reason}"))
    for reason, n in c["repaired"].items():
        rows.append(("  repaired", f"{n:,}: {reason}"))
    for k, v in rows:
        t.add_row(k, v)
    console.print(t)
