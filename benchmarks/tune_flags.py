"""Compiler-flag tuning on the bundled kernels against -O3 (JSON on stdout).

Target (issue 5): geometric-mean speedup over -O3 of at least 1.05 on the bundled kernels,
spread reported, never a speedup from a wrong answer (outputs are checked exactly against
the -O3 build; no tolerance is given, so fast-math flags are not searched).

    python benchmarks/tune_flags.py [--budget 40]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from pathlib import Path

from hpcopt.tune import tasks

EX = Path(__file__).resolve().parents[1] / "src" / "hpcopt" / "tune" / "examples"

KERNELS = {
    # the kernels as shipped (default macros), with the plain loop nest as a third case
    "matmul": {"source": EX / "matmul.c", "run_args": ["512"]},
    "matmul_naive": {"source": EX / "matmul.c", "run_args": ["512"], "compile_args": ["-DNAIVE=1"]},
    "stencil": {"source": EX / "stencil.c", "run_args": ["2048", "16"]},
}


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--budget", type=int, default=40)
    ap.add_argument("--kernels", default=",".join(KERNELS))
    ap.add_argument("--seed", type=int, default=0)
    add_out_option(ap)
    a = ap.parse_args()
    res = {}
    for name in a.kernels.split(","):
        k = KERNELS[name]
        res[name] = tasks.flags(k["source"], compile_args=list(k.get("compile_args", ())), run_args=k["run_args"],
                                timing="output", pattern=r"time_s=(\S+)", check=r"(?:checksum|probe|sumsq)=(\S+)",
                                budget=a.budget, repeats=3, final_repeats=11, seed=a.seed,
                                progress=lambda d, t, m, n=name: print(f"{n} {d}/{t} {m}", file=sys.stderr)).payload
    sp = [r["speedup"] for r in res.values()]
    out = {"benchmark": "tune_flags", "target": "geometric-mean speedup over -O3 >= 1.05",
           "geomean_speedup": math.exp(sum(math.log(s) for s in sp) / len(sp)),
           "machine": f"{os.cpu_count()} cpus", "kernels": res}
    emit(out, a.out, seed=a.seed, libraries=("scipy", "sklearn"))


if __name__ == "__main__":
    main()
