"""``hpcopt trace ...``: look at a workload trace."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, NO_RECORD_HELP, console, note_run, print_json, run_task
from hpcopt.errors import ConfigError

trace_app = typer.Typer(help="Read workload traces (SWF, sacct -P, CSV job tables).", no_args_is_help=True)
app.add_typer(trace_app, name="trace")


@trace_app.command("info")
def info(
    file: Optional[Path] = typer.Argument(None, help="Trace: .swf/.swf.gz, sacct -P output, or a CSV job table "
                                          "(or give it with --trace)."),
    trace: Optional[Path] = typer.Option(None, "--trace", help="Trace file, as in every other command."),
    fmt: str = typer.Option("auto", "--format", help="swf, sacct, csv or auto."),
    procs: int = typer.Option(None, "--procs", help="Machine size for the simulation cleaning summary."),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Jobs, time span, processors, offered load, fields present, cleaning summary, unfinished jobs."""
    if file is not None and trace is not None and file != trace:
        raise ConfigError(f"two traces given ({file} and --trace {trace}); give one")
    file = file if file is not None else trace
    if file is None:
        raise ConfigError("no trace given; pass --trace FILE (or the file as the argument)")
    result = run_task("trace.info", no_record=no_record, progress=not as_json, trace=file, format=fmt, procs=procs)
    if as_json:
        print_json(result.to_dict())
        return
    summary = result.payload
    t = Table(title=f"{file}", show_header=False)
    t.add_column("what", style="bold")
    t.add_column("value")
    load = summary["offered_load"]
    rows = [
        ("jobs", f"{summary['jobs']:,} finished"),
        ("time span", f"{summary['span_days']:.1f} days (submit {summary['first_submit']:.0f} .. "
                      f"{summary['last_submit']:.0f} s)" if summary["jobs"] else "n/a (no finished job)"),
        ("processors (P)", f"{summary['procs']:,} (from {summary['procs_source']})"),
        ("largest job", f"{summary['largest_job_procs']:,} processors"),
        ("offered load", f"{load:.3f}" if load is not None else "n/a"),
        ("users", f"{summary['users']:,}" if summary["has_users"] else "absent"),
        ("requested times", f"{summary['requested_time_share']:.0%} of jobs" if summary["has_requested_time"] else "absent"),
        ("wait times", "present" if summary["has_wait_times"] else "absent"),
        ("fields present", ", ".join(summary["fields_present"])),
        ("fields absent", ", ".join(summary["fields_absent"]) or "none"),
    ]
    if summary["unfinished_jobs"]:
        states = ", ".join(f"{k} {v:,}" for k, v in summary["unfinished_by_state"].items())
        rows.append(("not finished", f"{summary['unfinished_jobs']:,} ({states}): the current queue, not in the table"))
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
    note_run(result)
