"""Runtime estimation's use cases as tasks (see :mod:`hpcopt.core.tasks`).

- ``estimate.evaluate``: the online evaluation of an estimator beside the baselines
  (:mod:`hpcopt.estimate.evaluate`), optionally with an HTML report;
- ``estimate.train``: fit GBMEstimator on a whole trace and write the model directory;
- ``estimate.predict``: estimates and intervals for every job of a trace from a model;
- ``estimate.explain``: the feature contributions behind one job's estimate.

Every face calls them through :func:`hpcopt.store.runner.run_task`, which also resolves a
``model:NAME@alias`` reference to the registered model's directory.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from hpcopt.core.progress import ProgressFn
from hpcopt.core.tasks import task
from hpcopt.errors import ConfigError, InputError

__all__ = ["evaluate", "train", "predict", "explain"]

MODEL_KIND = "estimate.gbm"
_LIBS = ("numpy", "pandas", "lightgbm")


def _load_trace(path: str | Path):
    from hpcopt.data import load_workload

    if not Path(path).is_file():
        raise InputError("the trace file does not exist", source=str(path))
    return load_workload(path)


def _check_report(report: str | Path | None, trace: str | Path, force: bool) -> None:
    """Refuse a report path that is not .html, is the trace, or exists without ``force`` --
    before any work, so that a long run never ends in a refused write."""
    if report is None:
        return
    from hpcopt.core.files import prepare_output

    if Path(report).suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--report must name an .html file; got {Path(report).name!r}")
    prepare_output(report, inputs=[trace], force=force, option="--report")


def _load_model(path: str | Path):
    from hpcopt.estimate.gbm import GBMEstimator

    return GBMEstimator.load(path)


@task("estimate.evaluate", inputs=("trace",), outputs=("report",), libraries=_LIBS)
def evaluate(trace: str | Path, kind: str = "gbm", baselines: bool = True, confidence_level: float = 0.9,
             seed: int = 0, params: dict[str, Any] | None = None, coverage_levels: list[float] | None = None,
             report: str | Path | None = None, force: bool = False, progress: ProgressFn | None = None) -> dict:
    """Online evaluation on a trace: each job estimated at its submit time from the jobs completed before it.

    ``kind`` names a registered online estimator (``hpcopt.estimate.registry``), evaluated
    beside Tsafrir's and the requested time with ``baselines``; ``params`` are set on it.
    ``coverage_levels`` adds the offline coverage by level (fit on the first half, later
    half). ``report`` writes an HTML page with predicted against actual runtimes.
    """
    from hpcopt.estimate.evaluate import check_kind, configured_estimator, evaluate_online, offline_coverage_by_level

    check_kind(kind)
    _check_report(report, trace, force)
    workload = _load_trace(trace)
    ev = evaluate_online(workload, kind, baselines=baselines, confidence_level=confidence_level, seed=seed,
                         params=params, progress=progress)
    out = ev.payload
    out["trace"] = str(trace)
    if coverage_levels:
        out["offline_coverage_by_level"] = offline_coverage_by_level(
            workload, configured_estimator(kind, seed, confidence_level, params), list(coverage_levels))
    if report is not None:
        from hpcopt.report.estimate import write_evaluation_report

        write_evaluation_report(report, out, ev.replays)
        out["report"] = str(report)
    out["_extras"] = {"evaluation": ev, "workload": workload}
    return out


@task("estimate.train", inputs=("trace",), outputs=("model",), libraries=_LIBS)
def train(trace: str | Path, model: str | Path, seed: int = 0, n_estimators: int = 150,
          confidence_level: float = 0.9, force: bool = False, progress: ProgressFn | None = None) -> dict:
    """Fit GBMEstimator on a whole trace (features built by honest replay) and write the model directory.

    The directory appears whole or not at all: an existing non-empty one is refused before
    training unless ``force``, and a failed save leaves it untouched.
    """
    from hpcopt.core.files import atomic_directory
    from hpcopt.estimate.gbm import GBMEstimator

    w = _load_trace(trace)
    out = Path(model)
    if out.resolve() == Path(trace).resolve() or Path(trace).resolve().is_relative_to(out.resolve()):
        raise ConfigError(f"--out {out} would replace the trace {trace}; choose another directory")
    est = GBMEstimator(random_state=seed, n_estimators=n_estimators, confidence_level=confidence_level)
    with atomic_directory(out, force=force) as tmp:
        est.fit(w, progress=progress)
        est.save(tmp)
    return {
        "model": str(out),
        "trace": str(trace),
        "jobs": est.train_window_["jobs"],
        "features": est.feature_names_,
        "dropped_features": est.dropped_features_,
        "metrics": est.training_metrics_,
        "data_hash": est.data_hash_,
        "random_state": seed,
        "confidence_level": confidence_level,
        "model_kind": MODEL_KIND,
        "model_meta": {"features": est.feature_names_, "data_hash": est.data_hash_,
                       "train_window": est.train_window_, "params": est.get_params()},
        "_extras": {"estimator": est},
    }


@task("estimate.predict", inputs=("model", "trace"), libraries=_LIBS)
def predict(model: str | Path, trace: str | Path, confidence_level: float | None = None,
            allow_missing: bool = False) -> dict:
    """Estimates and intervals for every job of a trace, with accuracy where runtimes are known.

    ``model`` is a model directory (``estimate.train``'s; a ``model:NAME@alias`` reference
    is resolved by the runner).
    """
    from hpcopt.estimate.metrics import accuracy_metrics

    est = _load_model(model)
    w = _load_trace(trace)
    point, pis = est.predict_interval(w, confidence_level=confidence_level, allow_missing=allow_missing)
    rows = est.features(w, allow_missing=allow_missing).index.to_numpy()
    job_ids = w.column("job_id")[rows]
    ident = {c: w.jobs[c].astype(str).to_numpy()[rows] for c in w.identity_columns()}
    actual = w.column("runtime")[rows].astype(float)
    return {
        "model": str(model),
        "trace": str(trace),
        "confidence_level": confidence_level or est.confidence_level,
        "missing_features": getattr(est, "missing_features_", []),
        "metrics": accuracy_metrics(point, actual, pis[:, 0], pis[:, 1]),
        "drift": est.drift_check(w),
        # job_id is SWF field 1; the trace's own ids and names (Slurm's JobID, user, account) follow when present
        "predictions": [
            {"job_id": int(j), **{c: v[i] for c, v in ident.items()}, "estimate": float(e), "lower": float(lo),
             "upper": float(hi), "actual": float(a)}
            for i, (j, e, lo, hi, a) in enumerate(zip(job_ids, point, pis[:, 0], pis[:, 1], actual))
        ],
        "_extras": {"labels": w.job_labels()[rows]},
    }


def _no_such_job(w, job: str, trace) -> InputError:
    labels = w.job_labels()
    real = "native_job_id" in w.jobs.columns
    queued = w.queue is not None and job in set(w.queue.get("native_job_id", []))
    return InputError(f"no job with id {job}" + (" among the finished jobs (it is still in the queue)" if queued else ""),
                      source=str(trace), field="column JobID" if real else "field 1 (job number)",
                      hint=(f"the trace's job ids include {', '.join(labels[:3])} ... {labels[-1]}" if len(labels)
                            else "the trace has no finished jobs"))


def _fit_on_past(w, row: int, label: str, seed: int, trace):
    """A model trained on the jobs that completed before job ``row`` was submitted (no leakage)."""
    import numpy as np

    from hpcopt.data.workload import Workload
    from hpcopt.estimate.gbm import GBMEstimator

    submit = float(w.column("submit")[row])
    wait = w.column("wait").astype(float)
    end = w.column("submit") + np.where(wait >= 0, wait, 0.0) + w.column("runtime")
    before = (w.column("runtime") >= 0) & (end < submit)
    est = GBMEstimator(random_state=seed)
    if before.sum() < est.min_train_jobs:
        raise InputError(f"only {int(before.sum())} jobs completed before job {label} was submitted; "
                         f"{est.min_train_jobs} are needed to train", source=str(trace),
                         hint="pick a later job or pass --model")
    est.fit(Workload(w.jobs[before].reset_index(drop=True), dict(w.header), w.source))
    return est, f"{int(before.sum())} jobs completed before job {label}'s submission"


@task("estimate.explain", inputs=("trace", "model"), libraries=_LIBS)
def explain(trace: str | Path, job: str, model: str | Path | None = None, top: int = 8, seed: int = 0) -> dict:
    """The top feature contributions (TreeSHAP, log1p seconds) behind one job's estimate.

    Without ``model``, a model is trained on the jobs that completed before the job's submission.
    """
    w = _load_trace(trace)
    row = w.find_job(job)
    if row is None:
        raise _no_such_job(w, job, trace)
    label = str(w.job_labels()[row])
    if model is not None:
        est, trained_on = _load_model(model), str(model)
    else:
        est, trained_on = _fit_on_past(w, row, label, seed, trace)
    frame = est.features(w, allow_missing=True)
    if row not in frame.index:
        raise InputError(f"job {label} has no submit time or runtime to explain", source=str(trace))
    i = int(frame.index.get_loc(row))
    exp = est.explain(frame.iloc[[i]])
    point, pis = est.predict_interval(frame.iloc[[i]])
    return {
        "job_id": int(w.column("job_id")[row]),
        **{c: str(w.jobs[c].iloc[row]) for c in w.identity_columns()},
        "label": label,
        "trained_on": trained_on,
        "estimate_s": float(point[0]),
        "interval_s": [float(pis[0, 0]), float(pis[0, 1])],
        "actual_s": float(w.column("runtime")[row]),
        "requested_s": float(w.column("req_time")[row]),
        "base_log": float(exp.bias[0]),
        "prediction_log": float(exp.prediction_log[0]),
        "contributions": exp.top(0, top),
        "random_state": seed,
    }
