"""``hpcopt estimate ...``: runtime estimation."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json, progress_bar
from hpcopt.errors import ConfigError


def html_escape(text: str) -> str:
    import html

    return html.escape(text)

estimate_app = typer.Typer(help="Predict job runtimes with calibrated uncertainty.", no_args_is_help=True)
app.add_typer(estimate_app, name="estimate")

MODELS = ("requested", "tsafrir", "gbm")


def _make(name: str, random_state: int):
    from hpcopt.schedule.online import resolve_online

    if name not in MODELS:
        raise ConfigError(f"--model must be one of {', '.join(MODELS)}; got {name!r}")
    return resolve_online(f"predicted:{name}", random_state=random_state)


@estimate_app.command("evaluate")
def evaluate_cmd(
    trace: Path = typer.Option(..., "--trace", help="Trace file (SWF, sacct -P, CSV job table)."),
    model: str = typer.Option("gbm", "--model", help="gbm, tsafrir or requested."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also evaluate both baselines."),
    confidence: float = typer.Option(0.9, "--confidence-level", help="Nominal coverage of the intervals."),
    seed: int = typer.Option(0, "--seed", help="random_state of the learned model."),
    report: Path = typer.Option(None, "--report", help="Write an HTML report (predicted vs actual) here."),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Online evaluation on a trace: each job is estimated at its submit time from the jobs
    completed before it (the trace's own schedule), retraining as a deployment would."""
    from hpcopt.data import load_workload
    from hpcopt.estimate.metrics import grouped_metrics
    from hpcopt.estimate.replay import replay_trace

    workload = load_workload(trace)
    names = [model] + ([m for m in ("tsafrir", "requested") if m != model] if baselines else [])
    out = {"schema": "hpcopt.estimate.evaluate/1", "trace": str(trace), "protocol": "online replay: estimate at "
           "submit time from jobs completed strictly earlier (end = submit + wait + runtime)", "random_state": seed,
           "confidence_level": confidence}
    results = {}
    replays = {}
    for name in names:
        est = _make(name, seed)
        if name == "gbm" and hasattr(est, "confidence_level"):
            est.confidence_level = confidence
        with progress_bar(f"replaying ({name})", enabled=not as_json) as progress:
            r = replay_trace(workload, est, progress=progress)
        replays[name] = r
        lower = getattr(est, "lower_", None)
        lo = lower[r.rows] if lower is not None else None
        m = grouped_metrics(r.estimate, r.actual, r.user_history, lo, r.upper if lo is not None else None)
        results[name] = m
        notes = getattr(est, "dropped_features_", None)
        if notes:
            m["dropped_features"] = list(notes)
    out.update(results[model]["all"])
    out["model"] = model
    out["by_model"] = results
    if report is not None:
        import pandas as pd

        from hpcopt.report.estimate import predicted_vs_actual_figure, write_estimate_report
        from hpcopt.report.html import _table_html

        rows = [{"model": n, "group": g, **{k: v for k, v in m.items() if k != "dropped_features"}}
                for n, groups in results.items() for g, m in groups.items() if isinstance(m, dict)]
        write_estimate_report(report, f"Runtime estimation: {Path(trace).name}", _table_html(pd.DataFrame(rows)),
                              [predicted_vs_actual_figure(replays)], html_escape(out["protocol"]))
        out["report"] = str(report)
    if as_json:
        print_json(out)
        return
    t = Table(title=f"{Path(trace).name}: online runtime estimation ({out['jobs']:,} jobs)")
    for c in ("model", "group", "jobs", "MAE (s)", "median AE (s)", "accuracy", "under-estimated", "coverage", "width (s)"):
        t.add_column(c, justify="left" if c in ("model", "group") else "right")
    for name, groups in results.items():
        for g, m in groups.items():
            if not isinstance(m, dict) or not m.get("jobs"):
                continue
            t.add_row(name, g, f"{m['jobs']:,}", f"{m['mae']:,.0f}", f"{m['median_ae']:,.0f}", f"{m['accuracy']:.3f}",
                      f"{m['underestimation_rate']:.1%}", f"{m['coverage']:.1%}" if "coverage" in m else "",
                      f"{m['mean_interval_width']:,.0f}" if "mean_interval_width" in m else "")
    console.print(t)
