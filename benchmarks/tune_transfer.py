"""Transfer: warm-start the matmul tuning at n=512 from a study at n=256, against a cold start.

Both target runs use the same strategy (bo), budget and seeds; the warm runs first
measure the best configurations of the n=256 study. Reported: best time found after
k evaluations (median over seeds) for cold and warm starts.

    python benchmarks/tune_transfer.py [--budget 15] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from hpcopt.tune.spec import example_path, load_spec  # noqa: E402
from hpcopt.tune.study import Study, convergence  # noqa: E402


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--source-budget", type=int, default=30)
    ap.add_argument("--budget", type=int, default=15)
    ap.add_argument("--seeds", default="0,1,2")
    add_out_option(ap)
    a = ap.parse_args()
    spec = load_spec(example_path("matmul"))
    small = spec.make_runner(run_args=["256"], repeats=3)
    src = Study(spec.space, small, strategy="bo", name="n256", random_state=100)
    src.optimize(a.source_budget, progress=lambda d, t, m: print(f"n256 {d}/{t} {m}", file=sys.stderr))
    history = src.history()
    small.close()
    curves: dict[str, list[list[float]]] = {"cold": [], "warm": []}
    for seed in [int(s) for s in a.seeds.split(",")]:
        for mode in ("cold", "warm"):
            big = spec.make_runner(run_args=["512"], repeats=3)
            st = Study(spec.space, big, strategy="bo", name=f"{mode}{seed}", random_state=seed,
                       warm_start=history if mode == "warm" else None)
            st.optimize(a.budget, progress=lambda d, t, m, n=f"{mode}{seed}": print(f"n512 {n} {d}/{t} {m}", file=sys.stderr))
            curves[mode].append(convergence(st.trials)[1].tolist())
            big.close()
    med = {m: np.median(np.array(c), axis=0) for m, c in curves.items()}
    ks = [1, 3, 5, 10, a.budget]
    out = {"benchmark": "tune_transfer", "source": {"n": 256, "budget": a.source_budget, "best": src.best},
           "target": {"n": 512, "budget": a.budget, "seeds": a.seeds},
           "median_best_seconds_at_k": {m: {str(k): float(v[k - 1]) for k in ks if k <= a.budget} for m, v in med.items()},
           "curves": curves}
    emit(out, a.out, seed=a.seeds, libraries=("scipy", "sklearn"))


if __name__ == "__main__":
    main()
