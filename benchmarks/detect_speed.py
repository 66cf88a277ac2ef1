"""Speed benchmark: scoring throughput (samples/s, 38 metrics) and sequence-model training time.

    OMP_NUM_THREADS=1 python benchmarks/detect_speed.py            # mad, pca, ... scoring on SMD machine-1-6 (tiled)
    python benchmarks/detect_speed.py --lstm --threads 2            # also LSTM training time on one machine
"""

from __future__ import annotations

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np


from hpcopt.data.telemetry import load_labelled_series  # noqa: E402
from hpcopt.detect import make_detector  # noqa: E402


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "telemetry"))
    ap.add_argument("--entity", default="machine-1-6")
    ap.add_argument("--rows", type=int, default=500_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--lstm", action="store_true")
    ap.add_argument("--threads", type=int, default=2)
    add_out_option(ap)
    args = ap.parse_args()
    s = load_labelled_series(Path(args.data) / "smd", args.entity)
    X = np.tile(s.test, (args.rows // s.test.shape[0] + 1, 1))[: args.rows]
    out = {"benchmark": "detect_speed", "entity": args.entity, "rows": args.rows, "metrics": int(X.shape[1]),
           "env": {"python": platform.python_version(), "cpus": os.cpu_count(),
                   "omp_threads": os.environ.get("OMP_NUM_THREADS")}, "scoring": {}}
    for name in ("mad", "pca", "iforest", "ensemble", "hbos", "ecod", "copod"):
        det = make_detector(name, random_state=0).fit(s.train)
        n = args.rows if name in ("mad", "pca", "ecod", "copod") else 50_000
        times = []
        for _ in range(args.repeat):
            t0 = time.perf_counter()
            det.predict(X[:n])
            times.append(time.perf_counter() - t0)
        med = float(np.median(times))  # the median: this box is shared and noisy
        out["scoring"][name] = {"rows": n, "repeats": args.repeat, "seconds_median": med, "seconds_min": min(times),
                                "samples_per_s": n / med,
                                "target_100k_met": (n / med >= 100_000) if name in ("mad", "pca") else None}
    if args.lstm:
        det = make_detector("lstm", random_state=0, n_threads=args.threads)
        t0 = time.perf_counter()
        det.fit(s.train)
        fit_s = time.perf_counter() - t0
        t0 = time.perf_counter()
        det.decision_function(s.test)
        sc = time.perf_counter() - t0
        out["lstm"] = {"threads": args.threads, "train_rows": int(s.train.shape[0]), "fit_s": fit_s,
                       "fit_under_300s": fit_s < 300, "score_samples_per_s": s.test.shape[0] / sc,
                       "params": {k: v for k, v in det.get_params().items()}}
    emit(out, args.out, indent=1)


if __name__ == "__main__":
    main()
