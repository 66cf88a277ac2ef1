"""The online protocol: no leakage in trace replay or in simulation; baselines; correction."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hpcopt.data import Workload
from hpcopt.estimate import RequestedTime, Tsafrir, grouped_metrics, replay_trace, tsafrir_accuracy
from hpcopt.schedule import simulate
from hpcopt.schedule.online import corrected_estimate


class Spy:
    """Wraps an estimator; records what it was told and checks causality."""

    def __init__(self, inner):
        self.inner = inner
        self.completed = {}  # row -> completion time
        self.violations = []

    def start(self, jobs, header):
        assert (jobs["runtime"] == -1).all() and (jobs["wait"] == -1).all()  # outcomes blanked
        self.inner.start(jobs, header)

    def on_submit(self, row, now):
        late = [r for r, t in self.completed.items() if t > now]
        if late:
            self.violations.append((row, now, late))
        return self.inner.on_submit(row, now)

    def on_complete(self, row, now, runtime):
        self.completed[row] = now
        self.inner.on_complete(row, now, runtime)


def trace(rows, P=4):
    s, r, p, q, u = (np.array(c, dtype=float) for c in zip(*rows))
    return Workload.from_arrays(submit=s, runtime=r, req_procs=p.astype(int), alloc_procs=p.astype(int), req_time=q,
                                user=u.astype(int), header={"MaxProcs": str(P)})


@st.composite
def workloads(draw):
    n = draw(st.integers(1, 40))
    rows = []
    t = 0
    for _ in range(n):
        t += draw(st.integers(0, 30))
        run = draw(st.integers(0, 100))
        rows.append((t, run, draw(st.integers(1, 4)), draw(st.sampled_from([-1, run, 2 * run + 10])),
                     draw(st.integers(1, 3))))
    return trace(rows)


@settings(max_examples=40, deadline=None)
@given(workloads())
def test_replay_never_shows_a_later_completion(w):
    spy = Spy(Tsafrir())
    r = replay_trace(w, spy)
    assert not spy.violations
    assert len(r.estimate) == len(w)


@settings(max_examples=40, deadline=None)
@given(workloads(), st.sampled_from(["easy", "easy-sjbf", "conservative", "none"]))
def test_simulation_estimator_learns_only_from_simulated_completions(w, backfill):
    spy = Spy(Tsafrir())
    r = simulate(w, "fcfs", backfill, runtime=spy)
    assert not spy.violations
    # every runtime it learnt is a job that had ended in the simulation by then
    ends = dict(zip(r.jobs.index, r.jobs["end"]))
    assert len(spy.completed) == len(r.jobs)
    assert set(spy.completed.values()) <= set(ends.values())
    assert (r.jobs["start"] >= r.jobs["submit"]).all()


def test_tsafrir_by_hand():
    # user 1: jobs of 100 s then 300 s, then a job asking for 150 s: estimate min(200, 150)
    w = trace([(0, 100, 1, 1000, 1), (200, 300, 1, 1000, 1), (1000, 50, 1, 150, 1), (1001, 60, 1, -1, 2)])
    r = replay_trace(w, Tsafrir())
    # job 1: no history -> its request (1000); job 2: user history [100] -> 100;
    # job 3: [100, 300] -> 200 capped at 150; job 4 (t=1001): user 2, no request -> the median
    # runtime of the jobs completed by then (jobs 1 and 2; job 3 ends at 1050) = 200
    assert r.estimate.tolist() == [1000, 100, 150, 200]
    assert r.user_history.tolist() == [0, 1, 2, 0]
    assert replay_trace(w, RequestedTime()).estimate.tolist() == [1000, 1000, 150, 200]


def test_accuracy_metrics_by_hand():
    assert tsafrir_accuracy(np.array([10.0, 50, 0]), np.array([20.0, 25, 0])).tolist() == [0.5, 0.5, 1.0]
    m = grouped_metrics(np.array([10.0, 50]), np.array([20.0, 25]), np.array([0, 12]),
                        np.array([5.0, 20]), np.array([30.0, 40]))
    assert m["all"]["mae"] == 17.5 and m["all"]["underestimation_rate"] == 0.5
    assert m["all"]["coverage"] == 1.0 and m["all"]["mean_interval_width"] == 22.5
    assert m["new_users"]["jobs"] == 1 and m["frequent_users"]["jobs"] == 1


def test_correction_raises_to_the_upper_bound_then_doubles_never_past_the_request():
    assert corrected_estimate(100, 150, 1000, 120) == 150
    assert corrected_estimate(100, 150, 1000, 150) == 300
    assert corrected_estimate(100, 150, 1000, 700) == 1000
    assert corrected_estimate(100, 150, 1000, 5000) == 1000  # cap: the job outlived its request
    assert corrected_estimate(0, 0, float("inf"), 0) == 60


def test_sjbf_tries_the_shortest_estimate_first():
    # P=2: J1 holds 1 proc until 100; J2 (2 procs) is the blocked head with shadow 100.
    # J3 (est 90) and J4 (est 10) arrive together, both end before 100, and only one
    # processor is free: queue order starts J3 (J4 then waits for J2), SJBF starts J4.
    w = trace([(0, 100, 1, 100, 1), (1, 10, 2, 10, 1), (2, 90, 1, 90, 1), (2, 10, 1, 10, 1)], P=2)
    assert simulate(w, "fcfs", "easy", runtime="actual").jobs["start"].tolist() == [0, 100, 2, 110]
    assert simulate(w, "fcfs", "easy-sjbf", runtime="actual").jobs["start"].tolist() == [0, 100, 110, 2]


def test_online_requested_equals_default_when_requests_cover_runtimes():
    w = trace([(0, 50, 2, 100, 1), (5, 30, 4, 60, 2), (6, 10, 1, 20, 1), (7, 5, 2, 5, 3)])
    a = simulate(w, "fcfs", "easy", runtime="requested")
    b = simulate(w, "fcfs", "easy", runtime="predicted:requested")
    assert a.jobs["start"].tolist() == b.jobs["start"].tolist()
    assert b.config["engine"] == "generic" and b.config["runtime"] == "predicted:requested"


def test_unknown_predictor_is_a_clear_error():
    from hpcopt.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown online_estimator 'oracle'"):
        simulate(trace([(0, 5, 1, 5, 1)]), "fcfs", "easy", runtime="predicted:oracle")
