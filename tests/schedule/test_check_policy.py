"""The policy conformance check passes every built-in and catches each way a toy breaks the contract;
the order and backfilling registries."""

import math

import pytest

from hpcopt.core.registry import Registry
from hpcopt.errors import ConfigError
from hpcopt.schedule.policies import BACKFILLS, EASY, ORDERS, SJF, Backfill, NoBackfill, Order, parse_policy
from hpcopt.testing.checks.policy import check_policy


@pytest.mark.parametrize("name", ORDERS.names() + BACKFILLS.names())
def test_every_builtin_passes(name):
    check_policy(name)


def test_instances_classes_and_a_custom_order_pass():
    class WidestFirst(Order):
        name = "widest"

        def key(self, j, now, jobs):
            return -float(jobs.procs[j])

    check_policy(SJF())
    check_policy(EASY)
    check_policy(WidestFirst())


# ---------------------------------------------------------------- broken orders


class MutatingSJF(SJF):
    def sort(self, queue, now, jobs):
        queue.sort(key=lambda j: (jobs.estimate[j], j))
        return queue


class ListOrderSJF(SJF):
    """Sorted by estimate only: equal estimates keep the list order (not a total order)."""

    def sort(self, queue, now, jobs):
        return sorted(queue, key=lambda j: jobs.estimate[j])


class RandomKey(Order):
    name = "random"

    def __init__(self):
        import random

        self._rng = random.Random(0)

    def key(self, j, now, jobs):
        return self._rng.random()


class NaNKey(SJF):
    def key(self, j, now, jobs):
        return math.nan if jobs.procs[j] == 1 else float(jobs.estimate[j])


class HiddenClock(Order):
    """Uses the wait time but says it is not time dependent (the engine may then cache keys)."""

    name = "hidden-clock"

    def key(self, j, now, jobs):
        return -(now - jobs.submit[j])


class DropsAJob(SJF):
    def sort(self, queue, now, jobs):
        return super().sort(queue, now, jobs)[1:] if len(queue) > 3 else super().sort(queue, now, jobs)


@pytest.mark.parametrize("toy, message", [
    (MutatingSJF(), "mutated the queue"),
    (ListOrderSJF(), r"order of \(key, job index\)"),
    (RandomKey(), "not deterministic"),
    (NaNKey(), "NaN"),
    (HiddenClock(), "changes with now but time_dependent is False"),
    (DropsAJob(), "not return a permutation"),
])
def test_broken_orders_are_caught(toy, message):
    with pytest.raises(AssertionError, match=message):
        check_policy(toy)


# ---------------------------------------------------------------- broken backfilling rules


class GreedyCallsItselfEASY(Backfill):
    """Starts every queued job that fits, in queue order: no reservation for the head."""

    name = "greedy"
    protects = "head"

    def select(self, queue, view):
        started, free = [], view.free
        for j in queue:
            if view.jobs.procs[j] <= free:
                started.append(j)
                free -= int(view.jobs.procs[j])
        return started


class Overcommits(NoBackfill):
    name = "overcommit"

    def select(self, queue, view):
        return list(queue)


class WarmsUpOnce(NoBackfill):
    """Skips its very first pass ever: state that reset() does not clear."""

    name = "warm-up"

    def __init__(self):
        self.warm = False

    def select(self, queue, view):
        if not self.warm:
            self.warm = True
            return []
        return super().select(queue, view)


class EditsEstimates(EASY):
    name = "edits"

    def select(self, queue, view):
        view.jobs.estimate[queue[0]] = view.jobs.estimate[queue[0]] + 1.0
        return super().select(queue, view)


class StartsTwice(NoBackfill):
    name = "twice"

    def select(self, queue, view):
        chosen = super().select(queue, view)
        return chosen + chosen[:1]


@pytest.mark.parametrize("toy, message", [
    (GreedyCallsItselfEASY(), "moves the head's earliest start"),
    (Overcommits(), "processors with .* free"),
    (WarmsUpOnce(), "second simulation with the same object"),
    (EditsEstimates(), "changed the job array 'estimate'"),
    (StartsTwice(), "must be distinct and queued"),
])
def test_broken_backfills_are_caught(toy, message):
    with pytest.raises(AssertionError, match=message):
        check_policy(toy)


def test_greedy_without_the_promise_passes_and_bad_arguments_are_named():
    class Greedy(GreedyCallsItselfEASY):
        protects = "none"

    check_policy(Greedy())  # no promise about the head: only the engine's invariants apply
    with pytest.raises(AssertionError, match="neither a registered order"):
        check_policy("lifo")
    with pytest.raises(AssertionError, match="needs an Order or a Backfill"):
        check_policy(lambda: object())


# ---------------------------------------------------------------- registries


def test_orders_and_backfills_are_registries_with_did_you_mean():
    assert isinstance(ORDERS, Registry) and ORDERS.kind == "order" and BACKFILLS.kind == "backfill"
    # the built-ins first (a tutorial run in the same session may have registered more)
    assert ORDERS.names()[:5] == ["fcfs", "sjf", "wfp3", "unicep", "f1"]
    assert BACKFILLS.names()[:4] == ["none", "easy", "easy-sjbf", "conservative"]
    with pytest.raises(ConfigError, match=r"got 'sjff' instead; did you mean 'sjf'\?"):
        parse_policy("sjff+easy")
    with pytest.raises(ConfigError, match=r"'backfill' parameter must be one of .*did you mean 'conservative'"):
        parse_policy("fcfs+conservativ")
    assert SJF().get_params() == {} and repr(SJF()) == "SJF()"


def test_a_registered_order_is_a_policy_name(monkeypatch):
    from hpcopt.data import Workload
    from hpcopt.schedule import compare_policies

    class WidestFirst(Order):
        name = "widest"

        def key(self, j, now, jobs):
            return -float(jobs.procs[j])

    # registered for this test only (the registry has no public removal)
    monkeypatch.setitem(ORDERS._items, "widest", WidestFirst)
    w = Workload.from_arrays(submit=[0, 0, 0, 1], runtime=[10, 10, 10, 10], req_procs=[1, 3, 2, 4],
                             alloc_procs=[1, 3, 2, 4], header={"MaxProcs": "4"})
    table, results = compare_policies(w, ["widest+easy", "fcfs+easy"])
    assert list(table["policy"]) == ["widest+easy", "fcfs+easy"]
    # widest first at 0: the 3-wide job, then the 1-wide one backfills (ends by the 2-wide head's
    # shadow time, 10); at 10 the 4-wide job (arrived at 1) goes before the 2-wide one
    assert results["widest+easy"].jobs["start"].tolist() == [0.0, 0.0, 20.0, 10.0]
    assert results["fcfs+easy"].jobs["start"].tolist() == [0.0, 0.0, 10.0, 20.0]
