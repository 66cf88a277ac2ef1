"""Figures and HTML for runtime estimation: predicted vs actual, coverage by confidence
level, and the scheduling gain of estimates per trace."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from hpcopt.report.html import STYLE, _figure_to_img, _plt


def predicted_vs_actual_figure(replays: dict[str, Any]) -> str:
    plt = _plt()
    fig, axes = plt.subplots(1, len(replays), figsize=(4.2 * len(replays), 4), squeeze=False)
    for ax, (name, r) in zip(axes[0], replays.items()):
        a = np.maximum(r.actual, 1.0)
        p = np.maximum(r.estimate, 1.0)
        ax.scatter(a, p, s=2, alpha=0.25)
        lim = [1, max(a.max(), p.max()) * 1.5]
        ax.plot(lim, lim, color="k", lw=0.8)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("actual runtime (s)")
        ax.set_ylabel("estimate at submit (s)")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    return _figure_to_img(fig)


def coverage_figure(levels: list[float], coverage: list[float]) -> str:
    plt = _plt()
    fig, ax = plt.subplots(figsize=(4.5, 4))
    ax.plot(levels, coverage, "o-", label="measured")
    ax.plot([0, 1], [0, 1], "k--", lw=0.8, label="nominal")
    ax.set_xlabel("confidence level")
    ax.set_ylabel("coverage on later jobs")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend()
    return _figure_to_img(fig)


def scheduling_gain_figure(results: dict[str, dict[str, dict]]) -> str:
    """``results[trace][policy]`` with avg_bsld, avg_bsld_min, avg_bsld_max (shaking)."""
    plt = _plt()
    traces = list(results)
    policies = list(next(iter(results.values())))
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(traces)), 4.5))
    width = 0.8 / len(policies)
    for k, p in enumerate(policies):
        base = np.array([results[t]["easy_requested"]["avg_bsld"] for t in traces])
        val = np.array([results[t][p]["avg_bsld"] for t in traces])
        lo = np.array([results[t][p]["avg_bsld_min"] for t in traces])
        hi = np.array([results[t][p]["avg_bsld_max"] for t in traces])
        x = np.arange(len(traces)) + k * width
        ax.bar(x, val / base, width, label=p)
        ax.errorbar(x, val / base, yerr=[(val - lo) / base, (hi - val) / base], fmt="none", ecolor="k", lw=0.8)
    ax.set_xticks(np.arange(len(traces)) + 0.4 - width / 2)
    ax.set_xticklabels([t.split("_")[0].split(".")[0] for t in traces], rotation=20)
    ax.set_ylabel("mean bounded slowdown / EASY on requested times")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=7)
    return _figure_to_img(fig)


def write_estimate_report(path: str | Path, title: str, tables_html: str, figures: list[str], notes: str = "") -> Path:
    p = Path(path)
    body = "".join(f"<div>{f}</div>" for f in figures)
    p.write_text(f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p class="note">{notes}</p>
{tables_html}{body}</body></html>""")
    return p
