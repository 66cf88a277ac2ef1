"""NAB server-metric subset (20 univariate series): honest metrics with fixed and streaming thresholds; prints JSON.

Protocol (hpcopt.detect.nab): the first 15 % of each file (NAB's probationary period) is the
training part; the threshold is POT (level 0.90, risk 0.01) on its scores (``pot``), or starts there and is updated
causally on the unlabelled scores of the rest (``spot``, ``dspot``); labels (NAB's windows)
are used only for the metrics. Means are over the files that have a window (F1, AUPRC,
event recall) or over all files (false alarms per day). Not NAB's own score.

    OMP_NUM_THREADS=1 python benchmarks/detect_nab.py --detectors random mad hbos \\
        --variants '{"mad_change30": ["mad", {"change_window": 30}]}'
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from hpcopt.detect import make_detector  # noqa: E402
from hpcopt.detect.evaluate import alert_metrics, evaluate_series, make_spot  # noqa: E402
from hpcopt.detect.nab import list_nab_files, load_nab_series  # noqa: E402
from hpcopt.errors import InputError  # noqa: E402

KEYS = ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "false_alarms_per_day", "pa_f1",
        "best_f1_oracle", "alert_rate")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "telemetry"
                                          / "nab"))
    ap.add_argument("--detectors", nargs="*", default=["random", "mad", "hbos"])
    ap.add_argument("--variants", default="{}", help='JSON {"label": ["detector", {param: value}]}')
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    variants = {n: (n, {}) for n in args.detectors}
    variants.update({k: (v[0], v[1]) for k, v in json.loads(args.variants).items()})
    files = list_nab_files(args.data)
    series = [load_nab_series(args.data, f) for f in files]
    rows = {}
    for label, (name, extra) in variants.items():
        per = {"pot": [], "spot": [], "dspot": []}
        for s in series:
            # the probationary periods are short (about 600 rows) and many values repeat, so the
            # initial POT threshold is the 0.90 quantile and SPOT starts from 10 peaks (not 20)
            params = {"random_state": args.seed, "threshold": "pot", "risk": 0.01, "level": 0.90, **extra}
            r = evaluate_series(make_detector(name, **params), s, with_culprits=False)
            arr = r.pop("_arrays")
            per["pot"].append({"file": s.name, "has_window": bool(s.labels.any()), **{k: r.get(k) for k in KEYS}})
            for a in ("spot", "dspot"):
                try:
                    alerts, _ = make_spot(arr["detector"], a, {"min_peaks": 10}).run(arr["scores"])
                    fallback = False
                except InputError:  # too few distinct calibration peaks: keep the fixed POT alerts, say so
                    alerts, fallback = arr["alerts"], True
                m = alert_metrics(s.labels, arr["scores"], alerts, interval_s=s.interval_s)
                per[a].append({"file": s.name, "has_window": bool(s.labels.any()), "fixed_pot_fallback": fallback,
                               **{k: m.get(k) for k in KEYS}})
        for th, lst in per.items():
            mean = {}
            for k in KEYS:
                pool = lst if k in ("false_alarms_per_day", "alert_rate") else [x for x in lst if x["has_window"]]
                v = [x[k] for x in pool if isinstance(x[k], (int, float)) and not math.isnan(x[k])]
                mean[k] = round(float(np.mean(v)), 4) if v else None
            mean["n_fixed_pot_fallback"] = sum(1 for x in lst if x.get("fixed_pot_fallback"))
            rows[f"{label}+{th}"] = {"detector": name, "params": extra, "threshold": th, "mean": mean, "per_file": lst}
            print(f"{label}+{th}: {mean}", file=sys.stderr, flush=True)
    out = {"benchmark": "detect_nab", "seed": args.seed, "n_files": len(files),
           "n_files_with_windows": int(sum(s.labels.any() for s in series)),
           "protocol": "train = first 15 % (NAB probationary period); threshold pot on training scores, or spot/dspot "
                       "updated causally on unlabelled test scores; labels only for metrics; not NAB's own score",
           "rows": rows}
    text = json.dumps(out, indent=1, default=lambda o: None)
    if args.out:
        Path(args.out).write_text(text)
    print(json.dumps({k: v["mean"] for k, v in rows.items()}, indent=1))


if __name__ == "__main__":
    main()
