"""Parallel studies: storage cost per trial, several workers on one study, executors,
timeouts of Python callables and the peak-memory observer. Prints JSON.

    OMP_NUM_THREADS=1 nice -n 10 python benchmarks/tune_dist.py [--trials 300] [--repeats 3]

* storage: median seconds per stored trial (start + finish, one process) for SQLite,
  SQLite through SQLAlchemy and the journal file, over ``--repeats`` runs;
* shared: three processes (fork) run one study of 60 evaluations of a 20 ms callable on
  each storage; wall time, trials, configurations measured twice (must be 0);
* executors: 12 evaluations of a 0.2 s deterministic callable with 2 workers: wall time
  for serial, process pool, Dask LocalCluster and submitit (local processes), and
  whether every executor stored exactly the serial results;
* timeout: seconds until a callable sleeping 60 s is recorded as TIMEOUT (timeout 0.5 s),
  and the cost of running a trivial call in a child process instead of in-process;
* memory: peak RSS measured for children allocating 16 and 256 MiB (the difference
  should be 240 MiB).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("OMP_NUM_THREADS", "1")

from hpcopt.tune.results import Result  # noqa: E402
from hpcopt.tune.runners import CommandRunner, PythonRunner  # noqa: E402
from hpcopt.tune.space import Integer, SearchSpace  # noqa: E402
from hpcopt.tune.storage import Storage  # noqa: E402
from hpcopt.tune.study import Study  # noqa: E402


def space():
    return SearchSpace([Integer("x", 0, 9), Integer("y", 0, 6)], ["x + y <= 13"])


def f20ms(x, y):
    time.sleep(0.02)
    return (x - 5) ** 2 + (y - 3) ** 2 + 1.0


def f200ms(x, y):
    time.sleep(0.2)
    return (x - 5) ** 2 + (y - 3) ** 2 + 1.0


def sleepy(s):
    time.sleep(s)
    return s


def noop():
    return 1.0


def urls(d: Path) -> dict[str, str]:
    return {"sqlite": str(d / "s.db"), "sqlalchemy-sqlite": f"sqlite+pysqlite:///{d / 'a.db'}",
            "journal": f"journal:///{d / 'j.log'}"}


def storage_cost(n: int, repeats: int) -> dict:
    out = {}
    for kind in ("sqlite", "sqlalchemy-sqlite", "journal"):
        times = []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as d:
                st = Storage(urls(Path(d))[kind])
                st.create_or_load_study("b", {"space": {}}, None)
                t0 = time.perf_counter()
                for i in range(n):
                    k = st.start_trial("b", {"x": i}, f"[{i}]", owner="bench:1")
                    st.finish_trial("b", k, Result.success(float(i)))
                times.append((time.perf_counter() - t0) / n)
                st.close()
        out[kind] = {"seconds_per_trial_median": float(np.median(times)), "runs": times}
    return out


def _worker(url: str, seed: int) -> None:
    Study(space(), PythonRunner(f20ms, timing="output"), strategy="random", name="shared", storage=url,
          random_state=seed).optimize(60)


def shared(n_proc: int = 3) -> dict:
    out = {}
    ctx = multiprocessing.get_context("fork")
    for kind in ("sqlite", "sqlalchemy-sqlite", "journal"):
        with tempfile.TemporaryDirectory() as d:
            url = urls(Path(d))[kind]
            t0 = time.perf_counter()
            ps = [ctx.Process(target=_worker, args=(url, s)) for s in range(n_proc)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
            wall = time.perf_counter() - t0
            trials = Storage(url).trials("shared")
            keys = [t.key for t in trials if t.state == "done"]
        with tempfile.TemporaryDirectory() as d:  # the same study in one process, for scale
            t0 = time.perf_counter()
            _worker(urls(Path(d))[kind], 0)
            one = time.perf_counter() - t0
        out[kind] = {"processes": n_proc, "wall_s": wall, "one_process_wall_s": one, "trials": len(trials),
                     "measured_twice": len(keys) - len(set(keys)), "owners": len({t.owner for t in trials})}
    return out


def executors() -> dict:
    import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    res = {}
    ref = None
    with tempfile.TemporaryDirectory() as d:
        for name, workers, opts in [("serial", 1, None), ("process", 2, None), ("dask", 2, None),
                                    ("submitit", 2, {"folder": f"{d}/jobs", "cluster": "local"})]:
            s = Study(space(), PythonRunner(f200ms, timing="output"), strategy="random", random_state=5)
            t0 = time.perf_counter()
            s.optimize(12, n_workers=workers, executor=None if name == "serial" else name, executor_options=opts)
            wall = time.perf_counter() - t0
            got = {t.key: t.result.value for t in s.trials}
            ref = ref or got
            res[name] = {"wall_s": wall, "same_results_as_serial": got == ref}
    return res


def timeouts(repeats: int) -> dict:
    r = PythonRunner(sleepy, timing="wall", warmup=0, repeats=1, timeout=0.5)
    t0 = time.perf_counter()
    st = r({"s": 60}).status.value
    kill = time.perf_counter() - t0
    costs = {}
    for iso in (False, True):
        rr = PythonRunner(noop, timing="wall", warmup=0, repeats=1, isolate=iso)
        ts = []
        for _ in range(max(20, repeats * 10)):
            t0 = time.perf_counter()
            rr({})
            ts.append(time.perf_counter() - t0)
        costs["child_process" if iso else "in_process"] = float(np.median(ts))
    return {"status": st, "seconds_to_timeout_result": kill, "timeout_s": 0.5,
            "median_seconds_per_trivial_call": costs}


def memory() -> dict:
    cmd = f"{sys.executable} -c \"x = b'a' * ({{mib}} << 20)\""
    r = CommandRunner(cmd, timing="wall", warmup=0, repeats=3, objectives=["time", "max_rss"])
    a, b = r({"mib": 16}), r({"mib": 256})
    return {"max_rss_mib_16": a.values[1], "max_rss_mib_256": b.values[1],
            "difference_mib": b.values[1] - a.values[1], "expected_difference_mib": 240}


def main() -> None:
    from _record import add_out_option, emit  # beside this script

    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=300)
    ap.add_argument("--repeats", type=int, default=3)
    add_out_option(ap)
    a = ap.parse_args()
    out = {"machine": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
           "storage": storage_cost(a.trials, a.repeats), "shared_study": shared(), "executors": executors(),
           "timeout": timeouts(a.repeats), "memory": memory()}
    from hpcopt.tune.observers import observer_status

    out["observers"] = observer_status()
    emit(out, a.out, libraries=("sqlalchemy", "dask", "submitit"))


if __name__ == "__main__":
    main()
