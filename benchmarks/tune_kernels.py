"""Tune the bundled C kernels and compare the best with the plain loop nest at -O3.

Target (issue 5): the tuned matrix multiply and stencil run at least 2x faster than the
plain loop nest (no tiling, no unrolling, textbook loop order) compiled at -O3, found
within 100 evaluations; interleaved medians, same input, checksums equal (every
candidate is checked against the plain loop nest's output; mismatches are wrong answers).

    python benchmarks/tune_kernels.py [--budget 60] [--kernels matmul,stencil]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from hpcopt.tune import tasks  # noqa: E402
from hpcopt.tune.spec import example_path, load_spec  # noqa: E402


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=60)
    ap.add_argument("--kernels", default="matmul,stencil")
    ap.add_argument("--strategy", default=None)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--pairs", type=int, default=9)
    add_out_option(ap)
    a = ap.parse_args()
    results = {}
    for name in a.kernels.split(","):
        t0 = time.time()
        # the use case itself: the study, then the best against the spec's reference, interleaved
        res = tasks.run(example_path(name), strategy=a.strategy, budget=min(a.budget, 100), seed=a.seed,
                        storage=":memory:", pairs=a.pairs,
                        progress=lambda d, t, m, n=name: print(f"{n} {d}/{t} {m}", file=sys.stderr))
        out, v = res.payload, res.payload["versus_reference"]
        results[name] = {
            "best_config": out["best"]["config"], "evaluations": out["trials"],
            "best_found_at_evaluation": out["best_found_at_trial"], "status_counts": out["status_counts"],
            "reference": v["reference"], "reference_seconds": v["baseline_median"],
            "tuned_seconds": v["candidate_median"], "speedup": v["speedup"], "speedup_iqr": v["speedup_iqr"],
            "pairs": v["pairs"], "checksums_equal": v["output_matches_reference"],
            "run_args": load_spec(example_path(name)).runner_spec.get("run_args"),
            "tuning_seconds": time.time() - t0, "strategy": out["strategy"], "random_state": out["random_state"],
        }
    out = {"benchmark": "tune_kernels", "target": "speedup >= 2 within 100 evaluations, checksums equal",
           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "compiler_flags": "-O3 (both)",
           "kernels": results, "met": all(r["speedup"] >= 2 and r["checksums_equal"] for r in results.values())}
    emit(out, a.out, seed=a.seed, libraries=("scipy", "sklearn"))


if __name__ == "__main__":
    main()
