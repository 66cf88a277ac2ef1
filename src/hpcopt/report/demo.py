"""The demo's one HTML report: scheduling, detection and tuning, each beside its baselines."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import pandas as pd

from hpcopt.report.html import STYLE, figure_img, _table_html, wait_cdf_figure


def _kv_table(rows: list[tuple[str, Any, Any]], head: tuple[str, str, str]) -> str:
    return _table_html(pd.DataFrame(rows, columns=list(head)))


def write_demo_report(path: str | Path, steps: dict[str, Any], shown: dict[str, Any]) -> Path:
    from hpcopt.core.files import atomic_write_text

    sched, det, tune = steps["schedule"], steps["detect"], steps["tune"]
    cols = ["policy", "runtimes", "avg_wait", "p95_wait", "avg_bsld", "utilization", "max_queue"]
    table = pd.DataFrame(sched["policies"])[cols]
    metric_rows = [(k, det["metrics"].get(k), det["random_baseline"].get(k)) for k in det["metrics"]]
    alerts = "".join(f"<li>rows {a['rows']}: metrics {a['top_metrics_1based']}</li>" for a in det["first_alerts"])
    labelled = "".join(f"<li>rows {g['rows']}: metrics {g['metrics_1based']}</li>" for g in det["labelled_segments"])
    tune_rows = [(n, s, None) for n, s in tune["scores"].items()]
    fig = ""
    if tune.get("_space"):
        from hpcopt.tune.methodology import convergence_figure

        fig = figure_img(convergence_figure(tune["_space"]))
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>hpcopt demo</title>
<style>{STYLE}</style></head><body>
<h1>hpcopt: a tour on bundled real data</h1>
<p class="note">Every step is recorded in the run store (<code>hpcopt runs list</code>). Seeds fixed; times in
seconds unless stated.</p>
<h2>1. Scheduling: {sched['jobs']:,} real jobs of HPC2N Seth</h2>
<p class="note">Reservations use the users' requested times, or online runtime predictions (learned only from jobs
that finished earlier in the simulation), or the actual runtimes (the oracle: a bound, not a policy). Bounded
slowdown with a 10 s bound.</p>
{_table_html(table)}
{wait_cdf_figure(shown) if shown else ''}
<h2>2. Anomaly detection: one day of SMD machine-1-6</h2>
<p class="note">Detector <code>{html.escape(det['detector'])}</code> fitted on the training day; threshold from
training scores only (no labels). {det['rows']:,} test rows, {det['labelled_anomalous_rows']} labelled anomalous.
The random detector uses the same threshold rule on random scores.</p>
{_kv_table(metric_rows, ('metric', det['detector'], 'random detector'))}
<p>First alerts and their culprit metrics (1-based): <ul>{alerts}</ul> Labelled segments: <ul>{labelled}</ul></p>
<h2>3. Autotuning replay: pnpoly on an RTX 3090 ({tune['configurations']:,} configurations)</h2>
<p class="note">Budget {tune['budget']} evaluations (the methodology cutoff), one run per strategy;
{html.escape(tune['note'])}.</p>
{_kv_table(tune_rows, ('strategy', 'score', ''))}
{fig}
</body></html>"""
    return atomic_write_text(path, body)
