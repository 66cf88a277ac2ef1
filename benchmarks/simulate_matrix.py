"""Every order x backfilling on a trace, compiled engine vs the straightforward baseline.

    python benchmarks/simulate_matrix.py --trace tests/data/lublin_256.swf.gz --replicate 10 --json

Prints one JSON object: the rows of benchmarks/simulate.py and the minimum speedup.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from pathlib import Path

def _load_simulate():
    import importlib.util

    spec = importlib.util.spec_from_file_location("simulate", Path(__file__).resolve().parent / "simulate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


simulate = _load_simulate()  # the one-row benchmark of this folder

def compiled_policies() -> tuple[list[str], list[str]]:
    """The registered orders and backfilling rules that the compiled engine runs."""
    from hpcopt.schedule.fast import BACKFILL_CODES, ORDER_CODES
    from hpcopt.schedule.policies import BACKFILLS, ORDERS

    return ([o for o in ORDERS.names() if o in ORDER_CODES], [b for b in BACKFILLS.names() if b in BACKFILL_CODES])


def main(argv=None) -> dict:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", required=True)
    ap.add_argument("--replicate", type=int, default=1)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-baseline", action="store_true")
    ap.add_argument("--baseline-timeout", type=float, default=0)
    ap.add_argument("--json", action="store_true")
    add_out_option(ap)
    args = ap.parse_args(argv)
    rows = []
    orders, backfills = compiled_policies()
    for backfill in backfills:
        for order in orders:
            argv_ = ["--trace", args.trace, "--order", order, "--backfill", backfill, "--repeat", str(args.repeat),
                     "--replicate", str(args.replicate), "--json"]
            if not args.no_baseline:
                argv_ += ["--baseline", "--baseline-timeout", str(args.baseline_timeout)]
            with contextlib.redirect_stdout(io.StringIO()):
                rows.append(simulate.main(argv_))
            print(json.dumps(rows[-1]), file=sys.stderr, flush=True)
    out = {"trace": args.trace, "replicate": args.replicate, "rows": rows}
    if not args.no_baseline:
        out["min_speedup"] = min(r["speedup"] for r in rows)
        out["all_same_start_times"] = all(r["same_start_times"] in (True, None) for r in rows)
        out["baselines_timed_out"] = sum(bool(r["baseline_timed_out"]) for r in rows)
    emit(out, args.out, libraries=("numba",), indent=None if args.json else 2)
    return out


if __name__ == "__main__":
    main()
