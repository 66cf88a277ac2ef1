"""check_estimator: every registered online estimator passes; broken toys are caught."""

from __future__ import annotations

import numpy as np
import pytest

from hpcopt.core.params import Interval, ParamsMixin
from hpcopt.estimate.registry import ONLINE_ESTIMATORS, make_online
from hpcopt.testing.checks.estimator import check_estimator, conformance_trace


@pytest.mark.parametrize("name", ONLINE_ESTIMATORS.names())
def test_every_registered_estimator_conforms(name):
    if name == "gbm":
        pytest.importorskip("lightgbm")
    summary = check_estimator(lambda: make_online(name, random_state=0), name=name)
    assert summary["jobs"] == 600
    assert {"determinism", "no leakage (future runtimes perturbed)", "start resets"} <= set(summary["checks"])
    if name == "gbm":
        assert {"get_params/set_params/clone", "model save/load"} <= set(summary["checks"])


class _Median:
    """A correct toy: the median of the runtimes completed so far (the request before any)."""

    name = "median"

    def start(self, jobs, header):
        self.req_ = jobs["req_time"].to_numpy(dtype=float)
        self.done_: list[float] = []

    def on_submit(self, row, now):
        est = float(np.median(self.done_)) if self.done_ else max(self.req_[row], 0.0)
        return est, max(self.req_[row], est)

    def on_complete(self, row, now, runtime):
        self.done_.append(runtime)


def test_a_correct_toy_passes():
    summary = check_estimator(_Median)
    assert summary["estimator"] == "median" and "get_params/set_params/clone" not in summary["checks"]


class _RemembersAcrossReplays(_Median):
    """Leaky: keeps the runtimes it saw in an earlier replay and answers them for the same row."""

    def __init__(self):
        self.memory_: dict[int, float] = {}

    def on_submit(self, row, now):
        est, upper = super().on_submit(row, now)
        return self.memory_.get(row, est), upper

    def on_complete(self, row, now, runtime):
        super().on_complete(row, now, runtime)
        self.memory_[row] = runtime


class _SharedMemory(_RemembersAcrossReplays):
    """Leaky: the memory is shared by every instance (a module-level cache)."""

    shared: dict[int, float] = {}

    def __init__(self):
        self.memory_ = self.shared


class _ReadsTheTrace(_Median):
    """Leaky on purpose through a side channel: answers the runtime of the trace's own job
    (read from a workload it was handed outside the protocol)."""

    trace = None

    def on_submit(self, row, now):
        return float(self.trace.column("runtime")[row]), float(self.req_[row])


def test_leaky_toys_are_caught():
    with pytest.raises(AssertionError, match="leakage across replays"):
        check_estimator(_RemembersAcrossReplays)
    _SharedMemory.shared.clear()
    with pytest.raises(AssertionError, match="state shared between instances"):
        check_estimator(_SharedMemory)


def test_an_oracle_reading_the_replayed_trace_is_caught_as_leakage(monkeypatch):
    """The estimator reads the runtimes of the trace being replayed (the classic leak): the
    perturbation of later runtimes changes its earlier answers."""
    from hpcopt.estimate import replay

    real = replay.replay_trace

    def replay_with_side_channel(workload, estimator, progress=None):
        _ReadsTheTrace.trace = workload
        return real(workload, estimator, progress)

    monkeypatch.setattr(replay, "replay_trace", replay_with_side_channel)
    with pytest.raises(AssertionError, match="leakage: changing the runtimes of jobs that end after"):
        check_estimator(_ReadsTheTrace)


class _Negative(_Median):
    def on_submit(self, row, now):
        return -1.0, 10.0


class _NaN(_Median):
    def on_submit(self, row, now):
        return float("nan"), 10.0


class _Unseeded(_Median):
    def on_submit(self, row, now):
        return float(np.random.default_rng().uniform(1, 100)), 100.0


class _MutatesTable(_Median):
    def start(self, jobs, header):
        jobs["req_time"] = 0
        super().start(jobs, header)


@pytest.mark.parametrize("toy, message", [
    (_Negative, "must be finite and >= 0; got -1.0"),
    (_NaN, "must be finite and >= 0; got nan"),
    (_Unseeded, "two fresh estimators answer differently"),
    (_MutatesTable, "start\\(\\) modified the job table"),
])
def test_broken_answers_are_caught(toy, message):
    with pytest.raises(AssertionError, match=message):
        check_estimator(toy)


class _ForgetsAParameter(ParamsMixin, _Median):
    """get_params reads an attribute __init__ stores under another name: clone loses it."""

    _parameter_constraints = {"scale": [Interval(float, 0, None)]}

    def __init__(self, scale: float = 1.0):
        self.scale = 1.0
        self._scale = scale

    def on_submit(self, row, now):
        est, upper = super().on_submit(row, now)
        return est * self._scale, upper * self._scale


def test_a_broken_clone_is_caught():
    with pytest.raises(AssertionError, match="a clone answers differently"):
        check_estimator(_ForgetsAParameter(scale=2.0))


class _NeverValidates(ParamsMixin, _Median):
    """Declares a constraint but never checks it."""

    _parameter_constraints = {"scale": [Interval(float, 0, None, closed="neither")]}

    def __init__(self, scale: float = 1.0):
        self.scale = scale


class _Validates(_NeverValidates):
    def start(self, jobs, header):
        from hpcopt.core.params import validate_params

        validate_params(self)
        super().start(jobs, header)


def test_parameters_outside_their_constraints_must_be_refused():
    with pytest.raises(AssertionError, match="start\\(\\) accepted scale='<not a valid value>'"):
        check_estimator(_NeverValidates)
    assert "get_params/set_params/clone" in check_estimator(_Validates)["checks"]


def test_the_conformance_trace_is_deterministic():
    a, b = conformance_trace(), conformance_trace()
    assert a.jobs.equals(b.jobs) and len(a) == 600
    assert (a.column("runtime") <= a.column("req_time")).all()
