"""HPAS/LDMS benchmark: per-run event recall and false alarms for injected anomalies; prints JSON.

Protocol (hpcopt.detect.hpas): per application, fit on its one healthy run (or, with
``--train-on past-runs``, for each scored run on the healthy run plus the normal seconds of
the runs that ended before it started; ``other-runs``: of every other run, later ones
included), threshold from the training scores only; score every anomalous run; counters as rates, per-run
normalisation against the first 30 s. The random detector is the floor: with windows
covering ~45 % of each run, even 1 % random alerts hit most windows, so read event recall
together with false alarms and AUROC.

    OMP_NUM_THREADS=1 python benchmarks/detect_hpas.py --detectors random mad pca ensemble
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


from hpcopt.detect import make_detector  # noqa: E402
from hpcopt.detect.hpas import evaluate_hpas, write_hpas_report  # noqa: E402


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "telemetry"
                                          / "hpas_ldms"))
    ap.add_argument("--detectors", nargs="+", default=["random", "mad", "pca", "ensemble"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--per-runs", action="store_true", help="include the per-run rows")
    ap.add_argument("--threshold", default="pot", choices=["pot", "far", "spot", "dspot"])
    ap.add_argument("--train-on", default="healthy", choices=["healthy", "past-runs", "other-runs"],
                    help="past-runs: healthy run + normal seconds of the runs that ended before the scored one; "
                         "other-runs: of every other run (leave one run out; optimistic)")
    ap.add_argument("--report", default=None, help="write an HTML report per detector: REPORT-<detector>.html")
    add_out_option(ap)
    args = ap.parse_args()
    out = {"benchmark": "detect_hpas", "seed": args.seed, "threshold": args.threshold, "train_on": args.train_on,
           "detectors": {}}
    adapt = args.threshold if args.threshold in ("spot", "dspot") else None
    base = "pot" if adapt else args.threshold
    for name in args.detectors:
        det = make_detector(name, random_state=args.seed, threshold=base if name != "random" else "far")
        r = evaluate_hpas(args.data, det, adapt=adapt, train_on=args.train_on, keep_scores=bool(args.report))
        if args.report:
            write_hpas_report(f"{args.report}-{name}.html", r)
            for run in r["runs"]:
                run.pop("_arrays")
        if not args.per_runs:
            r.pop("runs")
        out["detectors"][name] = r
        print(f"{name}: {r['mean_over_runs']}", file=sys.stderr, flush=True)
    emit(out, args.out, seed=args.seed, indent=1)


if __name__ == "__main__":
    main()
