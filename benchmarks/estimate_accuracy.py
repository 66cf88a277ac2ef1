"""Runtime prediction accuracy on every shared trace with requested times.

The protocol is the online one of :mod:`hpcopt.estimate.replay`: each trace's submissions
and completions are replayed in time order; an estimate for a job submitted at t uses only
jobs that completed before t; the learned model retrains on its schedule from completed
jobs only. Side by side: the requested time, Tsafrir's baseline (last two runtimes of the
user) and GBMEstimator. Coverage is reported over all jobs, over the jobs estimated by a
trained model, and over the later half of the trace ("later periods").

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/estimate_accuracy.py --json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


from hpcopt.data import load_workload  # noqa: E402
from hpcopt.estimate import RequestedTime, Tsafrir, grouped_metrics, replay_trace  # noqa: E402
from hpcopt.estimate.gbm import SOURCES, GBMEstimator  # noqa: E402
from hpcopt.estimate.metrics import accuracy_metrics  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
TRACES = [
    "KTH-SP2-1996_predictsim.swf.gz",
    "LLNL-Atlas-2006-2.1-cln.swf.gz",
    "CEA-Curie_predictsim_excerpt.swf.gz",
    "hpc2n_alea_excerpt.swf.gz",
    "wagap-2013_alea.swf.gz",
    "nrel_eagle_sample_1000.csv.gz",
]


def figure(trace: str, arrays: dict) -> str:
    """Predicted vs actual (Tsafrir, GBM) and the GBM interval's coverage by quarter, as
    an embedded PNG."""
    import base64
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(19, 4))
    a = np.maximum(arrays["actual"], 1)
    for ax, name in zip(axes[:2], ("tsafrir", "gbm")):
        p = np.maximum(arrays[name], 1)
        ax.hexbin(a, p, xscale="log", yscale="log", gridsize=40, bins="log", mincnt=1, cmap="viridis")
        lim = [1, max(a.max(), p.max())]
        ax.plot(lim, lim, "r--", lw=1)
        ax.set_xlabel("actual runtime (s)")
        ax.set_ylabel(f"{name} estimate (s)")
        ax.set_title(f"{trace}: {name}")
    q = arrays["coverage_by_quarter"]
    axes[2].bar(range(1, len(q) + 1), q, color="tab:blue")
    axes[2].axhline(0.9, color="r", ls="--", lw=1)
    axes[2].axhspan(0.87, 0.93, color="r", alpha=0.1)
    axes[2].set_ylim(0, 1)
    axes[2].set_xlabel("quarter of the trace (by submit time)")
    axes[2].set_ylabel("GBM 90% interval coverage")
    levels, cov = arrays["levels"], arrays["coverage_by_level"]
    axes[3].plot(levels, cov, "o-", label="GBM (fit on the first half, later half)")
    axes[3].plot([0, 1], [0, 1], "r--", lw=1, label="nominal")
    axes[3].set_xlim(0.45, 1)
    axes[3].set_ylim(0.45, 1)
    axes[3].set_xlabel("confidence level")
    axes[3].set_ylabel("coverage")
    axes[3].legend(fontsize=8)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="{trace}" src="data:image/png;base64,{base64.b64encode(buf.getvalue()).decode()}"/>'


def source_counts(source: np.ndarray) -> dict:
    return {name: int((source == i).sum()) for i, name in enumerate(SOURCES)}


def evaluate(path: Path, params: dict, arrays: dict | None = None) -> dict:
    w = load_workload(path)
    out: dict = {"trace": path.name, "jobs_in_trace": len(w)}
    results = {}
    for name, est in (("requested", RequestedTime()), ("tsafrir", Tsafrir()), ("gbm", GBMEstimator(**params))):
        t0 = time.perf_counter()
        rep = replay_trace(w, est)
        wall = time.perf_counter() - t0
        lower = upper = None
        if name == "gbm":
            lower, upper = est.lower_[rep.rows], est.upper_[rep.rows]
        m = grouped_metrics(rep.estimate, rep.actual, rep.user_history, lower, upper)
        m["wall_s"] = wall
        if name == "gbm":
            trained = est.trained_[rep.rows]
            later = rep.submit >= np.median(rep.submit)
            m["trained_jobs"] = accuracy_metrics(rep.estimate[trained], rep.actual[trained], lower[trained], upper[trained])
            m["later_half"] = accuracy_metrics(rep.estimate[later], rep.actual[later], lower[later], upper[later])
            quarters = np.array_split(np.argsort(rep.submit, kind="stable"), 4)
            m["coverage_by_quarter"] = [
                float(np.mean((rep.actual[q] >= lower[q]) & (rep.actual[q] <= upper[q]))) for q in quarters
            ]
            m["median_interval_width"] = float(np.median(upper - lower))
            m["trained_jobs"]["median_interval_width"] = float(np.median((upper - lower)[trained]))
            m["trainings"] = int(getattr(est, "trainings_", 0))
            # Ablation: the model's own estimates, without the per-user choice of a baseline.
            m["model_only"] = accuracy_metrics(est.model_estimate_[rep.rows], rep.actual)
            m["sources"] = source_counts(est.source_[rep.rows])
            m["dropped_features"] = est.dropped_features_
            m["features"] = est.feature_names_
        results[name] = m
        if arrays is not None:
            arrays[name] = rep.estimate
            arrays["actual"] = rep.actual
            if name == "gbm":
                arrays["coverage_by_quarter"] = m["coverage_by_quarter"]
    out["estimators"] = results
    if arrays is not None:
        # Coverage by confidence level: fit offline on jobs submitted in the first half,
        # intervals for the later half at several levels (same calibration scores).
        from hpcopt.data.workload import Workload

        half = w.column("submit") < np.median(w.column("submit"))
        model = GBMEstimator(**params).fit(Workload(w.jobs[half].reset_index(drop=True), dict(w.header), w.source))
        X = model.features(w)
        later = ~half[X.index.to_numpy()]
        actual = w.column("runtime")[X.index.to_numpy()][later]
        arrays["levels"] = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]
        arrays["coverage_by_level"] = []
        for level in arrays["levels"]:
            _, pis = model.predict_interval(X[later], confidence_level=level)
            arrays["coverage_by_level"].append(float(np.mean((actual >= pis[:, 0]) & (actual <= pis[:, 1]))))
        out["offline_coverage_by_level"] = dict(zip(map(str, arrays["levels"]), arrays["coverage_by_level"]))
    g, t, r = results["gbm"]["all"], results["tsafrir"]["all"], results["requested"]["all"]
    cov = results["gbm"]["later_half"]["coverage"]
    out["targets"] = {
        "accuracy_beats_both": bool(g["accuracy"] > t["accuracy"] and g["accuracy"] > r["accuracy"]),
        "mae_beats_tsafrir": bool(g["mae"] < t["mae"]),
        "later_coverage_within_3_points": bool(abs(cov - 0.9) <= 0.03),
    }
    return out


def clean(obj):
    """JSON-safe: inf and NaN become null (an interval with no upper end has infinite width)."""
    if isinstance(obj, dict):
        return {k: clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [clean(v) for v in obj]
    if isinstance(obj, (float, np.floating)):
        return float(obj) if np.isfinite(obj) else None
    if isinstance(obj, np.integer):
        return int(obj)
    return obj


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--traces", nargs="*", default=TRACES)
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--early-stopping", action="store_true", help="stop the point correction early on the held-out recent jobs")
    ap.add_argument("--report", type=Path, default=None, help="write a self-contained HTML report here")
    ap.add_argument("--retrain-every", type=int, default=1000)
    ap.add_argument("--retrain-interval", type=float, default=None, help="also retrain after this much trace time (s)")
    add_out_option(ap)
    args = ap.parse_args()
    params = {"random_state": args.random_state, "retrain_every": args.retrain_every,
              "retrain_interval": args.retrain_interval, "n_jobs": 1, "early_stopping": args.early_stopping}
    t0 = time.perf_counter()
    rows = []
    figures = []
    for name in args.traces:
        p = SHARED / name
        if not p.exists():
            continue
        arrays: dict = {}
        rows.append(evaluate(p, params, arrays if args.report else None))
        if args.report:
            figures.append(figure(name, arrays))
        if not args.json:
            r = rows[-1]
            e = r["estimators"]
            print(f"{r['trace']}: acc req {e['requested']['all']['accuracy']:.3f} tsafrir {e['tsafrir']['all']['accuracy']:.3f} "
                  f"gbm {e['gbm']['all']['accuracy']:.3f} | MAE tsafrir {e['tsafrir']['all']['mae']:.0f} gbm {e['gbm']['all']['mae']:.0f} | "
                  f"coverage later {e['gbm']['later_half']['coverage']:.3f} all {e['gbm']['all']['coverage']:.3f} | {e['gbm']['wall_s']:.1f}s",
                  flush=True)
    import lightgbm

    result = {
        "schema": "hpcopt.estimate.accuracy/1",
        "protocol": "online replay of each trace's own submissions and completions; estimates use only jobs completed before submission",
        "params": GBMEstimator(**params).get_params(),
        "random_state": args.random_state,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "lightgbm": lightgbm.__version__,
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "traces": rows,
        "total_wall_s": time.perf_counter() - t0,
    }
    if args.report:
        import html

        body = "\n".join(f"<h2>{html.escape(r['trace'])}</h2>\n{f}\n<pre>{html.escape(json.dumps({k: v['all'] for k, v in r['estimators'].items()}, indent=1, default=float))}</pre>"
                         for r, f in zip(rows, figures))
        args.report.write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>hpcopt runtime prediction</title></head>"
                               f"<body><h1>Runtime prediction: online replay, GBM vs baselines</h1><p>{html.escape(result['protocol'])}; "
                               f"random_state {args.random_state}</p>{body}</body></html>")
    if args.json or args.out:
        emit(clean(result), args.out, seed=args.random_state, libraries=("lightgbm", "sklearn"))


if __name__ == "__main__":
    main()
