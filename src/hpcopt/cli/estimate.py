"""``hpcopt estimate``: train, apply and explain the learned runtime predictor."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.table import Table

from hpcopt.cli import app
from hpcopt.cli._common import JSON_OPTION_HELP, console, print_json, progress_bar
from hpcopt.cli._outputs import FORCE_HELP, REPORT_HELP, check_report
from hpcopt.errors import ConfigError, InputError

estimate_app = typer.Typer(help="Predict job runtimes (with intervals), explain and evaluate predictors.",
                           no_args_is_help=True)
app.add_typer(estimate_app, name="estimate")


def _load_trace(path: str):
    from hpcopt.data import load_workload

    if not Path(path).is_file():
        raise InputError("the trace file does not exist", source=path)
    return load_workload(path)


def _dropped_note(model) -> list[str]:
    return [f"feature {k} dropped: {v}" for k, v in getattr(model, "dropped_features_", {}).items()]


@estimate_app.command("train")
def train_cmd(
    trace: str = typer.Option(..., "--trace", help="Trace to learn from (SWF, sacct or CSV)."),
    out: Path = typer.Option(..., "--out", help="Directory to write the model into (written atomically; an existing "
                             "non-empty directory is replaced only with --force)."),
    seed: int = typer.Option(0, "--seed", help="Random state recorded with the model."),
    n_estimators: int = typer.Option(150, "--n-estimators", help="Boosting rounds per model."),
    confidence_level: float = typer.Option(0.9, "--confidence-level", help="Nominal interval coverage."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Fit GBMEstimator on a whole trace (features built by honest replay) and save it."""
    from hpcopt.core.files import atomic_directory
    from hpcopt.estimate.gbm import GBMEstimator

    w = _load_trace(trace)
    if out.resolve() == Path(trace).resolve() or Path(trace).resolve().is_relative_to(out.resolve()):
        raise ConfigError(f"--out {out} would replace the trace {trace}; choose another directory")
    model = GBMEstimator(random_state=seed, n_estimators=n_estimators, confidence_level=confidence_level)
    # The directory appears whole, or not at all: an existing one is refused (without
    # --force) before training, and a failed save leaves it untouched.
    with atomic_directory(out, force=force) as tmp:
        with progress_bar("training", enabled=not json_out) as progress:
            model.fit(w, progress=progress)
        model.save(tmp)
    result = {
        "model": str(out),
        "trace": trace,
        "jobs": model.train_window_["jobs"],
        "features": model.feature_names_,
        "dropped_features": model.dropped_features_,
        "metrics": model.training_metrics_,
        "data_hash": model.data_hash_,
        "random_state": seed,
    }
    if json_out:
        print_json(result)
        return
    console.print(f"trained on {result['jobs']} jobs of {trace}; saved to {out}")
    m = model.training_metrics_
    console.print(f"held-out (latest {m['calibration_jobs']} jobs): log MAE {m['calibration_log_mae']:.3f}, "
                  f"interval coverage {m['calibration_coverage']:.3f} at {confidence_level:.2f}")
    for line in _dropped_note(model):
        console.print(line)


@estimate_app.command("predict")
def predict_cmd(
    model_dir: Path = typer.Option(..., "--model", help="Directory written by 'hpcopt estimate train'."),
    trace: str = typer.Option(..., "--trace", help="Trace whose jobs to predict."),
    confidence_level: Optional[float] = typer.Option(None, "--confidence-level", help="Interval level (default: the model's)."),
    allow_missing: bool = typer.Option(False, "--allow-missing", help="Predict even if the trace lacks some of the model's features."),
    limit: int = typer.Option(20, "--limit", help="Jobs shown in the table (the JSON has all)."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Estimates and intervals for every job of a trace, with accuracy where runtimes are known."""
    import numpy as np

    from hpcopt.estimate.gbm import GBMEstimator
    from hpcopt.estimate.metrics import accuracy_metrics

    model = GBMEstimator.load(model_dir)
    w = _load_trace(trace)
    est, pis = model.predict_interval(w, confidence_level=confidence_level, allow_missing=allow_missing)
    rows = model.features(w, allow_missing=allow_missing).index.to_numpy()
    job_ids = w.column("job_id")[rows]
    labels = w.job_labels()[rows]
    ident = {c: w.jobs[c].astype(str).to_numpy()[rows] for c in w.identity_columns()}
    actual = w.column("runtime")[rows].astype(float)
    metrics = accuracy_metrics(est, actual, pis[:, 0], pis[:, 1])
    result = {
        "model": str(model_dir),
        "trace": trace,
        "confidence_level": confidence_level or model.confidence_level,
        "missing_features": getattr(model, "missing_features_", []),
        "metrics": metrics,
        "drift": model.drift_check(w),
        # job_id is SWF field 1; the trace's own ids and names (Slurm's JobID, user, account) follow when present
        "predictions": [
            {"job_id": int(j), **{c: v[i] for c, v in ident.items()}, "estimate": float(e), "lower": float(lo),
             "upper": float(hi), "actual": float(a)}
            for i, (j, e, lo, hi, a) in enumerate(zip(job_ids, est, pis[:, 0], pis[:, 1], actual))
        ],
    }
    if json_out:
        print_json(result)
        return
    from rich.table import Table

    has_user = "user_name" in ident
    t = Table("job", *(["user"] if has_user else []), "estimate (s)", "interval (s)", "actual (s)")
    for label, p in zip(labels[:limit], result["predictions"][:limit]):
        t.add_row(str(label), *([p["user_name"]] if has_user else []), f"{p['estimate']:.0f}",
                  f"[{p['lower']:.0f}, {p['upper']:.0f}]", f"{p['actual']:.0f}")
    console.print(t)
    console.print(f"{metrics['jobs']} jobs: MAE {metrics['mae']:.0f} s, median AE {metrics['median_ae']:.0f} s, "
                  f"accuracy {metrics['accuracy']:.3f}, coverage {metrics['coverage']:.3f}, "
                  f"mean width {metrics['mean_interval_width']:.0f} s (in-sample if this is the training trace)")
    console.print(result["drift"]["advice"])
    if result["missing_features"]:
        console.print(f"missing features (left empty): {', '.join(result['missing_features'])}")


@estimate_app.command("explain")
def explain_cmd(
    trace: str = typer.Option(..., "--trace", help="Trace holding the job."),
    job: str = typer.Option(..., "--job", help="Job to explain: its real id in a Slurm or CSV trace (e.g. 1234 or "
                            "1234_5), its job number (SWF field 1) in an SWF trace."),
    model_dir: Optional[Path] = typer.Option(None, "--model", help="Saved model; default: train on the jobs that completed before this job's submission."),
    top: int = typer.Option(8, "--top", help="Contributions shown."),
    seed: int = typer.Option(0, "--seed", help="Random state when training here."),
    json_out: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """The top feature contributions (TreeSHAP, log1p seconds) behind one job's estimate."""
    import numpy as np

    from hpcopt.data.workload import Workload
    from hpcopt.estimate.gbm import GBMEstimator

    w = _load_trace(trace)
    row = w.find_job(job)
    if row is None:
        labels = w.job_labels()
        real = "native_job_id" in w.jobs.columns
        queued = w.queue is not None and job in set(w.queue.get("native_job_id", []))
        raise InputError(f"no job with id {job}" + (" among the finished jobs (it is still in the queue)" if queued
                                                    else ""), source=trace,
                         field="column JobID" if real else "field 1 (job number)",
                         hint=(f"the trace's job ids include {', '.join(labels[:3])} ... {labels[-1]}" if len(labels)
                               else "the trace has no finished jobs"))
    label = str(w.job_labels()[row])
    submit = float(w.column("submit")[row])
    if model_dir is not None:
        model = GBMEstimator.load(model_dir)
        trained_on = str(model_dir)
    else:
        wait = w.column("wait").astype(float)
        end = w.column("submit") + np.where(wait >= 0, wait, 0.0) + w.column("runtime")
        before = (w.column("runtime") >= 0) & (end < submit)
        model = GBMEstimator(random_state=seed)
        if before.sum() < model.min_train_jobs:
            raise InputError(f"only {int(before.sum())} jobs completed before job {label} was submitted; "
                             f"{model.min_train_jobs} are needed to train", source=trace,
                             hint="pick a later job or pass --model")
        past = Workload(w.jobs[before].reset_index(drop=True), dict(w.header), w.source)
        model.fit(past)
        trained_on = f"{int(before.sum())} jobs completed before job {label}'s submission"
    frame = model.features(w, allow_missing=True)
    if row not in frame.index:
        raise InputError(f"job {label} has no submit time or runtime to explain", source=trace)
    i = int(frame.index.get_loc(row))
    exp = model.explain(frame.iloc[[i]])
    est, pis = model.predict_interval(frame.iloc[[i]])
    result = {
        "job_id": int(w.column("job_id")[row]),
        **{c: str(w.jobs[c].iloc[row]) for c in w.identity_columns()},
        "trained_on": trained_on,
        "estimate_s": float(est[0]),
        "interval_s": [float(pis[0, 0]), float(pis[0, 1])],
        "actual_s": float(w.column("runtime")[row]),
        "requested_s": float(w.column("req_time")[row]),
        "base_log": float(exp.bias[0]),
        "prediction_log": float(exp.prediction_log[0]),
        "contributions": exp.top(0, top),
        "random_state": seed,
    }
    if json_out:
        print_json(result)
        return
    from rich.table import Table

    who = f" (user {result['user_name']})" if "user_name" in result else ""
    console.print(f"job {label}{who}: estimate {result['estimate_s']:.0f} s, interval [{result['interval_s'][0]:.0f}, "
                  f"{result['interval_s'][1]:.0f}] s, requested {result['requested_s']:.0f} s, actual {result['actual_s']:.0f} s")
    console.print(f"model: {trained_on}; base value {result['base_log']:.3f} (log1p s) -> {result['prediction_log']:.3f}")
    t = Table("feature", "value", "contribution (log1p s)")
    for c in result["contributions"]:
        t.add_row(c["feature"], "-" if c["value"] is None else f"{c['value']:.4g}", f"{c['contribution']:+.3f}")
    console.print(t)


# ---------------------------------------------------------------- evaluate: online replay

def html_escape(text: str) -> str:
    import html

    return html.escape(text)


KINDS = ("requested", "tsafrir", "gbm")


def _make(name: str, random_state: int):
    from hpcopt.schedule.online import resolve_online

    if name not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}; got {name!r}")
    return resolve_online(f"predicted:{name}", random_state=random_state)


@estimate_app.command("evaluate")
def evaluate_cmd(
    trace: Path = typer.Option(..., "--trace", help="Trace file (SWF, sacct -P, CSV job table)."),
    kind: str = typer.Option("gbm", "--kind", help="Estimator kind to evaluate: gbm (learned), tsafrir or requested."),
    baselines: bool = typer.Option(True, "--baselines/--no-baselines", help="Also evaluate both baselines."),
    confidence: float = typer.Option(0.9, "--confidence-level", help="Nominal coverage of the intervals."),
    seed: int = typer.Option(0, "--seed", help="random_state of the learned model."),
    report: Path = typer.Option(None, "--report", help=REPORT_HELP + " Predicted against actual runtimes."),
    force: bool = typer.Option(False, "--force", help=FORCE_HELP),
    as_json: bool = typer.Option(False, "--json", help=JSON_OPTION_HELP),
) -> None:
    """Online evaluation on a trace: each job is estimated at its submit time from the jobs
    completed before it (the trace's own schedule), retraining as a deployment would."""
    from hpcopt.data import load_workload
    from hpcopt.estimate.metrics import grouped_metrics
    from hpcopt.estimate.replay import replay_trace

    if kind not in KINDS:
        raise ConfigError(f"--kind must be one of {', '.join(KINDS)}; got {kind!r}")
    check_report(report, [trace], force)
    workload = load_workload(trace)
    names = [kind] + ([m for m in ("tsafrir", "requested") if m != kind] if baselines else [])
    out = {"schema": "hpcopt.estimate.evaluate/1", "trace": str(trace), "protocol": "online replay: estimate at "
           "submit time from jobs completed strictly earlier (end = submit + wait + runtime)", "random_state": seed,
           "confidence_level": confidence, "read_notes": list(workload.read_notes)}
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
        if name == "gbm" and getattr(est, "source_", None) is not None:
            from hpcopt.estimate.gbm import SOURCES

            # which estimate was answered, per job: the model's or a baseline chosen for the user
            out["gbm_sources"] = {s: int((est.source_[r.rows] == i).sum()) for i, s in enumerate(SOURCES)}
        notes = getattr(est, "dropped_features_", None)
        if notes:
            m["dropped_features"] = list(notes)
    out.update(results[kind]["all"])
    out["kind"] = kind
    out["by_model"] = results
    if report is not None:
        import pandas as pd

        from hpcopt.report.estimate import predicted_vs_actual_figure, write_estimate_report
        from hpcopt.report.html import _table_html

        rows = [{"kind": n, "group": g, **{k: v for k, v in m.items() if k != "dropped_features"}}
                for n, groups in results.items() for g, m in groups.items() if isinstance(m, dict)]
        write_estimate_report(report, f"Runtime estimation: {Path(trace).name}", _table_html(pd.DataFrame(rows)),
                              [predicted_vs_actual_figure(replays)], html_escape(out["protocol"]))
        out["report"] = str(report)
    if as_json:
        print_json(out)
        return
    t = Table(title=f"{Path(trace).name}: online runtime estimation ({out['jobs']:,} jobs)")
    for c in ("kind", "group", "jobs", "MAE (s)", "median AE (s)", "accuracy", "under-estimated", "coverage", "width (s)"):
        t.add_column(c, justify="left" if c in ("kind", "group") else "right")
    for name, groups in results.items():
        for g, m in groups.items():
            if not isinstance(m, dict) or not m.get("jobs"):
                continue
            t.add_row(name, g, f"{m['jobs']:,}", f"{m['mae']:,.0f}", f"{m['median_ae']:,.0f}", f"{m['accuracy']:.3f}",
                      f"{m['underestimation_rate']:.1%}", f"{m['coverage']:.1%}" if "coverage" in m else "",
                      f"{m['mean_interval_width']:,.0f}" if "mean_interval_width" in m else "")
    console.print(t)
    if "gbm_sources" in out:
        console.print("gbm answers per source (per-user choice): "
                      + ", ".join(f"{k} {v:,}" for k, v in out["gbm_sources"].items()))
