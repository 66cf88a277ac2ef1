"""Simulator speed and memory: prints one JSON object.

    python benchmarks/simulate.py --trace tests/data/lublin_256.swf.gz --order fcfs --backfill easy --repeat 3 --json
    python benchmarks/simulate.py --trace tests/data/lublin_256.swf.gz --replicate 10 --baseline --json

``seconds`` is the simulation alone (trace reading and cleaning excluded), best of
``--repeat`` runs after one warm-up run (which also compiles); ``--replicate K`` chains K
copies of the trace, each shifted after the previous one's last submit (Lublin-1 x 10 =
100,000 jobs on an overloaded machine); ``--baseline`` also times the straightforward
pure-Python simulator (benchmarks/straightforward.py; conservative: hpcopt's generic
engine) and checks that it computes the same start times.
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import numpy as np
import pandas as pd


from hpcopt.data import Workload, load_workload  # noqa: E402
from hpcopt.schedule.jobs import prepare_jobs  # noqa: E402
from hpcopt.schedule.simulate import run_jobs  # noqa: E402



def sibling(name: str):
    """Another script of this folder as a module (the baseline simulator is not part of the package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module

def replicate(workload: Workload, k: int) -> Workload:
    if k <= 1:
        return workload
    frames, offset = [], 0.0
    span = float(workload.jobs["submit"].max() - workload.jobs["submit"].min()) + 1.0
    for c in range(k):
        f = workload.jobs.copy()
        f["submit"] = f["submit"] + offset
        f["job_id"] = f["job_id"] + c * int(workload.jobs["job_id"].max())
        frames.append(f)
        offset += span
    return Workload(pd.concat(frames, ignore_index=True), dict(workload.header), f"{workload.source} x{k}")


def best_time(fn, repeat: int) -> tuple[float, object]:
    out = fn()  # warm-up (and compilation)
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def main(argv=None) -> dict:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trace", required=True)
    ap.add_argument("--order", default="fcfs")
    ap.add_argument("--backfill", default="easy")
    ap.add_argument("--runtime", default="requested")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--replicate", type=int, default=1)
    ap.add_argument("--engine", default="fast", choices=["fast", "generic"])
    ap.add_argument("--baseline", action="store_true")
    ap.add_argument("--baseline-repeat", type=int, default=1)
    ap.add_argument("--baseline-timeout", type=float, default=0,
                    help="stop the baseline after this many seconds; the speedup is then a lower bound")
    ap.add_argument("--json", action="store_true")
    add_out_option(ap)
    args = ap.parse_args(argv)

    workload = replicate(load_workload(args.trace), args.replicate)
    jobs = prepare_jobs(workload, runtime=args.runtime)
    seconds, out = best_time(lambda: run_jobs(jobs, args.order, args.backfill, engine=args.engine), args.repeat)
    start, _, queue, _, engine = out
    result = {
        "trace": args.trace,
        "replicate": args.replicate,
        "order": args.order,
        "backfill": args.backfill,
        "engine": engine,
        "jobs": len(jobs),
        "seconds": seconds,
        "jobs_per_s": len(jobs) / seconds,
        "max_queue": int(np.max(queue)),
        "repeat": args.repeat,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    if args.baseline:
        if args.backfill == "conservative":
            fn = lambda: run_jobs(jobs, args.order, args.backfill, engine="generic")[0]  # noqa: E731
            name = "hpcopt generic engine"
        else:
            simulate_straightforward = sibling("straightforward").simulate_straightforward

            fn = lambda: simulate_straightforward(  # noqa: E731
                jobs.submit, jobs.duration, jobs.estimate, jobs.procs, jobs.procs_total, args.order, args.backfill)
            name = "straightforward pure Python"
        import signal

        class BaselineTimeout(Exception):
            pass

        def on_alarm(signum, frame):
            raise BaselineTimeout

        base_seconds = float("inf")
        base_start = None
        timed_out = False
        signal.signal(signal.SIGALRM, on_alarm)
        for _ in range(args.baseline_repeat):
            t = time.perf_counter()
            if args.baseline_timeout > 0:
                signal.setitimer(signal.ITIMER_REAL, args.baseline_timeout)
            try:
                base_start = fn()
            except BaselineTimeout:
                timed_out = True
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            base_seconds = min(base_seconds, time.perf_counter() - t)
            if timed_out:
                break
        result.update(
            baseline=name,
            baseline_timed_out=timed_out,
            baseline_seconds=base_seconds,
            baseline_jobs_per_s=len(jobs) / base_seconds,
            speedup=base_seconds / seconds,  # a lower bound when the baseline timed out
            same_start_times=None if timed_out else bool(np.array_equal(np.asarray(base_start, dtype=float), start)),
        )
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    emit(result, args.out, libraries=("numba",), indent=None if args.json else 2)
    return result


if __name__ == "__main__":
    main()
