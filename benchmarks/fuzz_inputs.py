"""Fuzz every hpcopt reader and file-taking command with mutants of the real samples; print JSON.

    PYTHONPATH=src python benchmarks/fuzz_inputs.py --mutants 3000 --seed 0 --json
    PYTHONPATH=src python benchmarks/fuzz_inputs.py --reproduce 'swf:read_swf|0|17'

Prints counts per format x outcome and per target x outcome, the top failure signatures
(each with a reproducer key ``target|seed|index``), the targets whose clean sample failed,
wall time, mutants per second and the machine's load average. ``--reproduce KEY`` reruns one
mutant in this process, writes its bytes to the work folder and prints its record (a
traceback of the reader is printed with ``--raise``).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path

from hpcopt.testing import fuzz as fz
from hpcopt.testing.fuzz_targets import TARGETS, build_corpus, fuzz, reproduce

DATA = Path(__file__).resolve().parents[1] / "tests" / "data"


def main(argv: list[str] | None = None) -> int:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mutants", type=int, default=3000, help="Mutants in all, spread over the targets by weight.")
    ap.add_argument("--seed", type=int, default=0, help="Seed of the mutants (a failure is reproduced from it).")
    ap.add_argument("--workers", type=int, default=2, help="Worker processes (at most 2 on a shared box).")
    ap.add_argument("--timeout", type=float, default=10.0, help="Seconds before a mutant is a hang (at least; "
                    "10x the target's clean run when that is longer).")
    ap.add_argument("--targets", default=None, help="Regex: fuzz only the targets whose name matches.")
    ap.add_argument("--work", default=None, help="Work folder (default: a temporary one).")
    ap.add_argument("--reproduce", default=None, help="Rerun one mutant: its key 'target|seed|index'.")
    ap.add_argument("--raise", dest="do_raise", action="store_true", help="With --reproduce: let the error through.")
    ap.add_argument("--top", type=int, default=30, help="Failure signatures listed.")
    ap.add_argument("--records", default=None, help="Also write every record as JSON lines to this file.")
    ap.add_argument("--json", action="store_true", help="Print one JSON object (the default output too).")
    add_out_option(ap)
    args = ap.parse_args(argv)

    work = Path(args.work or tempfile.mkdtemp(prefix="hpcopt-fuzz-"))
    if not (work / "manifest.json").exists():
        build_corpus(DATA, work)
    if args.reproduce:
        if args.do_raise:
            from hpcopt.testing import fuzz_targets as ft

            name, seed, index = args.reproduce.split("|")
            ft.init_worker_light(work)
            tgt = TARGETS[name]
            src = ft._STATE["sources"][tgt.format]
            m = ft._mutant_for(src, int(seed), int(index))
            tmp = Path(tempfile.mkdtemp(dir=work / "tmp"))
            path = ft.materialize(src, m, tmp / "in")
            print(f"mutant {m.mutator}: {m.detail} -> {path}", file=sys.stderr)
            if tgt.lib is not None:
                tgt.lib(path, work / "companions")
            else:
                from hpcopt.cli import main as cli_main

                subs = {"P": str(path), "T": str(tmp), "comp": str(work / "companions"), "base": str(work / "base"),
                        "detector": ft._STATE["manifest"]["detector"], "det_mem": ft._STATE["manifest"]["det_mem"]}
                if tgt.stdin:
                    sys.stdin = open(path, encoding="utf-8")
                cli_main([a.format(**subs) for a in tgt.argv])
            return 0
        print(json.dumps(reproduce(work, args.reproduce), indent=2))
        return 0
    names = [n for n in TARGETS if args.targets is None or re.search(args.targets, n)]
    t0 = time.perf_counter()
    out = fuzz(work, args.mutants, seed=args.seed, workers=args.workers, timeout=args.timeout, targets=names)
    wall = time.perf_counter() - t0
    res = out["results"]
    if args.records:
        with open(args.records, "w") as fh:
            for r in res:
                fh.write(json.dumps(r) + "\n")
    summary = fz.summarize(res, top=args.top)
    summary.update({
        "seed": args.seed,
        "targets": len(names),
        "skipped_targets": [{"target": b.get("target"), "outcome": b.get("outcome"), "exc_type": b.get("exc_type"),
                             "message": b.get("message")} for b in out["baselines"]
                            if b.get("target") in out["skipped_targets"] and b.get("outcome") != "success"],
        "wall_s": round(wall, 1),
        "mutants_per_s": round(len(res) / wall, 1) if wall else None,
        "workers": args.workers,
        "load_average": [round(v, 2) for v in os.getloadavg()],
        "cpus": os.cpu_count(),
        "work": str(work),
    })
    emit(summary, args.out, seed=args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
