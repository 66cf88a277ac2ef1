"""Tune the bundled C kernels and compare the best with the plain loop nest at -O3.

Target (issue 5): the tuned matrix multiply and stencil run at least 2x faster than the
plain loop nest (no tiling, no unrolling, textbook loop order) compiled at -O3, found
within 100 evaluations; interleaved medians, same input, checksums equal (every
candidate is checked against the plain loop nest's output; mismatches are wrong answers).

    python benchmarks/tune_kernels.py [--budget 60] [--kernels matmul,stencil]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

from hpcopt.tune.runners import interleaved  # noqa: E402
from hpcopt.tune.spec import example_path, load_spec  # noqa: E402
from hpcopt.tune.study import Study  # noqa: E402


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
        spec = load_spec(example_path(name))
        runner = spec.make_runner()
        t0 = time.time()
        study = Study(spec.space, runner, strategy=a.strategy or spec.study.get("strategy"), name=name,
                      random_state=a.seed)
        summ = study.optimize(min(a.budget, 100),
                              progress=lambda d, t, m, n=name: print(f"{n} {d}/{t} {m}", file=sys.stderr))
        best = study.best
        comp = interleaved(runner, spec.baseline, best["config"], repeats=a.pairs, warmup=1)
        final = runner.run_once(best["config"])
        same = runner.check.compare(final.output) is None
        trials = study.trials
        first_hit = next(i + 1 for i, t in enumerate(trials) if t.result.ok and t.result.value == best["value"])
        results[name] = {
            "best_config": best["config"], "evaluations": summ["trials"], "best_found_at_evaluation": first_hit,
            "status_counts": summ["status_counts"], "reference": spec.baseline,
            "reference_seconds": comp.baseline_median, "tuned_seconds": comp.candidate_median,
            "speedup": comp.speedup, "speedup_iqr": list(comp.speedup_spread()), "pairs": len(comp.baseline),
            "checksums_equal": same, "run_args": spec.runner_spec.get("run_args"), "tuning_seconds": time.time() - t0,
            "strategy": study.strategy.name, "random_state": a.seed,
        }
        runner.close()
    out = {"benchmark": "tune_kernels", "target": "speedup >= 2 within 100 evaluations, checksums equal",
           "machine": f"{platform.machine()} {os.cpu_count()} cpus", "compiler_flags": "-O3 (both)",
           "kernels": results, "met": all(r["speedup"] >= 2 and r["checksums_equal"] for r in results.values())}
    emit(out, a.out, seed=a.seed, libraries=("scipy", "sklearn"))


if __name__ == "__main__":
    main()
