"""Runtime prediction accuracy on every shared trace with requested times.

Each trace goes through the ``estimate.evaluate`` task (:mod:`hpcopt.estimate.evaluate`):
its submissions and completions are replayed in time order; an estimate for a job
submitted at t uses only jobs that completed before t; the learned model retrains on its
schedule from completed jobs only. Side by side: the requested time, Tsafrir's baseline
(last two runtimes of the user) and GBMEstimator. Coverage is reported over all jobs, over
the jobs estimated by a trained model, and over the later half of the trace ("later
periods"); with ``--report``, also offline by confidence level (fit on the first half).

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/estimate_accuracy.py --json
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from hpcopt.core.results import json_safe  # noqa: E402
from hpcopt.estimate.evaluate import PROTOCOL  # noqa: E402
from hpcopt.estimate.tasks import evaluate  # noqa: E402

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data" / "traces"
TRACES = [
    "KTH-SP2-1996_predictsim.swf.gz",
    "LLNL-Atlas-2006-2.1-cln.swf.gz",
    "CEA-Curie_predictsim_excerpt.swf.gz",
    "hpc2n_alea_excerpt.swf.gz",
    "wagap-2013_alea.swf.gz",
    "nrel_eagle_sample_1000.csv.gz",
]
LEVELS = [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--traces", nargs="*", default=TRACES, help="trace files (names under shared/data/traces or paths)")
    ap.add_argument("--random-state", type=int, default=0)
    ap.add_argument("--early-stopping", action="store_true", help="stop the point correction early on the held-out recent jobs")
    ap.add_argument("--report", type=Path, default=None, help="write a self-contained HTML report here")
    ap.add_argument("--retrain-every", type=int, default=1000)
    ap.add_argument("--retrain-interval", type=float, default=None, help="also retrain after this much trace time (s)")
    ap.add_argument("--n-estimators", type=int, default=None, help="boosting rounds (default: GBMEstimator's)")
    add_out_option(ap)
    args = ap.parse_args()
    params = {"retrain_every": args.retrain_every, "retrain_interval": args.retrain_interval, "n_jobs": 1,
              "early_stopping": args.early_stopping}
    if args.n_estimators is not None:
        params["n_estimators"] = args.n_estimators
    t0 = time.perf_counter()
    rows, sections, used_params = [], [], None
    for name in args.traces:
        p = Path(name) if Path(name).is_file() else SHARED / name
        if not p.exists():
            continue
        res = evaluate(trace=str(p), kind="gbm", seed=args.random_state, params=params,
                       coverage_levels=LEVELS if args.report else None)
        out, ev = res.payload, res.extras["evaluation"]
        used_params = out["params"]
        row = {"trace": p.name, "jobs_in_trace": len(res.extras["workload"]),
               "estimators": {n: {**m, "wall_s": ev.wall_s[n]} for n, m in out["by_model"].items()},
               "targets": out["versus_baselines"]}
        if "offline_coverage_by_level" in out:
            row["offline_coverage_by_level"] = out["offline_coverage_by_level"]
        rows.append(row)
        if args.report:
            from hpcopt.report.estimate import accuracy_figure, metrics_table_html

            sections.append(f"<h2>{p.name}</h2>" + accuracy_figure(p.name, ev.replays, out["by_model"],
                                                                  out.get("offline_coverage_by_level"))
                            + metrics_table_html(out["by_model"]))
        if not args.json:
            e = row["estimators"]
            print(f"{p.name}: acc req {e['requested']['all']['accuracy']:.3f} tsafrir {e['tsafrir']['all']['accuracy']:.3f} "
                  f"gbm {e['gbm']['all']['accuracy']:.3f} | MAE tsafrir {e['tsafrir']['all']['mae']:.0f} gbm {e['gbm']['all']['mae']:.0f} | "
                  f"coverage later {e['gbm']['later_half']['coverage']:.3f} all {e['gbm']['all']['coverage']:.3f} | {e['gbm']['wall_s']:.1f}s",
                  flush=True)
    import lightgbm

    result = {
        "schema": "hpcopt.estimate.accuracy/1",
        "protocol": PROTOCOL,
        "params": used_params,
        "random_state": args.random_state,
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "lightgbm": lightgbm.__version__,
                    "omp_num_threads": os.environ.get("OMP_NUM_THREADS")},
        "traces": rows,
        "total_wall_s": time.perf_counter() - t0,
    }
    if args.report:
        from hpcopt.report.estimate import write_estimate_report

        write_estimate_report(args.report, "Runtime prediction: online replay, GBM vs baselines", "", sections,
                              f"{PROTOCOL}; random_state {args.random_state}")
    if args.json or args.out:
        emit(json_safe(result), args.out, seed=args.random_state, libraries=("lightgbm", "sklearn"))


if __name__ == "__main__":
    main()
