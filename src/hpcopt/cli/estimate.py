"""``hpcopt estimate``: train, apply, explain and evaluate the runtime predictor.

Each command parses its options, runs the task (``hpcopt.estimate.tasks``) and renders
the payload.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, NO_RECORD_HELP, console, printed_json, run_task
from hpcopt.cli._outputs import FORCE_HELP, REPORT_HELP

estimate_app = typer.Typer(help="Predict job runtimes (with intervals), explain and evaluate predictors.",
                           no_args_is_help=True)
app.add_typer(estimate_app, name="estimate")

MODEL_HELP = "Model directory written by 'hpcopt estimate train', or a registered model: model:NAME[@ALIAS]."


@estimate_app.command("train")
def train_cmd(
    trace: str = typer.Option(..., "--trace", help="Trace to learn from (SWF, sacct or CSV)."),
    out: Path = typer.Option(..., "--out", help="Directory to write the model into (written atomically; an existing "
                             "non-empty directory is replaced only with --force)."),
    seed: int = typer.Option(0, "--seed", help="Random state recorded with the model."),
    n_estimators: int = typer.Option(150, "--n-estimators", help="Boosting rounds per model."),
    confidence_level: float = typer.Option(0.9, "--confidence-level", help="Nominal interval coverage."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    register: Optional[str] = typer.Option(None, "--register", help="Register the model in the store under NAME."),
    alias: Optional[str] = typer.Option(None, "--alias", help="With --register: point ALIAS (e.g. production) at it."),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fit GBMEstimator on a whole trace (features built by honest replay) and save it."""
    result = run_task("estimate.train", no_record=no_record, progress=not as_json, label="training",
                      register=register, register_alias=alias, trace=trace, model=str(out), seed=seed,
                      n_estimators=n_estimators, confidence_level=confidence_level, force=force)
    if printed_json(result, as_json):
        return
    r = result.payload
    m = r["metrics"]
    console.print(f"trained on {r['jobs']} jobs of {trace}; saved to {out}")
    console.print(f"held-out (latest {m['calibration_jobs']} jobs): log MAE {m['calibration_log_mae']:.3f}, "
                  f"interval coverage {m['calibration_coverage']:.3f} at {confidence_level:.2f}")
    for k, v in r["dropped_features"].items():
        console.print(f"feature {k} dropped: {v}")
    if "registered" in r:
        g = r["registered"]
        console.print(f"registered as {g['name']} version {g['version']}" + (f" ({g['alias']})" if g["alias"] else ""))


@estimate_app.command("predict")
def predict_cmd(
    model: str = typer.Option(..., "--model", help=MODEL_HELP),
    trace: str = typer.Option(..., "--trace", help="Trace whose jobs to predict."),
    confidence_level: Optional[float] = typer.Option(None, "--confidence-level", help="Interval level (default: the model's)."),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="Predict even if the trace lacks some of the model's features."),
    limit: int = typer.Option(20, "--limit", help="Jobs shown in the table (the JSON has all)."),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Estimates and intervals for every job of a trace, with accuracy where runtimes are known."""
    result = run_task("estimate.predict", no_record=no_record, progress=not as_json, model=model, trace=trace,
                      confidence_level=confidence_level, allow_missing=allow_missing)
    if printed_json(result, as_json):
        return
    r = result.payload
    preds = r["predictions"]
    has_user = bool(preds) and "user_name" in preds[0]
    t = Table("job", *(["user"] if has_user else []), "estimate (s)", "interval (s)", "actual (s)")
    for label, p in zip(result.extras["labels"][:limit], preds[:limit]):
        t.add_row(str(label), *([p["user_name"]] if has_user else []), f"{p['estimate']:.0f}",
                  f"[{p['lower']:.0f}, {p['upper']:.0f}]", f"{p['actual']:.0f}")
    console.print(t)
    m = r["metrics"]
    console.print(f"{m['jobs']} jobs: MAE {m['mae']:.0f} s, median AE {m['median_ae']:.0f} s, "
                  f"accuracy {m['accuracy']:.3f}, coverage {m['coverage']:.3f}, "
                  f"mean width {m['mean_interval_width']:.0f} s (in-sample if this is the training trace)")
    console.print(r["drift"]["advice"])
    if r["missing_features"]:
        console.print(f"missing features (left empty): {', '.join(r['missing_features'])}")


@estimate_app.command("explain")
def explain_cmd(
    trace: str = typer.Option(..., "--trace", help="Trace holding the job."),
    job: str = typer.Option(..., "--job", help="Job to explain: its real id in a Slurm or CSV trace (e.g. 1234 or "
                            "1234_5), its job number (SWF field 1) in an SWF trace."),
    model: Optional[str] = typer.Option(None, "--model", help=MODEL_HELP + " Default: train on the jobs that "
                                        "completed before this job's submission."),
    top: int = typer.Option(8, "--top", help="Contributions shown."),
    seed: int = typer.Option(0, "--seed", help="Random state when training here."),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """The top feature contributions (TreeSHAP, log1p seconds) behind one job's estimate."""
    result = run_task("estimate.explain", no_record=no_record, progress=not as_json, trace=trace, job=job,
                      model=model, top=top, seed=seed)
    if printed_json(result, as_json):
        return
    r = result.payload
    who = f" (user {r['user_name']})" if "user_name" in r else ""
    console.print(f"job {r['label']}{who}: estimate {r['estimate_s']:.0f} s, interval [{r['interval_s'][0]:.0f}, "
                  f"{r['interval_s'][1]:.0f}] s, requested {r['requested_s']:.0f} s, actual {r['actual_s']:.0f} s")
    console.print(f"model: {r['trained_on']}; base value {r['base_log']:.3f} (log1p s) -> {r['prediction_log']:.3f}")
    t = Table("feature", "value", "contribution (log1p s)")
    for c in r["contributions"]:
        t.add_row(c["feature"], "-" if c["value"] is None else f"{c['value']:.4g}", f"{c['contribution']:+.3f}")
    console.print(t)


@estimate_app.command("evaluate")
def evaluate_cmd(
    trace: Path = typer.Option(..., "--trace", help="Trace file (SWF, sacct -P, CSV job table)."),
    kind: str = typer.Option("gbm", "--kind", help="Online estimator to evaluate: gbm (learned), tsafrir, requested "
                             "or a plugin's."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also evaluate both baselines."),
    confidence: float = typer.Option(0.9, "--confidence-level", help="Nominal coverage of the intervals."),
    seed: int = typer.Option(0, "--seed", help="random_state of the learned model."),
    report: Optional[Path] = typer.Option(None, "--report", help=REPORT_HELP + " Predicted against actual runtimes."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    no_record: bool = typer.Option(False, "--no-record", help=NO_RECORD_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Online evaluation on a trace: each job is estimated at its submit time from the jobs
    completed before it (the trace's own schedule), retraining as a deployment would."""
    result = run_task("estimate.evaluate", no_record=no_record, progress=not as_json, label="replaying",
                      trace=str(trace), kind=kind, baselines=baselines, confidence_level=confidence, seed=seed,
                      report=None if report is None else str(report), force=force)
    if printed_json(result, as_json):
        return
    out = result.payload
    t = Table(title=f"{trace.name}: online runtime estimation ({out['jobs']:,} jobs)")
    for c in ("kind", "group", "jobs", "MAE (s)", "median AE (s)", "accuracy", "under-estimated", "coverage", "width (s)"):
        t.add_column(c, justify="left" if c in ("kind", "group") else "right")
    for name, groups in out["by_model"].items():
        for g in ("all", "new_users", "frequent_users"):
            m = groups[g]
            if not m.get("jobs"):
                continue
            t.add_row(name, g, f"{m['jobs']:,}", f"{m['mae']:,.0f}", f"{m['median_ae']:,.0f}", f"{m['accuracy']:.3f}",
                      f"{m['underestimation_rate']:.1%}", f"{m['coverage']:.1%}" if "coverage" in m else "",
                      f"{m['mean_interval_width']:,.0f}" if "mean_interval_width" in m else "")
    console.print(t)
    if "gbm_sources" in out:
        console.print("gbm answers per source (per-user choice): "
                      + ", ".join(f"{k} {v:,}" for k, v in out["gbm_sources"].items()))
    if "report" in out:
        console.print(f"report written to {out['report']}")
