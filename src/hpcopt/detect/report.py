"""A self-contained HTML report: score and metric plots with shaded labels and alerts,
the culprit ranking per alert run, and the evaluation numbers beside the random baseline."""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np

from hpcopt.data.telemetry import LabelledSeries, label_segments
from hpcopt.detect.base import BaseDetector
from hpcopt.report.html import STYLE, figure_base64

__all__ = ["write_report"]


def _shade(ax, mask, color, alpha, label):
    first = True
    for s, e in label_segments(mask):
        ax.axvspan(s, e, color=color, alpha=alpha, lw=0, label=label if first else None)
        first = False


def _threshold_text(detector: BaseDetector, result: dict, thresholds) -> str:
    if thresholds is None:
        return (f"Threshold {detector.threshold_.value:.4g} ({html.escape(detector.threshold_.method)}, "
                "calibrated on training scores only)")
    method = html.escape(str(result.get("threshold", {}).get("method", "spot")))
    return (f"Streaming threshold ({method}): POT on the training scores (first applied {thresholds[0]:.4g}), then "
            f"updated causally from the unlabelled test scores (median {np.median(thresholds):.4g}, "
            f"last {thresholds[-1]:.4g})")


def write_report(path: str | Path, series: LabelledSeries, detector: BaseDetector, scores: np.ndarray,
                 alerts: np.ndarray, result: dict, *, n_metric_plots: int = 6, max_alerts: int = 30,
                 thresholds: np.ndarray | None = None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    X = series.test
    runs = label_segments(alerts)[:max_alerts]
    rows_html = []
    total = np.zeros(X.shape[1])
    for s, e in runs:
        lo = max(0, s - detector.context_ - detector.smoothing + 1)
        C = detector.explain(X[lo:e])[-(e - s):].mean(axis=0)
        total += C
        order = np.argsort(-C, kind="stable")[:5]
        hit = "yes" if series.labels is not None and series.labels[s:e].any() else "no"
        rows_html.append(f"<tr><td>[{s}, {e})</td><td>{scores[s:e].max():.4g}</td><td>{hit}</td><td>"
                         + ", ".join(f"{j + 1} ({C[j]:.3g})" for j in order) + "</td></tr>")
    show = np.argsort(-total, kind="stable")[:n_metric_plots] if runs else np.arange(min(n_metric_plots, X.shape[1]))
    fig, axes = plt.subplots(len(show) + 1, 1, figsize=(12, 1.6 * (len(show) + 1)), sharex=True)
    ax = axes[0]
    ax.plot(scores, lw=0.6, color="k")
    if thresholds is not None:  # a streaming (SPOT/DSPOT) threshold, one value per step
        ax.plot(thresholds, color="tab:red", lw=0.8, ls="--", label="threshold (streaming)")
    else:
        ax.axhline(detector.threshold_.value, color="tab:red", lw=0.8, ls="--", label="threshold")
    ax.set_yscale("symlog")
    ax.set_ylim(bottom=min(0.0, float(np.min(scores))))
    ax.set_ylabel("score")
    for a in axes:
        if series.labels is not None:
            _shade(a, series.labels, "tab:orange", 0.25, "label")
        _shade(a, alerts, "tab:blue", 0.15, "alert")
    ax.legend(loc="upper right", fontsize=7)
    for a, j in zip(axes[1:], show):
        a.plot(X[:, j], lw=0.5)
        a.set_ylabel(f"metric {j + 1}", fontsize=8)
    axes[-1].set_xlabel("test row")
    img = figure_base64(fig, dpi=90)
    plt.close(fig)
    keys = ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "false_alarms_per_day", "delay_steps_mean",
            "pa_f1", "best_f1_oracle", "hitrate_100", "hitrate_150", "hitrate_100_random", "hitrate_150_random")
    rb = result.get("random_baseline", {})
    num = "".join(f"<tr><td>{k}</td><td>{result[k]:.4f}</td><td>{rb.get(k, float('nan')):.4f}</td></tr>"
                  for k in keys if isinstance(result.get(k), (int, float)))
    doc = f"""<!doctype html><html><head><meta charset="utf-8"><title>hpcopt detect: {html.escape(series.name)}</title>
<style>{STYLE}</style>
</head><body><h1>Anomaly detection: {html.escape(series.name)}</h1>
<p>Detector <code>{html.escape(repr(detector))}</code>. {_threshold_text(detector, result, thresholds)}. Point-adjusted F1 and the oracle best F1
are secondary numbers; the oracle peeks at the test labels.</p>
<h2>Numbers</h2><table><tr><th>metric</th><th>detector</th><th>random</th></tr>{num}</table>
<h2>Score, labels (orange) and alerts (blue); metrics most blamed in alerts</h2>
<img alt="plots" src="data:image/png;base64,{img}">
<h2>Alert runs and culprit metrics (1-based, contribution)</h2>
<table><tr><th>rows</th><th>peak score</th><th>overlaps a label</th><th>top culprits</th></tr>{''.join(rows_html)}</table>
</body></html>"""
    p = Path(path)
    p.write_text(doc, encoding="utf-8")
    return p
