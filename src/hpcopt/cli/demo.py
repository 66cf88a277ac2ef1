"""``hpcopt demo``: the tour of what hpcopt does, on bundled real data (hpcopt.demo)."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, err_console, print_json, progress_bar
from hpcopt.cli._outputs import FORCE_HELP, check_report

DEFAULT_REPORT = Path("hpcopt-demo-report.html")


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:,.3f}" if abs(v) < 100 else f"{v:,.0f}"
    return "" if v is None else str(v)


@app.command("demo")
def demo_cmd(
    report: Optional[Path] = typer.Option(None, "--report", help=f"HTML report path (default {DEFAULT_REPORT}, "
                                          "which a new demo run replaces; another path needs --force to replace)."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    seed: int = typer.Option(0, "--seed", help="random_state of every learned and random part."),
    no_record: bool = typer.Option(False, "--no-record", help="Do not record the steps in the run store."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """The tour on bundled real data: scheduling with learned runtime predictions, anomaly detection with
    culprit metrics, a tuning replay against random search; each beside its baselines, recorded in the store."""
    from hpcopt.demo import run_demo

    path = report if report is not None else DEFAULT_REPORT
    check_report(path, [], force or report is None)
    with progress_bar("hpcopt demo", enabled=not as_json) as progress:
        result = run_demo(path, seed=seed, record=not no_record, progress=progress)
    if as_json:
        print_json(result.to_dict())
        return
    steps = result.payload["steps"]
    s = steps["schedule"]
    console.print(f"[bold]1. Scheduling {s['jobs']:,} real HPC2N jobs[/] ({s['seconds']} s; times in seconds, "
                  "bsld = bounded slowdown with a 10 s bound, actual = the oracle's bound)")
    t = Table()
    for c in ("policy", "runtimes", "avg_wait", "p95_wait", "avg_bsld", "utilization"):
        t.add_column(c, justify="left" if c in ("policy", "runtimes") else "right")
    for r in s["policies"]:
        t.add_row(*(_fmt(r[c]) for c in ("policy", "runtimes", "avg_wait", "p95_wait", "avg_bsld", "utilization")))
    console.print(t)
    d = steps["detect"]
    console.print(f"[bold]2. Anomaly detection on one day of SMD machine-1-6[/] ({d['rows']} rows, "
                  f"{d['labelled_anomalous_rows']} labelled anomalous; threshold from training scores; {d['seconds']} s)")
    t = Table()
    t.add_column("metric")
    t.add_column(d["detector"], justify="right")
    t.add_column("random detector", justify="right")
    for k, v in d["metrics"].items():
        t.add_row(k, _fmt(v), _fmt(d["random_baseline"].get(k)))
    console.print(t)
    for a in d["first_alerts"]:
        console.print(f"  alert at rows {a['rows']}: culprit metrics {a['top_metrics_1based']}")
    u = steps["tune"]
    console.print(f"[bold]3. Tuning replay: pnpoly on an RTX 3090[/] ({u['configurations']:,} configurations, "
                  f"budget {u['budget']} evaluations; {u['seconds']} s; score 0 = random search's expectation, "
                  "1 = the optimum from the first evaluation)")
    t = Table()
    t.add_column("strategy")
    t.add_column("score", justify="right")
    for n, v in u["scores"].items():
        t.add_row(n, _fmt(v))
    console.print(t)
    if result.payload.get("runs"):
        ids = [r[:8] for step in result.payload["runs"].values() for r in step]
        err_console.print(f"recorded runs: {', '.join(ids)} "
                          "(hpcopt runs list)")
    console.print(f"report written to {Path(result.payload['report']).resolve()}")
