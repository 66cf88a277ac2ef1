"""``check_policy``: does a queue order or backfilling rule keep the contract the engine relies on?

As scikit-learn's ``check_estimator``, it raises :class:`AssertionError` with a message
that names the policy and the broken rule, and returns ``None`` when all checks pass::

    from hpcopt.testing import check_policy
    check_policy(MyOrder())          # an instance, a class, a factory or a registered name

Every policy: ``name`` is a non-empty string; ``get_params`` / ``set_params`` / ``clone``
round trip. It is then run in the real generic engine
(:func:`hpcopt.schedule.engine.run_generic`) on small generated workloads (seeded; with
ties in submit times and estimates, zero runtimes, requests below and above the runtime):
every job starts, never before its submit time, the machine is never over-committed, two
runs of one instance (``reset`` between them) and a run of a clone give the same start
times, and a built-in with a compiled twin gives the compiled engine's start times.

Orders (:class:`~hpcopt.schedule.policies.Order`), on queues drawn from those workloads:
``key`` is a real number, never NaN (NaN breaks the total order) and deterministic; a key
does not depend on ``now`` unless ``time_dependent``; ``sort`` returns a permutation of the
queue, sorted by ``(key, job index)`` -- a total order, so the result does not depend on
the queue's list order -- and mutates neither the queue nor the job arrays.

Backfilling rules (:class:`~hpcopt.schedule.policies.Backfill`), at every scheduling pass:
``select`` returns distinct jobs of the queue that fit the free processors together, and
mutates neither the queue, the running set nor the job arrays. A rule whose ``protects``
is ``"head"`` (EASY and its variants, no backfilling) never starts a job that delays the
first blocked job's earliest start computed from the estimates (EASY's shadow time).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from typing import Any

import numpy as np

from hpcopt.core.params import clone
from hpcopt.schedule.engine import SimulationError, run_generic
from hpcopt.schedule.jobs import SimJobs, prepare_jobs
from hpcopt.schedule.policies import (
    BACKFILLS,
    EASY,
    FCFS,
    ORDERS,
    SJF,
    Backfill,
    ClusterView,
    Order,
)

__all__ = ["check_policy", "check_order", "check_backfill", "generated_jobs"]

_ARRAYS = ("job_id", "submit", "duration", "estimate", "procs", "user", "runtime")
_EPS = 1e-9


def generated_jobs(seed: int = 0, count: int = 6) -> list[SimJobs]:
    """``count`` small, loaded workloads as the engine sees them (deterministic in ``seed``)."""
    from hpcopt.data.workload import Workload

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        P = int(rng.integers(2, 17))
        n = int(rng.integers(15, 41))
        submit = np.cumsum(rng.choice([0, 0, 1, 5, 20, 60], n)).astype(float)
        runtime = rng.choice([0.0, 10.0, 50.0, 100.0, 200.0, 400.0], n)
        procs = rng.integers(1, P + 1, n)
        factor = rng.choice([-1.0, 0.5, 1.0, 1.5, 3.0], n)
        req = np.where(factor < 0, -1.0, np.ceil(runtime * factor))
        w = Workload.from_arrays(submit=submit, runtime=runtime, req_procs=procs, alloc_procs=procs, req_time=req,
                                 user=rng.integers(1, 5, n), header={"MaxProcs": str(P)})
        out.append(prepare_jobs(w))
    return out


def _factory(policy: Any) -> Callable[[], Any]:
    if isinstance(policy, str):
        kinds = [r for r in (ORDERS, BACKFILLS) if policy in r]
        if not kinds:
            raise AssertionError(f"{policy!r} is neither a registered order ({', '.join(ORDERS.names())}) nor "
                                 f"a registered backfilling rule ({', '.join(BACKFILLS.names())})")
        if len(kinds) > 1:
            raise AssertionError(f"{policy!r} names both an order and a backfilling rule; pass the object")
        return kinds[0].get(policy)
    if isinstance(policy, (Order, Backfill)):
        return lambda: clone(policy)
    if callable(policy):
        return policy
    raise AssertionError(f"check_policy needs an Order or Backfill (instance, class, factory or name); "
                         f"got {type(policy).__name__}")


def _label(obj: Any) -> str:
    return f"{type(obj).__name__} (name {getattr(obj, 'name', None)!r})"


def _fail(obj: Any, message: str) -> None:
    raise AssertionError(f"{_label(obj)}: {message}")


def _snapshot(jobs: SimJobs) -> dict[str, np.ndarray]:
    return {a: getattr(jobs, a).copy() for a in _ARRAYS}


def _check_unchanged(obj: Any, jobs: SimJobs, before: dict[str, np.ndarray], where: str) -> None:
    for a, arr in before.items():
        if not np.array_equal(getattr(jobs, a), arr, equal_nan=True):
            _fail(obj, f"{where} changed the job array {a!r}; a policy must not mutate its inputs")


def _check_params(make: Callable[[], Any]) -> Any:
    obj = make()
    if not isinstance(obj, (Order, Backfill)):
        raise AssertionError(f"the factory made a {type(obj).__name__}, not an Order or a Backfill")
    if not isinstance(obj.name, str) or not obj.name:
        _fail(obj, "name must be a non-empty string")
    params = obj.get_params()
    if not isinstance(params, dict):
        _fail(obj, f"get_params() returned {type(params).__name__}, not a dict")
    twin = clone(obj)
    if type(twin) is not type(obj) or twin is obj:
        _fail(obj, "clone() must give a new object of the same class")
    if twin.get_params() != params:
        _fail(obj, f"clone() changed the parameters: {params} -> {twin.get_params()}")
    if obj.set_params(**params) is not obj or obj.get_params() != params:
        _fail(obj, "set_params(**get_params()) must return the object unchanged")
    repr(obj)
    return obj


def _run(obj: Any, jobs: SimJobs, order: Order, backfill: Backfill) -> np.ndarray:
    try:
        start = run_generic(jobs, order, backfill)
    except AssertionError:
        raise
    except SimulationError as exc:
        _fail(obj, f"the engine stopped: {exc}")
    except Exception as exc:  # a policy that raises inside the engine breaks the contract
        _fail(obj, f"raised {type(exc).__name__} during a simulation: {exc}")
    if (start < 0).any():
        _fail(obj, f"{int((start < 0).sum())} jobs never started")
    if (start < jobs.submit).any():
        j = int(np.argmax(start < jobs.submit))
        _fail(obj, f"job {j} started at {start[j]} before its submit time {jobs.submit[j]}")
    # processors in use over time, from the start times: never above the machine
    ends = start + jobs.duration
    events = sorted([(t, 1, int(p)) for t, p in zip(start, jobs.procs)] +
                    [(t, 0, -int(p)) for t, p in zip(ends, jobs.procs)])  # ends before starts at one instant
    used = 0
    for t, _, delta in events:
        used += delta
        if used > jobs.procs_total:
            _fail(obj, f"{used} processors in use at t={t} on a machine of {jobs.procs_total}")
    return start


def _compiled(order: Order, backfill: Backfill, jobs: SimJobs) -> np.ndarray | None:
    from hpcopt.schedule.simulate import runs_compiled, run_jobs

    if not runs_compiled(order, backfill):
        return None
    return run_jobs(jobs, order, backfill, engine="fast")[0]


def _check_engine_runs(obj: Any, make: Callable[[], Any], pairs: list[tuple[Callable[[], Order], Callable[[], Backfill]]],
                       workloads: list[SimJobs]) -> None:
    for jobs in workloads:
        for make_order, make_backfill in pairs:
            order, backfill = make_order(), make_backfill()
            first = _run(obj, jobs, order, backfill)
            again = _run(obj, jobs, order, backfill)  # the same instances: reset() must forget state
            if not np.array_equal(first, again):
                _fail(obj, "a second simulation with the same object gave other start times (state kept "
                           "across reset(), or randomness without a fixed seed)")
            fresh = _run(obj, jobs, make_order(), make_backfill())
            if not np.array_equal(first, fresh):
                _fail(obj, "a fresh object gave other start times than the first one")
            fast = _compiled(order, getattr(backfill, "inner", backfill), jobs)
            if fast is not None and not np.array_equal(first, fast):
                _fail(obj, f"the generic engine and the compiled engine disagree on start times "
                           f"({int((first != fast).sum())} of {len(jobs)} jobs) under {order.name}+{backfill.name}")


def _queues(jobs: SimJobs, rng: np.random.Generator, count: int = 8) -> list[tuple[list[int], float]]:
    out = []
    n = len(jobs)
    for _ in range(count):
        i = int(rng.integers(0, n))
        now = float(jobs.submit[i] + rng.choice([0.0, 1.0, 30.0, 500.0]))
        arrived = np.flatnonzero(jobs.submit <= now)
        take = rng.permutation(arrived)[: int(rng.integers(1, len(arrived) + 1))]
        out.append(([int(j) for j in take], now))
    return out


def check_order(order: Any, *, seed: int = 0, workloads: list[SimJobs] | None = None) -> None:
    """The order half of :func:`check_policy`."""
    make = _factory(order)
    obj = _check_params(make)
    if not isinstance(obj, Order):
        _fail(obj, "is not an Order")
    workloads = generated_jobs(seed) if workloads is None else workloads
    rng = np.random.default_rng(seed)
    for jobs in workloads:
        for queue, now in _queues(jobs, rng):
            o = make()
            before_jobs, before_queue = _snapshot(jobs), list(queue)
            keys = {}
            for j in queue:
                k = o.key(j, now, jobs)
                if isinstance(k, bool) or not isinstance(k, numbers.Real):
                    _fail(o, f"key() returned {type(k).__name__} for job {j}; it must be a real number")
                if math.isnan(float(k)):
                    _fail(o, f"key() returned NaN for job {j} at now={now}: NaN breaks the total order")
                if o.key(j, now, jobs) != k:
                    _fail(o, f"key() is not deterministic for job {j} at now={now}")
                if not o.time_dependent and o.key(j, now + 1234.5, jobs) != k:
                    _fail(o, f"key() of job {j} changes with now but time_dependent is False")
                keys[j] = float(k)
            got = o.sort(queue, now, jobs)
            if list(queue) != before_queue:
                _fail(o, "sort() mutated the queue it was given")
            _check_unchanged(o, jobs, before_jobs, "key() or sort()")
            if not isinstance(got, list):
                _fail(o, f"sort() returned {type(got).__name__}, not a list")
            if sorted(got) != sorted(queue):
                _fail(o, f"sort() did not return a permutation of the queue ({len(got)} jobs for {len(queue)}, "
                         "or a job dropped, repeated or added)")
            expected = sorted(queue, key=lambda j: (keys[j], j))
            if got != expected:
                k = next(i for i, (a, b) in enumerate(zip(got, expected)) if a != b)
                _fail(o, f"sort() is not the order of (key, job index): position {k} holds job {got[k]} "
                         f"(key {keys[got[k]]}), expected job {expected[k]} (key {keys[expected[k]]})")
            shuffled = [queue[i] for i in rng.permutation(len(queue))]
            if o.sort(shuffled, now, jobs) != got or o.sort(queue, now, jobs) != got:
                _fail(o, "sort() depends on the queue's list order or on earlier calls")
    _check_engine_runs(obj, make, [(make, EASY)], workloads)


class _Watched(Backfill):
    """Delegates to a backfilling rule and checks every decision it makes."""

    def __init__(self, inner: Backfill) -> None:
        self.inner = inner
        self.name = inner.name  # type: ignore[misc]

    def reset(self) -> None:
        self.inner.reset()

    def next_wakeup(self, now: float) -> float:
        return self.inner.next_wakeup(now)

    def select(self, queue: list[int], view: ClusterView) -> list[int]:
        inner, jobs = self.inner, view.jobs
        before_queue, before_running, before_jobs = list(queue), dict(view.running), _snapshot(jobs)
        free = view.free
        chosen = inner.select(queue, view)
        if list(queue) != before_queue or view.running != before_running or view.free != free:
            _fail(inner, f"select() mutated the queue or the cluster view at now={view.now}")
        _check_unchanged(inner, jobs, before_jobs, "select()")
        chosen = list(chosen)
        if len(set(chosen)) != len(chosen) or not set(chosen) <= set(queue):
            _fail(inner, f"select() at now={view.now} returned {chosen}: jobs must be distinct and queued")
        need = int(sum(int(jobs.procs[j]) for j in chosen))
        if need > free:
            _fail(inner, f"select() at now={view.now} started jobs needing {need} processors with {free} free "
                         f"(machine of {jobs.procs_total})")
        if inner.protects == "head":
            self._check_head(queue, view, chosen)
        return chosen

    def _check_head(self, queue: list[int], view: ClusterView, chosen: list[int]) -> None:
        jobs, now = view.jobs, view.now
        started = set(chosen)
        waiting = [j for j in queue if j not in started]
        if not waiting:
            return
        head = waiting[0]
        k = queue.index(head)
        ahead = [j for j in chosen if queue.index(j) < k]
        behind = [j for j in chosen if queue.index(j) > k]
        if not behind:
            return
        running = [(view.expected_end(r), int(jobs.procs[r])) for r in view.running]

        def earliest(started_now: list[int]) -> float:
            free = view.free - sum(int(jobs.procs[j]) for j in started_now)
            need = int(jobs.procs[head])
            if free >= need:
                return now
            for end, p in sorted(running + [(now + float(jobs.estimate[j]), int(jobs.procs[j])) for j in started_now]):
                free += p
                if free >= need:
                    return end
            return math.inf

        reserved, after = earliest(ahead), earliest(ahead + behind)
        if after > reserved + _EPS * max(1.0, abs(reserved)):
            _fail(self.inner, f"at now={now}, starting jobs {behind} behind the blocked head {head} moves the "
                              f"head's earliest start from {reserved} to {after} (protects='head' promises "
                              "no such delay)")


def check_backfill(backfill: Any, *, seed: int = 0, workloads: list[SimJobs] | None = None) -> None:
    """The backfilling half of :func:`check_policy`."""
    make = _factory(backfill)
    obj = _check_params(make)
    if not isinstance(obj, Backfill):
        _fail(obj, "is not a Backfill")
    if obj.protects not in ("head", "none"):
        _fail(obj, f"protects must be 'head' or 'none'; got {obj.protects!r}")
    workloads = generated_jobs(seed) if workloads is None else workloads
    _check_engine_runs(obj, make, [(FCFS, lambda: _Watched(make())), (SJF, lambda: _Watched(make()))], workloads)


def check_policy(policy: Any, *, seed: int = 0) -> None:
    """Check an order or a backfilling rule (instance, class, factory or registered name); see the module."""
    obj = _factory(policy)()
    if isinstance(obj, Order):
        check_order(policy, seed=seed)
    elif isinstance(obj, Backfill):
        check_backfill(policy, seed=seed)
    else:
        raise AssertionError(f"check_policy needs an Order or a Backfill; got {type(obj).__name__}")
