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
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hpcopt.data import load_workload  # noqa: E402
from hpcopt.estimate import RequestedTime, Tsafrir, grouped_metrics, replay_trace  # noqa: E402
from hpcopt.estimate.gbm import GBMEstimator  # noqa: E402
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


def evaluate(path: Path, params: dict) -> dict:
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
            m["trainings"] = int(getattr(est, "trainings_", 0))
            m["dropped_features"] = est.dropped_features_
            m["features"] = est.feature_names_
        results[name] = m
    out["estimators"] = results
    g, t, r = results["gbm"]["all"], results["tsafrir"]["all"], results["requested"]["all"]
    cov = results["gbm"]["later_half"]["coverage"]
    out["targets"] = {
        "accuracy_beats_both": bool(g["accuracy"] > t["accuracy"] and g["accuracy"] > r["accuracy"]),
        "mae_beats_tsafrir": bool(g["mae"] < t["mae"]),
        "later_coverage_within_3_points": bool(abs(cov - 0.9) <= 0.03),
    }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--traces", nargs="*", default=TRACES)
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--retrain-every", type=int, default=1000)
    ap.add_argument("--retrain-interval", type=float, default=None, help="also retrain after this much trace time (s)")
    args = ap.parse_args()
    params = {"random_state": args.random_state, "retrain_every": args.retrain_every,
              "retrain_interval": args.retrain_interval, "n_jobs": 1}
    t0 = time.perf_counter()
    rows = []
    for name in args.traces:
        p = SHARED / name
        if not p.exists():
            continue
        rows.append(evaluate(p, params))
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
    if args.json:
        print(json.dumps(result, indent=2, default=float))


if __name__ == "__main__":
    main()
