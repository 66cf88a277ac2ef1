"""Methodology score of every strategy on the Kernel Tuner caches in ../shared (JSON on stdout).

Target (issue 5): the default strategy scores at least 0.5 (mean over the two caches).
Protocol: see hpcopt.tune.methodology; budget = evaluations random search needs to reach
the 0.95 cutoff, per space; runs use seeds base + 1000 r. The default seed base (12345)
differs from the seeds used while choosing the default strategy's settings (1, 1001, ...).

    OMP_NUM_THREADS=1 python benchmarks/tune_replay_score.py [--repeats 10] [--strategies bo,ga,...]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

from hpcopt.tune import tasks  # noqa: E402
from hpcopt.tune.methodology import convergence_figure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
CACHES = ROOT / ".." / "shared" / "data" / "autotune_cache"


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--repeats", type=int, default=10)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--strategies", default=None)
    ap.add_argument("--plot-dir", default=None)
    ap.add_argument("--caches", default="kt_convolution_A100.json.gz,kt_pnpoly_RTX3090.json.gz")
    add_out_option(ap)
    a = ap.parse_args()
    names = a.strategies.split(",") if a.strategies else None
    t0 = time.time()
    result = tasks.compare_strategies([CACHES / f for f in a.caches.split(",")], strategies=names,
                                      repeats=a.repeats, seed=a.seed,
                                      progress=lambda d, t, m: print(f"{d}/{t} {m}", file=sys.stderr))
    res = result.extras["comparison"]  # with the curves the plots need
    if a.plot_dir:
        import matplotlib.pyplot as plt

        Path(a.plot_dir).mkdir(parents=True, exist_ok=True)
        for s in res["spaces"]:
            fig = convergence_figure(s)
            fig.savefig(Path(a.plot_dir) / f"convergence_{s['name']}.png", dpi=110)
            plt.close(fig)
    out = {
        "benchmark": "tune_replay_score",
        "target": "default strategy score >= 0.5",
        "default_strategy": res["default_strategy"],
        "default_score": res["scores"][res["default_strategy"]] if res["default_strategy"] in res["scores"] else None,
        "scores": res["scores"],
        "per_space": {s["name"]: {"budget": s["budget"], **{n: {"score": v["score"], "std": v["score_std"],
                                                              "seconds_per_run": v["seconds_per_run"]}
                                                          for n, v in s["strategies"].items()}} for s in res["spaces"]},
        "repeats": a.repeats, "seed_base": a.seed, "budget_unit": res["budget_unit"], "cutoff": res["cutoff"],
        "seconds": time.time() - t0,
    }
    emit(out, a.out, seed=a.seed, libraries=("scipy", "sklearn", "optuna"))


if __name__ == "__main__":
    main()
