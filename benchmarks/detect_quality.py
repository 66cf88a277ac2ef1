"""Quality benchmark of hpcopt.detect on SMD and ASD (label-free thresholds); prints JSON.

Protocol: for each entity, fit on train, calibrate the threshold on training scores only,
score test; labels only for the metrics. With ``--adapt spot dspot`` each row is also
reported with a streaming threshold: SPOT/DSPOT start from POT on the training scores and
update causally on the unlabelled test scores (no labels, no look-ahead). Rows: random, pca (the reference), and the
requested detectors; means over entities; the issue-4 targets are checked on the means.

    OMP_NUM_THREADS=1 python benchmarks/detect_quality.py --datasets smd asd \
        --detectors random pca mad iforest ensemble lstm --threads 2 \
        --variants '{"mad_change30": ["mad", {"change_window": 30}],
                     "pca_recenter4320": ["pca", {"recenter_window": 4320}]}' --adapt spot dspot --out detect_quality.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np


from hpcopt.data.telemetry import list_entities, load_labelled_series  # noqa: E402
from hpcopt.detect import make_detector  # noqa: E402
from hpcopt.detect.evaluate import alert_metrics, evaluate_series, make_spot, summarise  # noqa: E402

TARGETS = {"smd": {"f1": 0.47, "auprc": 0.43, "hitrate_150": 0.55}, "asd": {"f1": 0.28, "auprc": 0.23}}


def main() -> None:
    from _record import write  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "telemetry"))
    ap.add_argument("--datasets", nargs="+", default=["smd", "asd"])
    ap.add_argument("--detectors", nargs="*", default=["random", "pca", "mad", "iforest", "ensemble"])
    ap.add_argument("--threshold", default="pot", choices=["pot", "far"])
    ap.add_argument("--entities", nargs="*", default=None, help="restrict to these entities")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1, help="torch threads for lstm")
    ap.add_argument("--params", default="{}", help='JSON {"detector": {param: value}} overrides')
    ap.add_argument("--variants", default="{}",
                    help='JSON {"label": ["detector", {param: value}]}: extra rows, e.g. a PCA with recentring')
    ap.add_argument("--adapt", nargs="*", default=[],
                    choices=["spot", "dspot", "spot-censored", "dspot-censored"],
                    help="also report each row with a streaming threshold (SPOT/DSPOT calibrated on the training "
                         "scores, updated causally from the unlabelled test scores): rows '<label>+spot' ...")
    ap.add_argument("--depth", type=int, default=None, help="DSPOT depth (default: hpcopt's, chosen on ASD)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    overrides = json.loads(args.params)
    variants = {name: (name, overrides.get(name, {})) for name in args.detectors}
    variants.update({k: (v[0], v[1]) for k, v in json.loads(args.variants).items()})
    out = {"benchmark": "detect_quality", "protocol": "fit on train; threshold from training scores only; "
           "test labels only for metrics; pa_f1 and best_f1_oracle are secondary", "threshold": args.threshold,
           "seed": args.seed, "env": {"python": platform.python_version(), "cpus": os.cpu_count(),
                                      "omp_threads": os.environ.get("OMP_NUM_THREADS")}, "datasets": {}}
    for ds in args.datasets:
        root = Path(args.data) / ds
        ents = args.entities or list_entities(root)
        ents = [e for e in ents if e in list_entities(root)]
        series = [load_labelled_series(root, e) for e in ents]
        rows = {}
        for label, (name, extra) in variants.items():
            params = {"threshold": args.threshold, "random_state": args.seed}
            params.update(extra)
            if name == "lstm":
                params.setdefault("n_threads", args.threads)
            per = []
            adapted = {a: [] for a in args.adapt}
            for s in series:
                t0 = time.perf_counter()
                r = evaluate_series(make_detector(name, **params), s)
                arrays = r.pop("_arrays")
                r["wall_s"] = time.perf_counter() - t0
                per.append(r)
                print(f"{ds} {label} {s.name}: f1 {r['f1']:.3f} auprc {r['auprc']:.3f} "
                      f"hr150 {r.get('hitrate_150', float('nan')):.3f} ({r['wall_s']:.1f}s)", file=sys.stderr, flush=True)
                for a in args.adapt:
                    # same fitted detector and scores; only the threshold differs
                    t0 = time.perf_counter()
                    method, censored = a.removesuffix("-censored"), a.endswith("-censored")
                    spot_params = {"censored": censored}
                    if method == "dspot" and args.depth:
                        spot_params["depth"] = args.depth
                    spot = make_spot(arrays["detector"], method, spot_params)
                    alerts, thr = spot.run(arrays["scores"])
                    ra = dict(r)
                    ra.update(alert_metrics(s.labels, arrays["scores"], alerts, interval_s=s.interval_s))
                    ra["threshold"] = spot.as_threshold().as_dict()
                    ra["threshold"]["details"].update({"threshold_median": float(np.median(thr)),
                                                       "threshold_last": float(thr[-1])})
                    ra["adapt_s"] = time.perf_counter() - t0
                    adapted[a].append(ra)
                    print(f"{ds} {label}+{a} {s.name}: f1 {ra['f1']:.3f}", file=sys.stderr, flush=True)
            rows[label] = {"detector": name, "params": params, "mean": summarise(per)["mean"], "per_entity": per}
            for a, per_a in adapted.items():
                rows[f"{label}+{a}"] = {"detector": name, "params": params, "adapt": a, "mean": summarise(per_a)["mean"],
                                        "per_entity": per_a}
        checks = {}
        for det, row in rows.items():
            if det == "random":
                continue
            checks[det] = {k: {"value": row["mean"].get(k), "target": v,
                               "met": bool(row["mean"].get(k, -1) > v if k != "hitrate_150" else row["mean"].get(k, -1) >= v)}
                           for k, v in TARGETS.get(ds, {}).items()}
        out["datasets"][ds] = {"entities": ents, "detectors": rows, "targets": checks}
    if args.out:
        write(out, Path(args.out), seed=args.seed, indent=1)
    # compact summary on stdout
    summary = {ds: {det: {k: round(v, 4) for k, v in r["mean"].items() if k in
                          ("f1", "precision", "recall", "auroc", "auprc", "event_recall", "false_alarms_per_day",
                           "pa_f1", "best_f1_oracle", "hitrate_100", "hitrate_150", "hitrate_150_random", "fit_s")}
                    for det, r in d["detectors"].items()} for ds, d in out["datasets"].items()}
    print(json.dumps({"summary": summary, "targets": {ds: d["targets"] for ds, d in out["datasets"].items()},
                      "threshold": args.threshold, "seed": args.seed}, indent=1))


if __name__ == "__main__":
    main()
