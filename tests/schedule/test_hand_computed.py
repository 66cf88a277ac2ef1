"""Tiny traces whose schedules were worked out by hand."""

import numpy as np
import pytest

from hpcopt.data import Workload
from hpcopt.errors import ConfigError, InputError
from hpcopt.schedule import simulate


def trace(P, rows):
    """rows: (submit, runtime, procs, requested time)."""
    s, r, p, q = (np.array(c, dtype=float) for c in zip(*rows))
    return Workload.from_arrays(submit=s, runtime=r, req_procs=p.astype(int), alloc_procs=p.astype(int), req_time=q,
                                header={"MaxProcs": str(P)})


FOUR = trace(4, [(0, 10, 3, 10), (1, 10, 4, 10), (2, 5, 1, 5), (3, 20, 1, 20)])


@pytest.mark.parametrize("engine", ["fast", "generic"])
@pytest.mark.parametrize(
    "backfill, starts",
    [
        # J2 needs the whole machine and waits for J1 (t=10). Without backfilling J3 and J4
        # wait behind it until J2 ends (t=20).
        ("none", [0, 10, 20, 20]),
        # EASY: J2's shadow time is 10 with 0 extra processors; J3 (ends 7 <= 10) jumps
        # ahead at t=2; J4 (ends 23 > 10, no extra processors) may not.
        ("easy", [0, 10, 2, 20]),
        # Conservative: J2 reserved at 10, J3 fits before it at 2, J4 is reserved after J2.
        ("conservative", [0, 10, 2, 20]),
    ],
)
def test_four_jobs(backfill, starts, engine):
    r = simulate(FOUR, "fcfs", backfill, engine=engine)
    assert r.jobs["start"].tolist() == starts
    waits = np.array(starts) - np.array([0, 1, 2, 3])
    assert r.metrics["avg_wait"] == pytest.approx(waits.mean())
    # makespan: last end - first submit; utilization: work / (P * makespan)
    ends = np.array(starts) + np.array([10, 10, 5, 20])
    assert r.metrics["makespan"] == ends.max()
    assert r.metrics["utilization"] == pytest.approx((30 + 40 + 5 + 20) / (4 * ends.max()))


@pytest.mark.parametrize("engine", ["fast", "generic"])
def test_conservative_compresses_after_an_early_end(engine):
    # J1 asked for 10 s but ends at 2: J2 (reserved at 10) moves to 2, J3 to 7.
    w = trace(2, [(0, 2, 2, 10), (1, 5, 1, 5), (1, 3, 2, 3)])
    assert simulate(w, "fcfs", "conservative", engine=engine).jobs["start"].tolist() == [0, 2, 7]


@pytest.mark.parametrize("engine", ["fast", "generic"])
def test_zero_runtime_job_frees_its_processors_in_the_same_instant(engine):
    w = trace(1, [(0, 0, 1, -1), (0, 5, 1, -1)])
    r = simulate(w, "fcfs", "none", engine=engine)
    assert r.jobs["start"].tolist() == [0, 0]


@pytest.mark.parametrize("engine", ["fast", "generic"])
def test_sjf_uses_the_estimate_and_kill_at_request(engine):
    # SJF picks the job with the shorter request (job 3, ends at 15), not the shorter runtime.
    w = trace(1, [(0, 10, 1, 10), (1, 1, 1, 100), (1, 5, 1, 6)])
    assert simulate(w, "sjf", "none", engine=engine).jobs["start"].tolist() == [0, 15, 10]
    # Oracle runtimes: job 2 (1 s) goes first.
    assert simulate(w, "sjf", "none", runtime="actual", engine=engine).jobs["start"].tolist() == [0, 10, 11]
    # Killed at its request, job 1 runs min(10, 10) = 10 s; job 3 asked for 6 and runs 5.
    r = simulate(trace(1, [(0, 30, 1, 10), (0, 5, 1, 20)]), "fcfs", "none", kill_at_request=True, engine=engine)
    assert r.jobs["start"].tolist() == [0, 10] and r.jobs["runtime"].tolist() == [10, 5]
    assert r.cleaning.repaired["killed at the requested time"] == 1


def test_cleaning_counts_every_dropped_job():
    w = trace(4, [(0, 10, 3, 10), (1, -1, 1, 5), (2, 5, 8, 5), (3, 5, 1, 5)])
    r = simulate(w, "fcfs", "easy")
    assert r.metrics["jobs"] == 2
    assert r.cleaning.dropped == {"runtime unknown or negative": 1, "more processors than the machine (4)": 1}
    assert r.cleaning.jobs_out == 2 and r.cleaning.dropped_job_ids["runtime unknown or negative"] == [2]


def test_procs_override_and_bad_parameters():
    assert simulate(FOUR, "fcfs", "none", procs=8).jobs["start"].tolist() == [0, 1, 2, 7]
    with pytest.raises(ConfigError, match="'order' parameter must be one of"):
        simulate(FOUR, "lifo", "none")
    with pytest.raises(ConfigError, match="'backfill' parameter"):
        simulate(FOUR, "fcfs", "aggressive")
    with pytest.raises(ConfigError, match="'procs' parameter must be a positive integer"):
        simulate(FOUR, "fcfs", "none", procs=0)
    with pytest.raises(InputError, match="no job is left"):
        simulate(trace(4, [(0, -1, 1, 5)]), "fcfs", "none")


def test_a_user_order_in_a_few_lines():
    from hpcopt.schedule import Order

    class WidestFirst(Order):
        name = "widest"

        def key(self, j, now, jobs):
            return -jobs.procs[j]

    w = trace(4, [(0, 10, 4, 10), (1, 5, 1, 5), (2, 5, 3, 5)])
    r = simulate(w, WidestFirst(), "none")
    assert r.config["engine"] == "generic"
    assert r.jobs["start"].tolist() == [0, 10, 10]  # job 3 (3 procs) first, then job 2 fits beside it


def test_whole_node_allocation():
    # 8 processors in nodes of 4: each 1-processor job holds a whole node, so the
    # 5-processor job (2 nodes: the whole machine) waits until both have ended (t=20).
    w = trace(8, [(0, 10, 1, 10), (0, 20, 1, 20), (1, 5, 5, 5)])
    assert simulate(w, "fcfs", "easy").jobs["start"].tolist() == [0, 0, 1]
    r = simulate(w, "fcfs", "easy", node_size=4)
    assert r.jobs["start"].tolist() == [0, 0, 20]
    assert r.jobs["procs"].tolist() == [4, 4, 8]
    assert r.cleaning.repaired["processors rounded up to whole nodes of 4"] == 3
