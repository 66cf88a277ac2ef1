"""HPAS-injected anomalies in LDMS telemetry (shared/data/telemetry/hpas_ldms): features and evaluation.

The runs' labels and features (LDMS files on a 1-second grid, counters as rates, per-run
normalisation against the first ``baseline_s`` seconds) are read by
:mod:`hpcopt.data.corpora.hpas`; its names stay importable here.

Protocol of :func:`evaluate_hpas`: per application, fit the detector on that application's
healthy run (threshold from its training scores only), then score every anomalous run of
the same application; report per run the event recall of the injected windows, the false
alarms (alert runs touching no window), point-wise F1 and AUROC. ``train_on="past-runs"``
fits, for each scored run, on the healthy run plus the normal seconds of the runs that
ended before it started; ``"other-runs"`` on those of every other run (leave one run out,
later runs included: optimistic).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from hpcopt.data.corpora.hpas import _labels_for, hpas_run_features, is_counter, load_hpas_labels
from hpcopt.data.telemetry import RepairLog, label_segments
from hpcopt.detect.base import BaseDetector, ProgressFn
from hpcopt.detect.metrics import circular_shift_floor, point_metrics, ranking_metrics
from hpcopt.errors import InputError

__all__ = ["load_hpas_labels", "hpas_run_features", "evaluate_hpas", "is_counter", "write_hpas_report", "TRAIN_ON"]


#: where the normal model of a scored run comes from (see :func:`evaluate_hpas`)
TRAIN_ON = ("healthy", "past-runs", "other-runs")


def evaluate_hpas(root: str | Path, detector: BaseDetector, *, apps: tuple[str, ...] | None = None,
                  baseline_s: int = 30, per_core: bool = False, adapt: str | None = None,
                  adapt_params: dict | None = None, train_on: str = "healthy", keep_scores: bool = False,
                  progress: ProgressFn | None = None) -> dict:
    """Per-run event recall and false alarms of ``detector`` on the HPAS/LDMS runs.

    ``train_on="healthy"``: per application, the detector is fitted once on the application's
    one healthy run (no label is read). ``train_on="past-runs"``: for each scored run, the
    detector is fitted on the healthy run plus the seconds *outside* the anomaly windows of
    the application's runs that *ended before the scored run started* (ordered by their
    first LDMS timestamp) -- what an operator could have trained on at the time.
    ``train_on="other-runs"`` (leave one run out) uses *every* other run, later ones
    included: an optimistic, cross-validation-style figure, not a deployable one. In both,
    the labels of the scored run are never read; those of the other runs only select their
    normal seconds (semi-supervised, as when an operator trains on known-good periods). The
    normal seconds are pooled: a detector with look-back or smoothing sees joins between
    runs and across each removed window in its training data, and the seconds right after a
    window may still carry its after-effects. The threshold always comes from the training
    scores only.

    ``adapt="spot"``/``"dspot"`` runs a streaming threshold over each run's scores, calibrated
    on the training scores (a fresh one per run). Each run gets two chance floors that
    event recall must be read against: ``event_recall_random_same_rate``, the event recall
    of independent random alerts at the run's own alert rate ``r`` (a window of ``L``
    seconds is hit with probability ``1 - (1 - r)^L``), and ``event_recall_shifted``, that
    of the run's own alerts shifted circularly (:func:`shifted_event_recall`), which keeps
    their clustering.
    ``keep_scores=True`` adds each run's ``index``, ``scores``, ``alerts`` and ``labels``
    under ``"_arrays"`` (for :func:`write_hpas_report`).
    """
    import copy

    from hpcopt.errors import ConfigError

    if train_on not in TRAIN_ON:
        raise ConfigError(f"train_on (--train-on) must be one of {', '.join(TRAIN_ON)}; got {train_on!r} instead.")
    root = Path(root)
    lab = load_hpas_labels(root)
    app_names = sorted(lab["app"].unique()) if apps is None else list(apps)
    unknown = sorted(set(app_names) - set(lab["app"].unique()))
    if unknown:
        raise InputError(f"no runs of application(s) {', '.join(unknown)}; the labels list "
                         f"{', '.join(sorted(lab['app'].unique()))}", source=str(root))
    out_runs = []
    repairs = RepairLog()
    total = int(lab[lab["app"].isin(app_names) & (lab["n_anomalies"] > 0)]["run_id"].nunique())
    done = 0
    fitted = {}
    for app in app_names:
        healthy = lab[(lab["app"] == app) & (lab["n_anomalies"] == 0)]["run_id"].unique()
        if len(healthy) != 1:
            raise InputError(f"{app}: expected one healthy run, found {len(healthy)}", source=str(root))
        Xtr = hpas_run_features(root / "runs" / healthy[0], baseline_s=baseline_s, per_core=per_core,
                                repairs=repairs)
        # every anomalous run of the application: features on the healthy run's columns, labels
        runs = {}
        span = {}  # run -> (first, last) LDMS timestamp
        for run_id, g in lab[(lab["app"] == app) & (lab["n_anomalies"] > 0)].groupby("run_id", sort=True):
            X = hpas_run_features(root / "runs" / run_id, baseline_s=baseline_s, per_core=per_core,
                                  repairs=repairs)
            span[run_id] = (X.attrs["start_time"], X.attrs["start_time"] + float(X.index[-1]))
            X = X.reindex(columns=Xtr.columns)
            missing = int(X.isna().all(axis=0).sum())
            if missing:
                raise InputError(f"{run_id}: {missing} metrics of the healthy run are missing", source=str(root))
            X = X.ffill().bfill()
            windows = [(float(r.start_s), float(r.end_s), str(r.anomaly)) for r in g.itertuples()]
            runs[run_id] = (X, windows, _labels_for(X.index.to_numpy(), [(w[0], w[1]) for w in windows]))
        fitted[app] = {"train_on": train_on, "train_run": healthy[0], "n_features": int(Xtr.shape[1])}
        if train_on == "healthy":
            det = copy.deepcopy(detector).fit(Xtr.to_numpy())
            fitted[app].update(n_train=int(len(Xtr)), threshold=det.threshold_.value,
                               threshold_method=det.threshold_.method)
            if adapt:
                from hpcopt.detect.evaluate import make_spot

                start = make_spot(det, adapt, adapt_params)  # each run starts from this state
                fitted[app].update(threshold=float(start.threshold_), threshold_method=start.method)
        else:
            fitted[app]["per_run"] = "one fit per scored run: see each run's n_train, train_runs and threshold"
        for run_id, (X, windows, y) in runs.items():
            n_train, train_runs = len(Xtr), [healthy[0]]
            if train_on != "healthy":
                others = [o for o in runs if o != run_id
                          and (train_on == "other-runs" or span[o][1] <= span[run_id][0])]
                pooled = np.vstack([Xtr.to_numpy()] + [runs[o][0].to_numpy()[runs[o][2] == 0] for o in others])
                n_train, train_runs = int(len(pooled)), [healthy[0], *others]
                det = copy.deepcopy(detector).fit(pooled)
            s = det.decision_function(X.to_numpy())
            if adapt:
                from hpcopt.detect.evaluate import make_spot

                spot = make_spot(det, adapt, adapt_params)
                start_threshold = float(spot.threshold_)
                a, _ = spot.run(s)
            else:
                start_threshold = float(det.threshold_.value)
                a = (s > det.threshold_.value).astype(np.int8)
            idx = X.index.to_numpy()
            det_w = []
            for st, en, kind in windows:
                m = (idx >= st) & (idx < en)
                hit = np.flatnonzero(a[m])
                det_w.append({"anomaly": kind, "start_s": st, "end_s": en, "detected": bool(hit.size),
                              "delay_s": float(idx[m][hit[0]] - st) if hit.size else None})
            false_runs = sum(1 for s0, e0 in label_segments(a) if not y[s0:e0].any())
            row = {"run_id": run_id, "app": app, "n_rows": int(len(idx)), "n_train": n_train, "train_runs": train_runs,
                   "threshold": start_threshold, "anomalous_share": float(y.mean()),
                   "windows": det_w, "event_recall": float(np.mean([w["detected"] for w in det_w])),
                   "false_alarms": int(false_runs), "alert_rate_outside": float(a[y == 0].mean()) if (y == 0).any()
                   else math.nan}
            r_alert = float(a.mean())
            row["event_recall_random_same_rate"] = float(np.mean(
                [1.0 - (1.0 - r_alert) ** int(((idx >= st) & (idx < en)).sum()) for st, en, _ in windows]))
            row["event_recall_shifted"] = shifted_event_recall(
                a, [np.flatnonzero((idx >= st) & (idx < en)) for st, en, _ in windows])
            row.update(point_metrics(y, a))
            row.update(ranking_metrics(y, s))
            if keep_scores:
                row["_arrays"] = {"index": idx, "scores": s, "alerts": a, "labels": y}
            out_runs.append(row)
            done += 1
            if progress:
                progress(done, total, run_id)
    by_kind: dict[str, list[bool]] = {}
    for r in out_runs:
        for w in r["windows"]:
            by_kind.setdefault(w["anomaly"], []).append(w["detected"])
    mean = {k: float(np.nanmean([r[k] for r in out_runs])) for k in
            ("event_recall", "event_recall_random_same_rate", "event_recall_shifted", "false_alarms", "f1", "precision", "recall", "auroc",
             "alert_rate", "alert_rate_outside", "anomalous_share")}
    return {"detector": repr(detector), "random_state": detector.random_state, "baseline_s": baseline_s,
            "per_core": per_core, "threshold": adapt or detector.threshold, "train_on": train_on,
            "fitted": fitted, "mean_over_runs": mean,
            "window_recall_by_anomaly": {k: float(np.mean(v)) for k, v in sorted(by_kind.items())},
            "n_windows_by_anomaly": {k: len(v) for k, v in sorted(by_kind.items())},
            "repairs": repairs.as_dict(), "runs": out_runs}


def shifted_event_recall(alerts: np.ndarray, windows: list[np.ndarray], n_shifts: int = 100) -> float:
    """Event recall of the run's own alert sequence shifted circularly by ``n_shifts`` evenly
    spaced offsets (mean over offsets; :func:`~hpcopt.detect.metrics.circular_shift_floor`):
    a chance floor that keeps the alerts' rate *and* their clustering, where
    ``1 - (1 - r)^L`` assumes independent alerts and so overstates what chance reaches when
    alerts come in runs. Windows are arrays of row positions."""
    spans = [(int(w.min()), int(w.max()) + 1) for w in windows if w.size]
    if np.asarray(alerts).size == 0 or not spans:
        return math.nan
    hits = circular_shift_floor([alerts], lambda s: [bool(s[0][lo:hi].any()) for lo, hi in spans],
                                n_shifts=n_shifts)
    return float(np.mean(hits))


def _fit_sentence(result: dict) -> str:
    train_on = result.get("train_on", "healthy")
    if train_on == "past-runs":
        return ("fitted for each run on its application's healthy run plus the normal seconds of the runs that "
                "ended before it started (the scored run's labels are never read)")
    if train_on == "other-runs":
        return ("fitted for each run on its application's healthy run plus the normal seconds of all the other "
                "runs (leave one run out, later runs included: optimistic; the scored run's labels are never read)")
    return "fitted per application on its healthy run"


def write_hpas_report(path: str | Path, result: dict, *, max_plots: int = 12) -> Path:
    """A self-contained HTML report of :func:`evaluate_hpas` (run with ``keep_scores=True``).

    One table row per run (event recall beside the random floor at the same alert rate,
    false alarms, F1, AUROC, each window detected or not with its delay) and, for the first
    ``max_plots`` runs, the score with the injected windows shaded and the alerts marked.
    """
    import html

    import matplotlib

    from hpcopt.report.html import STYLE, figure_img

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = result["runs"]
    if runs and "_arrays" not in runs[0]:
        raise InputError("the result has no scores; run evaluate_hpas(..., keep_scores=True)")
    rows = []
    for r in runs:
        wins = "; ".join(f"{w['anomaly']} [{w['start_s']:.0f}, {w['end_s']:.0f}) "
                         + (f"found after {w['delay_s']:.0f} s" if w["detected"] else "missed") for w in r["windows"])
        rows.append(f"<tr><td>{html.escape(r['run_id'])}</td><td>{html.escape(r['app'])}</td>"
                    f"<td>{r['event_recall']:.2f}</td><td>{r['event_recall_random_same_rate']:.2f}</td>"
                    f"<td>{r['event_recall_shifted']:.2f}</td>"
                    f"<td>{r['false_alarms']}</td><td>{r['alert_rate']:.3f}</td><td>{r['f1']:.3f}</td>"
                    f"<td>{r['auroc']:.3f}</td><td>{html.escape(wins)}</td></tr>")
    imgs = []
    for r in runs[:max_plots]:
        arr = r["_arrays"]
        fig, ax = plt.subplots(figsize=(11, 1.8))
        ax.plot(arr["index"], arr["scores"], lw=0.6, color="k")
        lab = arr["labels"].astype(bool)
        ax.fill_between(arr["index"], 0, 1, where=lab, color="tab:orange", alpha=0.3,
                        transform=ax.get_xaxis_transform(), label="injected")
        al = arr["alerts"].astype(bool)
        ax.fill_between(arr["index"], 0, 0.12, where=al, color="tab:blue", alpha=0.8,
                        transform=ax.get_xaxis_transform(), label="alert")
        ax.set_yscale("symlog")
        ax.set_title(f"{r['run_id']} ({r['app']})", fontsize=9)
        ax.set_xlabel("elapsed s", fontsize=8)
        ax.legend(loc="upper right", fontsize=7)
        imgs.append(figure_img(fig, alt=r["run_id"], dpi=80))
    m = result["mean_over_runs"]
    summary = "".join(f"<tr><td>{k}</td><td>{v:.3f}</td></tr>" for k, v in m.items())
    kinds = "".join(f"<tr><td>{html.escape(k)}</td><td>{v:.2f}</td><td>{result['n_windows_by_anomaly'][k]}</td></tr>"
                    for k, v in result["window_recall_by_anomaly"].items())
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>hpcopt detect: HPAS/LDMS runs</title>
<style>{STYLE}</style>
</head><body><h1>HPAS-injected anomalies in LDMS telemetry</h1>
<p>Detector <code>{html.escape(result['detector'])}</code>, threshold {html.escape(str(result['threshold']))}, {_fit_sentence(result)}
(threshold from its training scores only), random_state {result['random_state']}.
Counters are per-second rates; every run is relative to its own first {result['baseline_s']} s.
<b>Read event recall against the random floor</b>: injected windows cover a large share of each run, so independent
random alerts at the detector's own alert rate already hit most windows; the run's own alerts shifted circularly
(100 offsets) keep their clustering and give the stricter floor.</p>
<h2>Mean over runs</h2><table>{summary}</table>
<h2>Window recall by anomaly</h2><table><tr><th>anomaly</th><th>recall</th><th>windows</th></tr>{kinds}</table>
<h2>Runs</h2><table><tr><th>run</th><th>app</th><th>event recall</th><th>random, same alert rate</th><th>own alerts shifted</th>
<th>false alarms</th><th>alert rate</th><th>F1</th><th>AUROC</th><th>windows</th></tr>{''.join(rows)}</table>
<h2>Scores (first {min(max_plots, len(runs))} runs)</h2>{''.join(imgs)}
</body></html>"""
    p = Path(path)
    p.write_text(doc)
    return p
