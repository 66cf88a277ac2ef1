"""Score post-processing and ensembles of hpcopt.detect members, with two label-free ways to
choose among them; prints JSON.

Members (fitted once per entity, seed ``--seed``): lstm with recentring, pca with recentring,
mad with a 30-step change term. Candidates built from their per-metric residuals:

* ``<member>``: the member's own score (sum of residuals; mean for mad);
* ``<member>_pmmax`` / ``_pmmean`` / ``lstm_rc_top3``: each metric's residual normalised by
  the median and 99th percentile of its training residuals, then max / mean / mean of the
  3 largest (what ``hpcopt.detect.MetricNormDetector`` does);
* ``ens_*``: mean (or max) of member scores, each normalised by its training median and
  99th percentile (what ``EnsembleDetector`` does).

Every candidate is smoothed (``--smoothing``, default 5), thresholded by POT on its training
scores and by DSPOT (depth 100), and scored with point-wise F1 and AUPRC.

``--mode test`` (default): fit on the training half, evaluate on the labelled test half.
``--mode inject``: a label-free selection set built from the training half only: fit on its
first 80 %, inject 10 synthetic anomalies (level shift or every-other-step spikes of 3-6
training standard deviations in 1-5 metrics for 10-60 steps, ``numpy`` seed ``--seed``) into
its last 20 %, and evaluate on that tail against the injected positions. No test row or
test label is read in this mode.

    OMP_NUM_THREADS=2 python benchmarks/detect_combine.py --dataset smd --mode test --out smd_test.json
    OMP_NUM_THREADS=2 python benchmarks/detect_combine.py --dataset smd --mode inject --out smd_inject.json
    OMP_NUM_THREADS=2 python benchmarks/detect_combine.py --dataset asd --mode test --out asd_test.json
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np


from hpcopt.data.telemetry import list_entities, load_labelled_series  # noqa: E402
from hpcopt.detect import make_detector  # noqa: E402
from hpcopt.detect.base import causal_mean  # noqa: E402
from hpcopt.detect.metrics import point_metrics, ranking_metrics  # noqa: E402
from hpcopt.detect.thresholds import SPOT, pot_threshold  # noqa: E402

WINDOW = {"smd": 4320, "asd": 864}  # recentring: 3 days of rows (SMD 1-min, ASD 5-min)


def inject(A: np.ndarray, B: np.ndarray, seed: int, n: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic anomalies in ``B`` on ``A``'s scales; returns (B with anomalies, 0/1 positions)."""
    rng = np.random.default_rng(seed)
    B = B.copy()
    y = np.zeros(len(B), np.int8)
    sd = np.maximum(A.std(axis=0), 0.01)
    for _ in range(n):
        L = int(rng.integers(10, 61))
        t = int(rng.integers(0, len(B) - L))
        k = int(rng.integers(1, 6))
        cols = rng.choice(B.shape[1], k, replace=False)
        kind = rng.integers(0, 2)
        mag = rng.uniform(3, 6) * sd[cols] * rng.choice([-1, 1], k)
        if kind == 0:
            B[t:t + L, cols] += mag
        else:
            B[t:t + L:2, cols] += mag
        y[t:t + L] = 1
    return B, y


def members(train: np.ndarray, X: np.ndarray, window: int, seed: int, threads: int) -> dict:
    """Per-metric residuals of each member on ``X`` (= training rows then scored rows)."""
    make = {"lstm_rc": lambda: make_detector("lstm", recenter_window=window, n_threads=threads, random_state=seed),
            "pca_rc": lambda: make_detector("pca", recenter_window=window, random_state=seed),
            "mad_ch": lambda: make_detector("mad", change_window=30, random_state=seed)}
    out = {}
    for name, f in make.items():
        det = f().fit(train)
        out[name] = det._contributions(X)
    return out


def _norm(s, n):
    med, q = np.median(s[:n]), np.quantile(s[:n], 0.99)
    return (s - med) / max(q - med, 1e-12)


def _pm(C, n):
    med, q = np.median(C[:n], axis=0), np.quantile(C[:n], 0.99, axis=0)
    return (C - med) / np.maximum(q - med, 1e-6)


def candidates(C: dict, n: int) -> dict:
    L, P, M = C["lstm_rc"], C["pca_rc"], C["mad_ch"]
    l, p, m = L.sum(1), P.sum(1), M.mean(1)
    lm, pm = _pm(L, n).max(1), _pm(P, n).max(1)
    return {"lstm_rc": l, "pca_rc": p, "mad_ch": m,
            "lstm_rc_pmmax": lm, "lstm_rc_pmmean": _pm(L, n).mean(1),
            "lstm_rc_top3": np.sort(_pm(L, n), axis=1)[:, -3:].mean(1),
            "pca_rc_pmmax": pm, "pca_rc_pmmean": _pm(P, n).mean(1), "mad_ch_pmmax": _pm(M, n).max(1),
            "ens_lstm_pca": (_norm(l, n) + _norm(p, n)) / 2, "ens_lstm_mad": (_norm(l, n) + _norm(m, n)) / 2,
            "ens_lstm_pca_mad": (_norm(l, n) + _norm(p, n) + _norm(m, n)) / 3,
            "ens_lstm_pca_max": np.maximum(_norm(l, n), _norm(p, n)),
            "ens_lstm_pca_pmmax": (_norm(lm, n) + _norm(pm, n)) / 2}


def evaluate(raw, n, y, smoothing, depth=100) -> dict:
    s = causal_mean(raw, smoothing)
    tr, te = s[:n], s[n:]
    pot = pot_threshold(tr, risk=0.01, level=0.95).value
    alerts, _ = SPOT(risk=0.01, level=0.95, depth=depth).fit(tr).run(te)
    r = ranking_metrics(y, te)
    return {"f1_pot": point_metrics(y, (te > pot).astype(np.int8))["f1"], "f1_dspot": point_metrics(y, alerts)["f1"],
            "auroc": r["auroc"], "auprc": r["auprc"]}


def main() -> None:
    from _record import write  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--data", default=str(Path(__file__).resolve().parents[1] / ".." / "shared" / "data" / "telemetry"))
    ap.add_argument("--dataset", default="smd", choices=["smd", "asd"])
    ap.add_argument("--mode", default="test", choices=["test", "inject"])
    ap.add_argument("--smoothing", type=int, nargs="+", default=[5])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    root = Path(args.data) / args.dataset
    per: dict = {}
    for e in list_entities(root):
        s = load_labelled_series(root, e)
        t0 = time.perf_counter()
        if args.mode == "test":
            train, scored, y = s.train, s.test, s.labels
        else:
            cut = int(0.8 * s.train.shape[0])
            train = s.train[:cut]
            scored, y = inject(train, s.train[cut:], args.seed)
        n = train.shape[0]
        C = members(train, np.vstack([train, scored]), WINDOW[args.dataset], args.seed, args.threads)
        for k, raw in candidates(C, n).items():
            for sm in args.smoothing:
                per.setdefault(f"{k}@s{sm}", {})[e] = evaluate(raw, n, y, sm)
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
