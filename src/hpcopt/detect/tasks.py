"""The detect use cases as tasks: evaluate, fit, score, hpas, nab (see :mod:`hpcopt.core.tasks`).

Every face runs these (``hpcopt detect ...``, REST, MCP) and renders the payload. Each
checks its output paths before any work, reads its inputs through the data layer, and
writes its files itself (scores CSV, HTML report, the saved detector). ``detect stream`` is
a long-running loop, not a task: :func:`hpcopt.detect.stream.run_stream`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hpcopt.core.progress import ProgressFn
from hpcopt.core.tasks import task
from hpcopt.detect.config import (adapt_params, check_training_rows, configured_detector, naming,
                                  score_threshold, split_threshold)
from hpcopt.detect.defaults import DEFAULT_CONFIG as _DC
from hpcopt.detect.defaults import SHORT_SERIES_RECENTER_WINDOW
from hpcopt.errors import InputError

__all__ = ["evaluate", "fit", "score", "hpas", "nab", "alert_runs"]

_LIBS = ("numpy", "scipy", "scikit-learn", "torch", "pyod")


def _outputs(force: bool, inputs: list, **outs) -> None:
    """Check every output path before any work (parents made, inputs and existing files kept)."""
    from hpcopt.core.files import prepare_output

    for option, path in outs.items():
        if path is not None:
            prepare_output(path, inputs=inputs, force=force, option="--" + option.replace("_", "-"))


def _load(path, fmt: str, fill_missing: bool, repairs):
    """One telemetry input through the data layer's readers (``format``)."""
    from hpcopt.data.telemetry import read_telemetry

    return read_telemetry(path, format=fmt, missing="ffill" if fill_missing else "error", repairs=repairs)


def _write_csv(path, columns: dict) -> str:
    import pandas as pd

    from hpcopt.core.files import atomic_write_text

    atomic_write_text(Path(path), pd.DataFrame(columns).to_csv(index=False))
    return str(path)


@task("detect.evaluate", schema="hpcopt.detect.evaluation", version=1,
      inputs=("train", "test", "labels", "interpretation"), outputs=("scores_out", "report"), libraries=_LIBS)
def evaluate(train: str | Path, test: str | Path, labels: str | Path, interpretation: str | Path | None = None,
             format: str = "auto", detector: str = _DC["detector"], threshold: str = _DC["threshold"],
             depth: int | None = None, max_peaks: int | None = None, censored: bool = _DC["censored"],
             risk: float = _DC["risk"], level: float = _DC["level"], rate: float = _DC["rate"],
             smoothing: int = _DC["smoothing"], interval_s: float = 60.0, seed: int = _DC["seed"],
             threads: int | None = None, recenter_window: int = _DC["recenter_window"], fill_missing: bool = False,
             scores_out: str | Path | None = None, report: str | Path | None = None, force: bool = False,
             progress: ProgressFn | None = None) -> dict:
    """Fit on ``train``, threshold from training scores only, evaluate on ``test`` beside a random detector.

    The threshold is calibrated on the training scores only (``spot``/``dspot``: then updated
    causally on the unlabelled test scores); the test labels are read only for the metrics.
    The random baseline uses the same threshold method on the same series.
    """
    from hpcopt.data.telemetry import LabelledSeries, RepairLog, read_interpretation, read_labels
    from hpcopt.detect.evaluate import evaluate_series, random_baseline

    _outputs(force, [train, test, labels, interpretation], scores_out=scores_out, report=report)
    base_threshold, adapt = split_threshold(threshold)
    ap = adapt_params(adapt, depth, max_peaks, censored)
    repairs = RepairLog()
    tr = _load(train, format, fill_missing, repairs)
    te = _load(test, format, fill_missing, repairs)
    if te.values.shape[1] != tr.values.shape[1]:
        raise InputError(f"{te.values.shape[1]} metrics but the training file has {tr.values.shape[1]}",
                         source=te.source, hint="train and test need the same metrics in the same order")
    if tr.metric_names and te.metric_names and tr.metric_names != te.metric_names:
        k = next(i for i, (a, b) in enumerate(zip(tr.metric_names, te.metric_names)) if a != b)
        raise InputError(f"metric {k + 1} is {te.metric_names[k]!r} but {tr.metric_names[k]!r} in the training file",
                         source=te.source, field="header", hint="train and test need the same metrics in the same order")
    names = tr.metric_names or te.metric_names
    y = read_labels(labels, n_rows=te.values.shape[0])
    interp = (read_interpretation(interpretation, n_rows=te.values.shape[0], n_metrics=tr.values.shape[1])
              if interpretation else None)
    series = LabelledSeries(Path(test).name, tr.values, te.values, y, interp, interval_s, names, repairs)
    det = configured_detector(detector, base_threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                              seed=seed, n_threads=threads, recenter_window=recenter_window)
    check_training_rows(det, tr.values.shape[0], recenter_window, tr.source)
    res = evaluate_series(det, series, adapt=adapt, adapt_params=ap, progress=progress)
    arrays = res.pop("_arrays")
    from hpcopt.detect.evaluate import SCHEMA

    res["schema"] = SCHEMA
    res["format"] = {"train": tr.format, "test": te.format}
    res["metric_names"] = names
    res["config"] = {"detector": detector, "threshold": threshold, "recenter_window": recenter_window,
                     "smoothing": smoothing, "risk": risk, "level": level, "seed": seed}
    res["repairs"] = repairs.as_dict()
    res["random_baseline"] = random_baseline(series, threshold=base_threshold, risk=risk, level=level, rate=rate,
                                             seed=seed, adapt=adapt, adapt_params=ap)
    res["protocol"] = ("fit on --train; threshold calibrated on training scores only "
                       f"({threshold}" + (", then updated causally from the unlabelled test scores" if adapt else "")
                       + "); test labels used only for the metrics; pa_f1 and best_f1_oracle are secondary")
    if scores_out is not None:
        cols = {"index": range(len(y)), "score": arrays["scores"], "alert": arrays["alerts"], "label": y}
        if arrays.get("thresholds") is not None:
            cols["threshold"] = arrays["thresholds"]
        res["scores_out"] = _write_csv(scores_out, cols)
    if report is not None:
        from hpcopt.detect.report import write_report

        write_report(report, series, arrays["detector"], arrays["scores"], arrays["alerts"], res,
                     thresholds=arrays.get("thresholds"))
        res["report"] = str(report)
    # the alert runs an operator would see, each with its culprit metrics (label-free)
    # (the first 20: explaining is a pass of the detector per run; alert_events counts them all)
    res["alerts"] = alert_runs(arrays["detector"], te.values, arrays["scores"], arrays["alerts"], top_k=3,
                               label=te.metric_label, limit=20)
    res["_extras"] = {"detector": arrays["detector"], "scores": arrays["scores"], "alerts": arrays["alerts"]}
    return res


@task("detect.fit", inputs=("train",), outputs=("model",), libraries=_LIBS)
def fit(train: str | Path, model: str | Path, format: str = "auto", detector: str = _DC["detector"],
        threshold: str = _DC["threshold"], risk: float = _DC["risk"], level: float = _DC["level"],
        rate: float = _DC["rate"], smoothing: int = _DC["smoothing"], seed: int = _DC["seed"],
        threads: int | None = None, recenter_window: int = _DC["recenter_window"], fill_missing: bool = False,
        force: bool = False, progress: ProgressFn | None = None) -> dict:
    """Fit a detector on training telemetry and save it with its label-free threshold.

    ``model`` is the file written (:mod:`hpcopt.detect.model_file`: a zip of JSON and .npz
    with SHA-256 checksums, no pickle). With ``spot``/``dspot`` the POT threshold on the
    training scores is saved; scoring and streaming then update it on the scored rows.
    """
    from hpcopt.data.telemetry import RepairLog

    _outputs(force, [train], out=model)
    base_threshold, adapt = split_threshold(threshold)
    repairs = RepairLog()
    tel = _load(train, format, fill_missing, repairs)
    X = tel.values
    det = configured_detector(detector, base_threshold, risk=risk, level=level, rate=rate, smoothing=smoothing,
                              seed=seed, n_threads=threads, recenter_window=recenter_window)
    check_training_rows(det, X.shape[0], recenter_window, tel.source)
    with naming(tel.source):
        det.fit(X, progress=progress)
    det.save(model)
    thr = det.threshold_
    return {"model": str(model), "detector": detector, "n_train": int(X.shape[0]), "n_metrics": int(X.shape[1]),
            "metric_names": tel.metric_names, "format": tel.format, "random_state": seed,
            "threshold": thr.as_dict(), "threshold_update": adapt, "repairs": repairs.as_dict(),
            "model_kind": "detector",
            "model_meta": {"detector": detector, "class": type(det).__name__, "n_metrics": int(X.shape[1]),
                           "metric_names": tel.metric_names, "threshold_method": thr.method,
                           "threshold_update": adapt, "random_state": seed},
            "metrics": {"threshold": float(thr.value), "n_train": int(X.shape[0]),
                        "train_alert_rate": float(np.mean(det.train_scores_ > thr.value))},
            "_extras": {"detector": det}}


def alert_runs(det, X: np.ndarray, scores: np.ndarray, alerts: np.ndarray, *, top_k: int = 3,
               label=lambda j: j + 1, limit: int | None = None) -> list[dict]:
    """Each run of alerts with its peak score and the ``top_k`` culprit metrics (mean contributions
    over the run, explained with the detector's look-back before it); ``label(j)`` names metric ``j``."""
    from hpcopt.data.telemetry import label_segments

    out = []
    for st, en in label_segments(alerts)[:limit]:
        C = det.explain(X[max(0, st - det.context_ - det.smoothing + 1):en])[-(en - st):].mean(axis=0)
        order = np.argsort(-C, kind="stable")[:top_k]
        out.append({"start": st, "end": en, "peak_score": float(scores[st:en].max()),
                    "culprits": [{"metric": label(int(j)), "contribution": float(C[j])} for j in order]})
    return out


@task("detect.score", inputs=("model", "input"), outputs=("scores_out",), libraries=_LIBS)
def score(model: str | Path, input: str | Path, format: str = "auto", threshold: str = _DC["threshold"],
          depth: int | None = None, scores_out: str | Path | None = None, top_k: int = 3,
          fill_missing: bool = False, force: bool = False) -> dict:
    """Score telemetry with a saved detector; list the alert runs with their culprit metrics.

    ``model`` is a file saved by ``detect.fit`` or a registered model's directory (a face
    resolves ``model:NAME@alias``). ``threshold``: ``fixed`` (the model's own), or
    ``spot``/``dspot`` (start from POT on the model's training scores, updated on the
    scored rows in order; no label read).
    """
    from hpcopt.data.telemetry import RepairLog
    from hpcopt.detect import load_detector

    _outputs(force, [model, input], scores_out=scores_out)
    adapt = score_threshold(threshold)
    ap = adapt_params(adapt, depth, None)
    det = load_detector(model)
    repairs = RepairLog()
    tel = _load(input, format, fill_missing, repairs)
    X = tel.values
    with naming(tel.source):
        s = det.decision_function(X)
    thresholds = None
    if adapt:
        from hpcopt.detect.evaluate import make_spot

        a, thresholds = make_spot(det, adapt, ap).run(s)
        a = np.asarray(a, dtype=np.int8)
    else:
        a = (s > det.threshold_.value).astype(np.int8)
    alerts = alert_runs(det, X, s, a, top_k=top_k, label=tel.metric_label)
    res = {"n_rows": int(len(s)), "format": tel.format, "threshold_method": threshold,
           "threshold": det.threshold_.value, "alert_rate": float(a.mean()), "alerts": alerts,
           "repairs": repairs.as_dict(),
           "note": ("culprit metrics are named by the input's columns" if tel.metric_names
                    else "culprit metric numbers are 1-based columns of the input")}
    if thresholds is not None:
        res["threshold_final"] = float(np.asarray(thresholds)[-1]) if len(s) else None
    if scores_out is not None:
        cols = {"index": range(len(s)), "score": s, "alert": a}
        if thresholds is not None:
            cols["threshold"] = thresholds
        res["scores_out"] = _write_csv(scores_out, cols)
    res["_extras"] = {"scores": s, "alerts": a}
    return res


@task("detect.hpas", inputs=("data",), outputs=("report",), libraries=_LIBS)
def hpas(data: str | Path, detector: str = _DC["detector"], apps: list[str] | None = None, seed: int = _DC["seed"],
         per_core: bool = False, threshold: str = _DC["threshold"], depth: int | None = None,
         recenter_window: int = SHORT_SERIES_RECENTER_WINDOW, train_on: str = "healthy",
         report: str | Path | None = None, force: bool = False, progress: ProgressFn | None = None) -> dict:
    """Per-run event recall and false alarms on LDMS runs with HPAS-injected anomalies.

    Beside each run's figures, two chance floors: random alerts at the run's own rate, and the
    run's own alerts shifted circularly (:func:`hpcopt.detect.hpas.evaluate_hpas`).
    """
    from hpcopt.detect.hpas import evaluate_hpas, write_hpas_report

    _outputs(force, [data], report=report)
    base_threshold, adapt = split_threshold(threshold)
    det = configured_detector(detector, base_threshold, seed=seed, recenter_window=recenter_window)
    res = evaluate_hpas(data, det, apps=tuple(apps) if apps else None, per_core=per_core, adapt=adapt,
                        adapt_params=adapt_params(adapt, depth, None), train_on=train_on,
                        keep_scores=report is not None, progress=progress)
    if report is not None:
        write_hpas_report(report, res)
        res["report"] = str(report)
        for r in res["runs"]:
            r.pop("_arrays", None)
    return res


@task("detect.nab", inputs=("data",), libraries=_LIBS)
def nab(data: str | Path, detector: str = _DC["detector"], seed: int = _DC["seed"],
        threshold: str = _DC["threshold"], level: float = 0.90, risk: float = _DC["risk"],
        recenter_window: int = SHORT_SERIES_RECENTER_WINDOW, progress: ProgressFn | None = None) -> dict:
    """hpcopt's metrics and NAB's own score (three profiles; alerted rows and alert onsets) on a NAB folder.

    ``level`` 0.90: NAB's probationary periods are short, so POT starts from a lower quantile
    (the one departure from the common default 0.95). Beside the scores, the chance floor of
    each file's own alerts shifted circularly (:func:`hpcopt.detect.nab.evaluate_nab`).
    """
    from hpcopt.detect.nab import evaluate_nab

    base_threshold, adapt = split_threshold(threshold)
    det = configured_detector(detector, base_threshold, risk=risk, level=level, seed=seed,
                              recenter_window=recenter_window)
    return evaluate_nab(data, det, adapt=adapt, adapt_params={"min_peaks": 10} if adapt else None,
                        progress=progress)
