"""Score post-processing and ensembles of hpcopt.detect members, with two label-free ways to
choose among them; prints JSON.

Every candidate is a library detector (hpcopt.detect's registry and classes), seed ``--seed``:

* ``lstm_rc``, ``pca_rc``: lstm / pca with recentring over 3 days of rows; ``mad_ch``: mad with a
  30-step change term (the members);
* ``<member>_pmmax`` / ``_pmmean`` / ``lstm_rc_top3``: :class:`~hpcopt.detect.MetricNormDetector`
  of the member (each metric's residual normalised by the median and 99th percentile of its
  training residuals, then max / mean / mean of the 3 largest);
* ``ens_*``: :class:`~hpcopt.detect.EnsembleDetector` of members (mean of their scores, each
  normalised by its training median and 99th percentile).

Every candidate is smoothed (``--smoothing``, default 5), thresholded by POT on its training
scores and by DSPOT (depth 100) from there, and evaluated by hpcopt.detect.evaluate (point-wise
F1 and AUPRC). Each candidate is fitted on its own (the members are refitted inside wrappers:
deterministic under the seed, so the same member every time).

``--mode test`` (default): fit on the training half, evaluate on the labelled test half.
``--mode inject``: a label-free selection set built from the training half only: fit on its
first 80 %, inject 10 synthetic anomalies (:func:`hpcopt.detect.evaluate.inject_anomalies`)
into its last 20 %, and evaluate on that tail against the injected positions. No test row or
test label is read in this mode.

    OMP_NUM_THREADS=2 python benchmarks/detect_combine.py --dataset smd --mode test --out smd_test.json
    OMP_NUM_THREADS=2 python benchmarks/detect_combine.py --dataset smd --mode inject --out smd_inject.json
    OMP_NUM_THREADS=2 python benchmarks/detect_combine.py --dataset asd --mode test --out asd_test.json
    python benchmarks/detect_combine.py --dataset asd --entities 1 --candidates pca_rc pca_rc_pmmax   # a smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from hpcopt.data.telemetry import LabelledSeries, list_entities, load_labelled_series
from hpcopt.detect import EnsembleDetector, MetricNormDetector, RecentredDetector, make_detector
from hpcopt.detect.evaluate import evaluate_series, inject_anomalies, make_spot
from hpcopt.detect.metrics import point_metrics

WINDOW = {"smd": 4320, "asd": 864}  # recentring: 3 days of rows (SMD 1-min, ASD 5-min)


def members(window: int, seed: int, threads: int) -> dict:
    """The three members, unfitted, with raw scores (smoothing 1: the candidate smooths)."""
    return {"lstm_rc": lambda: make_detector("lstm", recenter_window=window, n_threads=threads, random_state=seed,
                                             smoothing=1),
            "pca_rc": lambda: make_detector("pca", recenter_window=window, random_state=seed, smoothing=1),
            "mad_ch": lambda: make_detector("mad", change_window=30, random_state=seed, smoothing=1)}


def _norm(member, reduce: str, k: int = 3, smoothing: int = 5, seed: int = 0):
    """Per-metric normalisation of a member; a recentred member stays recentred outside."""
    if isinstance(member, RecentredDetector):
        inner = MetricNormDetector(detector=member.detector, reduce=reduce, k=k, smoothing=1, random_state=seed)
        return RecentredDetector(detector=inner, window=member.window, smoothing=smoothing, random_state=seed)
    return MetricNormDetector(detector=member, reduce=reduce, k=k, smoothing=smoothing, random_state=seed)


def candidates(make: dict, smoothing: int, seed: int) -> dict:
    """Candidate name -> factory of the unfitted library detector."""
    m = {k: f for k, f in make.items()}

    def own(name):
        return lambda: m[name]().set_params(smoothing=smoothing)

    def ens(*names, pm=False):
        return lambda: EnsembleDetector(detectors=[_norm(m[n](), "max", seed=seed, smoothing=1) if pm else m[n]()
                                                   for n in names], smoothing=smoothing, random_state=seed)

    return {"lstm_rc": own("lstm_rc"), "pca_rc": own("pca_rc"), "mad_ch": own("mad_ch"),
            "lstm_rc_pmmax": lambda: _norm(m["lstm_rc"](), "max", smoothing=smoothing, seed=seed),
            "lstm_rc_pmmean": lambda: _norm(m["lstm_rc"](), "mean", smoothing=smoothing, seed=seed),
            "lstm_rc_top3": lambda: _norm(m["lstm_rc"](), "topk", k=3, smoothing=smoothing, seed=seed),
            "pca_rc_pmmax": lambda: _norm(m["pca_rc"](), "max", smoothing=smoothing, seed=seed),
            "pca_rc_pmmean": lambda: _norm(m["pca_rc"](), "mean", smoothing=smoothing, seed=seed),
            "mad_ch_pmmax": lambda: _norm(m["mad_ch"](), "max", smoothing=smoothing, seed=seed),
            "ens_lstm_pca": ens("lstm_rc", "pca_rc"), "ens_lstm_mad": ens("lstm_rc", "mad_ch"),
            "ens_lstm_pca_mad": ens("lstm_rc", "pca_rc", "mad_ch"),
            "ens_lstm_pca_pmmax": ens("lstm_rc", "pca_rc", pm=True)}


def evaluate(det, series: LabelledSeries, depth: int = 100) -> dict:
    """POT (the detector's own threshold) and DSPOT from the same training scores, one fit."""
    r = evaluate_series(det, series, with_culprits=False)
    arr = r.pop("_arrays")
    alerts, _ = make_spot(arr["detector"], "dspot", {"depth": depth}).run(arr["scores"])
    return {"f1_pot": r["f1"], "f1_dspot": point_metrics(series.labels, alerts)["f1"], "auroc": r["auroc"],
            "auprc": r["auprc"]}


def main() -> None:
    from _record import write  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "telemetry"))
    ap.add_argument("--dataset", default="smd", choices=["smd", "asd"])
    ap.add_argument("--mode", default="test", choices=["test", "inject"])
    ap.add_argument("--smoothing", type=int, nargs="+", default=[5])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--entities", type=int, default=0, help="only the first N entities (0: all)")
    ap.add_argument("--candidates", nargs="*", default=None, help="only these candidates (default: all)")
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    root = Path(args.data) / args.dataset
    make = members(WINDOW[args.dataset], args.seed, args.threads)
    per: dict = {}
    entities = list_entities(root)
    for e in entities[:args.entities] if args.entities else entities:
        s = load_labelled_series(root, e)
        t0 = time.perf_counter()
        if args.mode == "test":
            series = s
        else:
            cut = int(0.8 * s.train.shape[0])
            scored, y = inject_anomalies(s.train[:cut], s.train[cut:], args.seed)
            series = LabelledSeries(e, s.train[:cut], scored, y, interval_s=s.interval_s)
        for sm in args.smoothing:
            for k, factory in candidates(make, sm, args.seed).items():
                if args.candidates and k not in args.candidates:
                    continue
                per.setdefault(f"{k}@s{sm}", {})[e] = evaluate(factory(), series)
        print(f"{args.dataset} {args.mode} {e}: {time.perf_counter() - t0:.1f}s", file=sys.stderr, flush=True)
    mean = {k: {m: float(np.mean([v[m] for v in d.values()])) for m in next(iter(d.values()))} for k, d in per.items()}
    out = {"benchmark": "detect_combine", "dataset": args.dataset, "mode": args.mode, "seed": args.seed,
           "protocol": ("fit on train, threshold from training scores (POT) or DSPOT depth 100 on the unlabelled "
                        "scored rows; " + ("labels = SMD/ASD test labels" if args.mode == "test" else
                                           "scored rows = last 20 % of the training half with injected anomalies; "
                                           "no test data read")),
           "mean": mean, "per_entity": per}
    if args.out:
        write(out, Path(args.out), seed=args.seed, indent=1)
    print(json.dumps({k: {m: round(v, 3) for m, v in d.items()} for k, d in mean.items()}, indent=1))


if __name__ == "__main__":
    main()
