"""The multi-model online evaluation: an estimator beside the baselines on one trace.

Each model is a fresh online estimator (by name, :mod:`hpcopt.estimate.registry`)
replayed through :func:`~hpcopt.estimate.replay.replay_trace`: every job is estimated at
its submit time from the jobs completed strictly earlier (the trace's own schedule),
retraining as a deployment would. Metrics per model and group of users come from
:func:`~hpcopt.estimate.metrics.grouped_metrics`; a model that gives intervals and keeps
its learned state (GBMEstimator's ``lower_``/``upper_``/``trained_``) is also scored on the
jobs a trained model estimated, on the later half of the trace and by quarter.

``offline_coverage_by_level`` is the second protocol of the accuracy benchmark: fit on the
jobs submitted in the first half, intervals for the later half at several levels.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from hpcopt.data.workload import Workload
from hpcopt.errors import ConfigError
from hpcopt.estimate.metrics import accuracy_metrics, grouped_metrics
from hpcopt.estimate.replay import Replay, replay_trace

__all__ = ["BASELINES", "PROTOCOL", "Evaluation", "evaluate_online", "offline_coverage_by_level",
           "versus_baselines", "check_kind", "configured_estimator"]

BASELINES = ("tsafrir", "requested")
PROTOCOL = ("online replay: estimate at submit time from jobs completed strictly earlier "
            "(end = submit + wait + runtime)")
COVERAGE_TOLERANCE = 0.03  # the later-half coverage claim: within 3 points of the nominal level


@dataclass
class Evaluation:
    """The JSON-friendly payload and, for renderers, the replays and estimators behind it."""

    payload: dict[str, Any]
    replays: dict[str, Replay] = field(default_factory=dict)
    estimators: dict[str, Any] = field(default_factory=dict)
    wall_s: dict[str, float] = field(default_factory=dict)


def check_kind(kind: str) -> None:
    from hpcopt.core.registry import did_you_mean
    from hpcopt.estimate.registry import ONLINE_ESTIMATORS

    names = ONLINE_ESTIMATORS.names()
    if kind not in names:
        raise ConfigError(f"--kind must be one of {', '.join(names)}; got {kind!r}{did_you_mean(kind, names)}")


def configured_estimator(kind: str, seed: int, confidence_level: float, params: dict[str, Any] | None):
    from hpcopt.estimate.registry import make_online

    est = make_online(kind, random_state=seed)
    has_params = hasattr(est, "get_params") and hasattr(est, "set_params")
    if params:
        if not has_params:
            raise ConfigError(f"the estimator {kind!r} has no parameters to set; got {', '.join(params)}")
        est.set_params(**params)
    if has_params and "confidence_level" in est.get_params():
        est.set_params(confidence_level=confidence_level)
    return est


def _interval_detail(est, r: Replay, m: dict[str, Any]) -> None:
    """Metrics only a learned model with intervals has (see the module docstring)."""
    lower, upper = est.lower_[r.rows], est.upper_[r.rows]
    later = r.submit >= np.median(r.submit)
    m["later_half"] = accuracy_metrics(r.estimate[later], r.actual[later], lower[later], upper[later])
    quarters = np.array_split(np.argsort(r.submit, kind="stable"), 4)
    m["coverage_by_quarter"] = [float(np.mean((r.actual[q] >= lower[q]) & (r.actual[q] <= upper[q])))
                                for q in quarters]
    m["median_interval_width"] = float(np.median(upper - lower))
    trained = getattr(est, "trained_", None)
    if trained is not None:
        t = trained[r.rows]
        m["trained_jobs"] = accuracy_metrics(r.estimate[t], r.actual[t], lower[t], upper[t])
        m["trained_jobs"]["median_interval_width"] = float(np.median((upper - lower)[t])) if t.any() else None
    if hasattr(est, "trainings_") or trained is not None:
        m["trainings"] = int(getattr(est, "trainings_", 0))
    own = getattr(est, "model_estimate_", None)
    if own is not None:  # ablation: the model's own estimates, without the per-user choice
        m["model_only"] = accuracy_metrics(own[r.rows], r.actual)


def evaluate_online(workload: Workload, kind: str = "gbm", *, baselines: bool = True, confidence_level: float = 0.9,
                    seed: int = 0, params: dict[str, Any] | None = None,
                    progress: Callable[[int, int, str], None] | None = None) -> Evaluation:
    """Replay ``kind`` (and, with ``baselines``, Tsafrir's and the requested time) on ``workload``.

    ``params`` are set on ``kind``'s estimator (e.g. GBMEstimator's ``retrain_every``);
    ``confidence_level`` on every estimator that has that parameter.
    """
    check_kind(kind)
    if not 0 < confidence_level < 1:
        raise ConfigError(f"--confidence-level must be in (0, 1); got {confidence_level!r}")
    names = [kind] + ([m for m in BASELINES if m != kind] if baselines else [])
    out: dict[str, Any] = {"trace": str(workload.source), "protocol": PROTOCOL, "random_state": seed,
                           "confidence_level": confidence_level, "read_notes": list(workload.read_notes)}
    ev = Evaluation(out)
    results: dict[str, Any] = {}
    for name in names:
        est = configured_estimator(name, seed, confidence_level, params if name == kind else None)
        if name == kind and hasattr(est, "get_params"):
            out["params"] = est.get_params()
        step = None
        if progress is not None:
            def step(done: int, total: int, message: str = "", _n=name) -> None:
                progress(done, total, f"{_n} {message}".strip())
        t0 = time.perf_counter()
        r = replay_trace(workload, est, progress=step)
        ev.wall_s[name] = time.perf_counter() - t0
        lower = getattr(est, "lower_", None)
        upper = getattr(est, "upper_", None)
        lo = lower[r.rows] if lower is not None else None
        m = grouped_metrics(r.estimate, r.actual, r.user_history, lo, upper[r.rows] if lo is not None else None)
        if lo is not None:
            _interval_detail(est, r, m)
        source = getattr(est, "source_", None)
        sources = getattr(est, "SOURCES", None)
        if source is not None and sources is not None:
            # which estimate was answered, per job: the model's or a baseline chosen for the user
            counts = {s: int((source[r.rows] == i).sum()) for i, s in enumerate(sources)}
            m["sources"] = counts
            if name == kind:
                out["gbm_sources" if name == "gbm" else "sources"] = counts
        if getattr(est, "dropped_features_", None):
            m["dropped_features"] = dict(est.dropped_features_)
        if getattr(est, "feature_names_", None):
            m["features"] = list(est.feature_names_)
        results[name] = m
        ev.replays[name] = r
        ev.estimators[name] = est
    out.update(results[kind]["all"])
    out["kind"] = kind
    out["by_model"] = results
    if baselines:
        out["versus_baselines"] = versus_baselines(results, kind, confidence_level)
    return ev


def versus_baselines(by_model: dict[str, Any], kind: str, confidence_level: float) -> dict[str, bool]:
    """The claims the accuracy benchmark checks: ``kind`` more accurate than both baselines,
    a lower MAE than Tsafrir's, and (with intervals) coverage on the later half within
    3 points of the nominal level."""
    g = by_model[kind]["all"]
    others = [by_model[b]["all"] for b in BASELINES if b in by_model and b != kind]
    out = {"accuracy_beats_both": bool(others) and all(g["accuracy"] > o["accuracy"] for o in others)}
    if "tsafrir" in by_model and kind != "tsafrir":
        out["mae_beats_tsafrir"] = bool(g["mae"] < by_model["tsafrir"]["all"]["mae"])
    later = by_model[kind].get("later_half", {})
    if "coverage" in later:
        out["later_coverage_within_3_points"] = bool(abs(later["coverage"] - confidence_level) <= COVERAGE_TOLERANCE)
    return out


def offline_coverage_by_level(workload: Workload, estimator, levels: list[float]) -> dict[str, float]:
    """Coverage on the later half (by submit time) of intervals from ``estimator`` fitted
    offline on the first half, at each of ``levels`` (one set of calibration scores)."""
    for lv in levels:
        if not 0 < lv < 1:
            raise ConfigError(f"coverage levels must be in (0, 1); got {lv!r}")
    if not (hasattr(estimator, "fit") and hasattr(estimator, "predict_interval")):
        raise ConfigError(f"{type(estimator).__name__} has no offline fit/predict_interval to measure coverage by level")
    submit = workload.column("submit")
    half = submit < np.median(submit)
    model = estimator.fit(Workload(workload.jobs[half].reset_index(drop=True), dict(workload.header),
                                   workload.source))
    X = model.features(workload)
    rows = X.index.to_numpy()
    later = ~half[rows]
    actual = workload.column("runtime")[rows][later]
    out = {}
    for level in levels:
        _, pis = model.predict_interval(X[later], confidence_level=level)
        out[str(level)] = float(np.mean((actual >= pis[:, 0]) & (actual <= pis[:, 1])))
    return out
