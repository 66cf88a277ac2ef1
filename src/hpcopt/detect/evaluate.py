"""Evaluate a detector on a labelled series with a fixed, label-free protocol.

Protocol: fit on the training part; calibrate the threshold on the training scores only
(POT or target false-alarm rate, the detector's parameters); score the test part (a
detector that looks back ``context_`` rows sees the end of the training part first, as it
would online); the test labels are used only to compute the metrics. The random baseline is evaluated beside it
with the same threshold method. With ``adapt`` the fixed threshold is replaced by SPOT/DSPOT,
which starts from the training scores and learns only from earlier unlabelled test scores.
"""

from __future__ import annotations

import copy
import math
import platform
import time

import numpy as np

from hpcopt.data.telemetry import LabelledSeries
from hpcopt.detect.base import BaseDetector, ProgressFn
from hpcopt.detect.thresholds import SPOT
from hpcopt.errors import ConfigError
from hpcopt.detect.metrics import (
    best_f1,
    event_metrics,
    hitrate,
    pa_f1,
    point_metrics,
    random_hitrate_expected,
    ranking_metrics,
)

__all__ = ["evaluate_series", "random_baseline", "inject_anomalies", "RANDOM_BASELINE_KEYS", "make_spot", "alert_metrics", "DSPOT_DEPTH", "summarise", "PRIMARY_KEYS", "SCHEMA"]

SCHEMA = "hpcopt.detect.evaluation/1"
#: DSPOT's default moving-average depth, chosen on ASD (100 against 10: mean F1 of pca, pca with
#: recentring and mad with change term 0.258 against 0.253), never on SMD test labels
DSPOT_DEPTH = 100
PRIMARY_KEYS = ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "false_alarms_per_day",
                "delay_steps_mean", "pa_f1", "best_f1_oracle", "hitrate_100", "hitrate_150")


def evaluate_series(detector: BaseDetector, series: LabelledSeries, *, with_culprits: bool = True,
                    adapt: str | None = None, adapt_params: dict | None = None,
                    progress: ProgressFn | None = None) -> dict:
    """Fit, score and evaluate; returns a flat dict of metrics plus protocol details.

    ``adapt="spot"`` or ``"dspot"`` replaces the fixed threshold by a streaming one
    (:class:`~hpcopt.detect.thresholds.SPOT`, the detector's ``risk`` and ``level``, extra
    parameters in ``adapt_params``, e.g. ``{"depth": 10}``): initial POT on the training
    scores, then updated causally from the unlabelled test scores as they arrive.

    Also returns ``scores`` and ``alerts`` (numpy arrays) and the fitted ``detector`` under
    ``"_arrays"`` for callers that want to write them out; JSON writers drop that key.
    """
    if series.labels is None:
        from hpcopt.errors import InputError

        raise InputError(f"{series.name}: no test labels to evaluate against")
    det = copy.deepcopy(detector)
    t0 = time.perf_counter()
    det.fit(series.train, progress=progress)
    fit_s = time.perf_counter() - t0
    # detectors with look-back (sequence models, change/recentring windows) continue from
    # the end of the training data, as they would online
    ctx = int(getattr(det, "context_", 0)) + int(det.smoothing) - 1
    ctx = min(ctx, series.train.shape[0])
    X_test = np.vstack([series.train[series.train.shape[0] - ctx:], series.test]) if ctx else series.test
    t0 = time.perf_counter()
    scores = det.decision_function(X_test)[ctx:]
    score_s = time.perf_counter() - t0
    threshold = det.threshold_.as_dict()
    if adapt:
        spot = make_spot(det, adapt, adapt_params)
        alerts, thr = spot.run(scores)
        threshold = spot.as_threshold().as_dict()
        threshold["details"].update({"threshold_first": float(thr[0]), "threshold_median": float(np.median(thr)),
                                     "threshold_last": float(thr[-1])})
    else:
        alerts = (scores > det.threshold_.value).astype(np.int8)
        thr = None
    y = series.labels
    out: dict = {"entity": series.name, "detector": type(det).__name__, "params": _jsonable(det.get_params()),
                 "random_state": det.random_state, "threshold": threshold,
                 "n_train": int(series.train.shape[0]), "n_test": int(series.test.shape[0]),
                 "n_metrics": series.n_metrics, "anomaly_ratio": float(y.mean())}
    out.update(alert_metrics(y, scores, alerts, interval_s=series.interval_s))
    if with_culprits and series.interpretation:
        rows = sorted({i for s in series.interpretation for i in range(s.start, s.end)})
        t0 = time.perf_counter()
        C = _explain_rows(det, X_test, [r + ctx for r in rows])[ctx:]
        out["explain_s"] = time.perf_counter() - t0
        out["hitrate_100"] = hitrate(C, series.interpretation, 1.0)
        out["hitrate_150"] = hitrate(C, series.interpretation, 1.5)
        out["hitrate_100_random"] = random_hitrate_expected(series.interpretation, series.n_metrics, 1.0)
        out["hitrate_150_random"] = random_hitrate_expected(series.interpretation, series.n_metrics, 1.5)
    out["fit_s"] = fit_s
    out["score_s"] = score_s
    out["score_samples_per_s"] = series.test.shape[0] / score_s if score_s > 0 else math.nan
    out["_arrays"] = {"scores": scores, "alerts": alerts, "detector": det, "thresholds": thr}
    return out


RANDOM_BASELINE_KEYS = ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "pa_f1",
                        "false_alarms_per_day")


def random_baseline(series: LabelledSeries, *, threshold: str = "pot", risk: float = 0.01, level: float = 0.95,
                    rate: float = 0.01, seed: int | None = 0, adapt: str | None = None,
                    adapt_params: dict | None = None) -> dict:
    """The chance row beside every evaluation: random scores, the same threshold method (and
    streaming update), no smoothing, evaluated on ``series`` like the detector."""
    from hpcopt.detect.detectors import RandomDetector

    det = RandomDetector(threshold=threshold, risk=risk, level=level, rate=rate, smoothing=1, random_state=seed)
    base = evaluate_series(det, series, with_culprits=False, adapt=adapt, adapt_params=adapt_params)
    return {k: base[k] for k in RANDOM_BASELINE_KEYS}


def inject_anomalies(reference: np.ndarray, rows: np.ndarray, seed: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """A label-free selection set: ``n`` synthetic anomalies in a copy of ``rows``, on the scales of
    ``reference`` (training rows): a level shift or every-other-step spikes of 3-6 standard
    deviations in 1-5 metrics for 10-60 steps (``numpy`` seed ``seed``). Returns the rows with
    the anomalies and their 0/1 positions."""
    rng = np.random.default_rng(seed)
    B = np.array(rows, dtype=np.float64, copy=True)
    y = np.zeros(len(B), np.int8)
    sd = np.maximum(np.asarray(reference).std(axis=0), 0.01)
    for _ in range(n):
        L = int(rng.integers(10, 61))
        t = int(rng.integers(0, len(B) - L))
        k = int(rng.integers(1, 6))
        cols = rng.choice(B.shape[1], k, replace=False)
        kind = rng.integers(0, 2)
        mag = rng.uniform(3, 6) * sd[cols] * rng.choice([-1, 1], k)
        if kind == 0:
            B[t:t + L, cols] += mag
        else:
            B[t:t + L:2, cols] += mag
        y[t:t + L] = 1
    return B, y


def alert_metrics(y, scores, alerts, *, interval_s: float = 60.0) -> dict:
    """Point, ranking and event metrics, PA-F1 and the oracle best F1 of one score/alert series."""
    out = {}
    out.update(point_metrics(y, alerts))
    out.update(ranking_metrics(y, scores))
    out.update(event_metrics(y, alerts, interval_s=interval_s))
    out["pa_f1"] = pa_f1(y, alerts)
    out["best_f1_oracle"] = best_f1(y, scores)["best_f1"]
    return out


def make_spot(det: BaseDetector, adapt: str, adapt_params: dict | None = None) -> SPOT:
    """A :class:`SPOT` (``"spot"``) or DSPOT (``"dspot"``, default depth 100) calibrated on the
    fitted detector's training scores, with the detector's ``risk`` and ``level``."""
    if adapt not in ("spot", "dspot"):
        raise ConfigError(f"adapt must be 'spot' or 'dspot'; got {adapt!r} instead.")
    params = {"risk": det.risk, "level": det.level}
    params.update(adapt_params or {})
    if adapt == "dspot":
        params.setdefault("depth", DSPOT_DEPTH)
        if not params["depth"]:
            raise ConfigError("DSPOT needs depth >= 1")
    else:
        if params.get("depth"):
            raise ConfigError("depth is DSPOT's moving-average depth; SPOT has none (use adapt='dspot')")
        params["depth"] = 0
    return SPOT(**params).fit(det.train_scores_)


def _explain_rows(det: BaseDetector, X: np.ndarray, rows: list[int]) -> np.ndarray:
    """Contributions for the requested rows only (the rest stay zero).

    Detectors explain row by row except for the smoothing window and a sequence model's
    context, so each block of consecutive rows is explained with that much history.
    """
    C = np.zeros_like(X, dtype=np.float64)
    if not rows:
        return C
    if det.transductive:
        # its contributions depend on the rows explained with them: explain the whole test
        # part once (as it was scored), never a set of rows chosen by the labels
        full = det.explain(X)
        C[rows] = full[rows]
        return C
    ctx = int(getattr(det, "context_", 0)) + int(det.smoothing) - 1
    blocks = []
    start = prev = rows[0]
    for r in rows[1:]:
        if r != prev + 1:
            blocks.append((start, prev + 1))
            start = r
        prev = r
    blocks.append((start, prev + 1))
    for s, e in blocks:
        lo = max(0, s - ctx)
        C[s:e] = det.explain(X[lo:e])[s - lo:]
    return C


def _jsonable(params: dict) -> dict:
    out = {}
    for k, v in params.items():
        if isinstance(v, (list, tuple)):
            out[k] = [repr(x) for x in v]
        elif v is None or isinstance(v, (bool, int, float, str)):
            out[k] = v
        else:
            out[k] = repr(v)
    return out


def summarise(results: list[dict]) -> dict:
    """Mean over entities of every numeric primary metric (NaNs ignored), plus environment."""
    mean = {}
    keys = list(PRIMARY_KEYS) + ["hitrate_100_random", "hitrate_150_random", "fit_s", "score_samples_per_s",
                                 "false_alarm_events", "alert_rate"]
    for k in keys:
        vals = [r[k] for r in results if isinstance(r.get(k), (int, float)) and not math.isnan(r[k])]
        if vals:
            mean[k] = float(np.mean(vals))
    return {"mean": mean, "n_entities": len(results),
            "env": {"python": platform.python_version(), "numpy": np.__version__, "machine": platform.machine()}}
