"""Figures and HTML for runtime estimation: predicted vs actual, coverage by confidence
level, the accuracy benchmark's panel per trace, and the scheduling gain of estimates."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

import numpy as np

from hpcopt.report.html import STYLE, figure_img, _plt


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
    return figure_img(fig)


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
    return figure_img(fig)


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
    return figure_img(fig)


def write_estimate_report(path: str | Path, title: str, tables_html: str, figures: list[str], notes: str = "") -> Path:
    p = Path(path)
    body = "".join(f"<div>{f}</div>" for f in figures)
    p.write_text(f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{STYLE}</style></head><body><h1>{html.escape(title)}</h1><p class="note">{notes}</p>
{tables_html}{body}</body></html>""")
    return p


def accuracy_figure(trace: str, replays: dict[str, Any], by_model: dict[str, Any],
                    coverage_by_level: dict[str, float] | None = None, learned: str = "gbm",
                    confidence_level: float = 0.9) -> str:
    """The accuracy benchmark's panel: predicted vs actual (Tsafrir, the learned model),
    the learned interval's coverage by quarter, and offline coverage by level."""
    plt = _plt()
    fig, axes = plt.subplots(1, 4, figsize=(19, 4))
    a = np.maximum(replays[learned].actual, 1)
    for ax, name in zip(axes[:2], ("tsafrir", learned)):
        p = np.maximum(replays[name].estimate, 1)
        ax.hexbin(a, p, xscale="log", yscale="log", gridsize=40, bins="log", mincnt=1, cmap="viridis")
        lim = [1, max(a.max(), p.max())]
        ax.plot(lim, lim, "r--", lw=1)
        ax.set_xlabel("actual runtime (s)")
        ax.set_ylabel(f"{name} estimate (s)")
        ax.set_title(f"{trace}: {name}")
    q = by_model[learned].get("coverage_by_quarter", [])
    axes[2].bar(range(1, len(q) + 1), q, color="tab:blue")
    axes[2].axhline(confidence_level, color="r", ls="--", lw=1)
    axes[2].axhspan(confidence_level - 0.03, confidence_level + 0.03, color="r", alpha=0.1)
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("quarter of the trace (by submit time)")
    axes[2].set_ylabel(f"{learned} {confidence_level:.0%} interval coverage")
    if coverage_by_level:
        levels = [float(k) for k in coverage_by_level]
        axes[3].plot(levels, list(coverage_by_level.values()), "o-",
                     label=f"{learned} (fit on the first half, later half)")
    axes[3].plot([0, 1], [0, 1], "r--", lw=1, label="nominal")
    axes[3].set_xlim(0.45, 1)
    axes[3].set_ylim(0.45, 1)
    axes[3].set_xlabel("confidence level")
    axes[3].set_ylabel("coverage")
    axes[3].legend(fontsize=8)
    return figure_img(fig)


def metrics_table_html(by_model: dict[str, dict[str, Any]]) -> str:
    """One row per model and group of users (the flat metrics only)."""
    import pandas as pd

    from hpcopt.report.html import _table_html

    rows = [{"kind": n, "group": g, **{k: v for k, v in m.items() if not isinstance(v, (dict, list))}}
            for n, groups in by_model.items() for g, m in groups.items()
            if isinstance(m, dict) and g in ("all", "new_users", "frequent_users")]
    return _table_html(pd.DataFrame(rows))


def write_evaluation_report(path: str | Path, payload: dict[str, Any], replays: dict[str, Any]) -> Path:
    """The ``estimate.evaluate`` report: the metrics table and predicted against actual runtimes."""
    return write_estimate_report(path, f"Runtime estimation: {Path(payload['trace']).name}",
                                 metrics_table_html(payload["by_model"]), [predicted_vs_actual_figure(replays)],
                                 html.escape(payload["protocol"]))
