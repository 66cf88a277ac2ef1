"""Self-contained HTML reports: figures are embedded as base64 PNG, no external files."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


def figure_base64(fig, *, dpi: int = 110) -> str:
    """A matplotlib figure as base64 PNG text (the figure is closed)."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def figure_img(fig, *, alt: str = "figure", dpi: int = 110) -> str:
    """A matplotlib figure as an embedded ``<img>`` (self-contained: no external file)."""
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{figure_base64(fig, dpi=dpi)}"/>'


def html_page(title: str, body: str) -> str:
    """A whole report page in the one shared style (:data:`STYLE`)."""
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
            f"<style>{STYLE}</style></head><body>\n{body}\n</body></html>")


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def wait_cdf_figure(results: dict[str, Any]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(8, 4.5))
    for name, r in results.items():
        w = np.sort(r.jobs["wait"].to_numpy())
        ax.plot(np.maximum(w, 1.0), np.arange(1, len(w) + 1) / len(w), label=name)
    ax.set_xscale("log")
    ax.set_xlabel("wait time (s, log; waits under 1 s drawn at 1 s)")
    ax.set_ylabel("share of jobs")
    ax.set_title("Wait-time CDF per policy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return figure_img(fig)


def timeseries_figure(results: dict[str, Any], procs: int) -> str:
    plt = _plt()
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    for name, r in results.items():
        ts = r.timeseries
        days = (ts["time"] - ts["time"].iloc[0]) / 86400.0
        ax1.step(days, ts["queue"], where="post", label=name, lw=0.8)
        # utilization smoothed over a day: busy processors time-weighted per bin
        t = ts["time"].to_numpy()
        busy = ts["busy"].to_numpy()
        dt = np.diff(t, append=t[-1])
        bins = np.floor((t - t[0]) / 86400.0).astype(int)
        used = np.bincount(bins, weights=busy * dt)
        span = np.bincount(bins, weights=dt)
        util = np.divide(used, span * procs, out=np.zeros_like(used), where=span > 0)
        ax2.plot(np.arange(len(util)) + 0.5, util, label=name, lw=1)
    ax1.set_ylabel("queued jobs")
    ax1.set_title("Queue length and daily utilization over time")
    ax1.grid(alpha=0.3)
    ax1.legend(fontsize=8)
    ax2.set_ylabel("utilization (daily)")
    ax2.set_xlabel("days since the first event")
    ax2.set_ylim(0, 1.05)
    ax2.grid(alpha=0.3)
    return figure_img(fig)


def _table_html(frame: pd.DataFrame) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:,.4f}" if abs(v) < 10 else f"{v:,.1f}"
        return html.escape(str(v))

    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{fmt(v)}</td>" for v in row) + "</tr>" for row in frame.itertuples(index=False))
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"


STYLE = """
body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1000px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child{text-align:left}code{background:#f6f6f6;padding:1px 4px}
.note{color:#555;font-size:90%}
"""


def write_compare_report(path: str | Path, table: pd.DataFrame, results: dict[str, Any], summary: dict[str, Any]) -> Path:
    """Policy comparison: the table, the wait-time CDF, queue length and utilization over time."""
    p = Path(path)
    first = next(iter(results.values()))
    procs = first.config["procs"]
    cleaning = "<br>".join(html.escape(s) for s in first.cleaning.lines())
    info = "".join(
        f"<tr><td>{html.escape(k)}</td><td>{html.escape(str(v))}</td></tr>"
        for k, v in summary.items()
        if k in ("source", "jobs", "span_days", "procs", "procs_source", "offered_load", "users", "has_requested_time")
    )
    body = f"""<!doctype html><html><head><meta charset="utf-8"><title>hpcopt policy comparison</title>
<style>{STYLE}</style></head><body>
<h1>Scheduling policies compared</h1>
<p class="note">Trace <code>{html.escape(str(first.config['trace']))}</code>, {procs} processors, reservations on
<code>{html.escape(first.config['runtime'])}</code> runtimes. Waits and makespan in seconds; bounded slowdown with a
10 s bound; utilization = processor-seconds used / (P x (last end - first submit)). Deterministic: no randomness.</p>
<h2>Results</h2>{_table_html(table)}
<h2>Workload</h2><table>{info}</table><p class="note">Cleaning: {cleaning}</p>
<h2>Wait times</h2>{wait_cdf_figure(results)}
<h2>Queue and utilization</h2>{timeseries_figure(results, procs)}
<p class="note">hpcopt {html.escape(first.config['versions']['hpcopt'])}</p>
</body></html>"""
    p.write_text(body)
    return p
