"""Queue orders and backfilling rules: plain objects the engine consults at each pass.

A queue order gives each waiting job a sort key at time ``now`` (smallest first); ties
are broken by submit time, then file order. A backfilling rule decides which queued jobs
start now. To add one, subclass :class:`Order` or :class:`Backfill` and pass an instance
to :func:`hpcopt.schedule.simulate`; the engine is not touched::

    class LargestFirst(Order):
        name = "largest"
        def key(self, j, now, jobs):
            return -jobs.procs[j]

Registered by name in :data:`ORDERS` and :data:`BACKFILLS` (``ORDERS.register("largest",
LargestFirst)``, or a plugin's ``hpcopt.plugins`` entry point ``order.largest``), a policy
can be named in ``ORDER+BACKFILL`` strings. :func:`hpcopt.testing.checks.policy.check_policy`
checks one against the contract.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import ClassVar

from hpcopt.core.params import ParamsMixin
from hpcopt.core.registry import Registry, did_you_mean
from hpcopt.errors import ConfigError
from hpcopt.schedule.jobs import SimJobs

INF = math.inf
# Zero-length reservations still hold their processors for an instant.
MIN_RESERVATION = 1e-3


def _log10(x: float) -> float:
    return math.log10(x) if x > 0 else -INF


# ---------------------------------------------------------------- queue orders


class Order(ParamsMixin):
    """Smallest key first; ties by submit time then file order (the job index).

    ``time_dependent``: whether ``key`` depends on ``now`` (otherwise the key of a job
    never changes). Parameters, if any, are ``__init__`` arguments (``get_params``).
    """

    name: ClassVar[str] = "order"
    time_dependent: ClassVar[bool] = False

    def key(self, j: int, now: float, jobs: SimJobs) -> float:
        raise NotImplementedError

    def sort(self, queue: list[int], now: float, jobs: SimJobs) -> list[int]:
        return sorted(queue, key=lambda j: (self.key(j, now, jobs), j))


class FCFS(Order):
    name = "fcfs"

    def key(self, j, now, jobs):
        return 0.0  # the tie-break (submit, file order) is the order

    def sort(self, queue, now, jobs):
        return sorted(queue)


class SJF(Order):
    """Shortest estimate first."""

    name = "sjf"

    def key(self, j, now, jobs):
        return float(jobs.estimate[j])


class WFP3(Order):
    """-(wait / estimate)^3 x processors (Tang et al. 2009): favours long waits, wide jobs."""

    name = "wfp3"
    time_dependent = True

    def key(self, j, now, jobs):
        return wfp3_score(now - jobs.submit[j], jobs.estimate[j], jobs.procs[j])


class UNICEP(Order):
    """-wait / (log2(processors) x estimate) (Tang et al. 2009)."""

    name = "unicep"
    time_dependent = True

    def key(self, j, now, jobs):
        return unicep_score(now - jobs.submit[j], jobs.estimate[j], jobs.procs[j])


class F1(Order):
    """log10(estimate) x processors + 870 x log10(submit) (Carastan-Santos & de Camargo, SC'17)."""

    name = "f1"

    def key(self, j, now, jobs):
        return f1_score(jobs.estimate[j], jobs.procs[j], jobs.submit[j])


def wfp3_score(wait: float, estimate: float, procs: int) -> float:
    # 0/0 (no wait, zero estimate) counts as 0; a positive wait over a zero estimate as -inf.
    if estimate <= 0:
        return -INF if wait > 0 else 0.0
    x = wait / estimate
    return -(x * x * x) * procs


def unicep_score(wait: float, estimate: float, procs: int) -> float:
    denom = math.log2(procs) * estimate
    if denom <= 0:
        return -INF if wait > 0 else 0.0
    return -wait / denom


def f1_score(estimate: float, procs: int, submit: float) -> float:
    return _log10(estimate) * procs + 870.0 * _log10(submit)


ORDERS: Registry[type[Order]] = Registry("order")
for _cls in (FCFS, SJF, WFP3, UNICEP, F1):
    ORDERS.register(_cls.name, _cls)


# ---------------------------------------------------------------- cluster view


@dataclass
class ClusterView:
    """What a backfilling rule may look at during a pass."""

    now: float
    free: int
    jobs: SimJobs
    running: dict[int, float]  # job -> start time
    early_completion: bool  # a job ended before its estimate since the last pass

    def expected_end(self, r: int) -> float:
        # A job that outlived its estimate is expected to end now.
        return max(self.running[r] + self.jobs.estimate[r], self.now)


class Backfill(ParamsMixin):
    """Decides which queued jobs start now. ``queue`` is in priority order.

    ``protects``: what the rule promises about reservations -- ``"head"``: no job it starts
    delays the first blocked job's earliest start computed from the running jobs'
    estimates (EASY's shadow time); ``"none"``: no promise. State kept between passes ends
    in ``reset``.
    """

    name: ClassVar[str] = "backfill"
    protects: ClassVar[str] = "none"

    def reset(self) -> None:
        """Forget state between simulations."""

    def select(self, queue: list[int], view: ClusterView) -> list[int]:
        raise NotImplementedError

    def next_wakeup(self, now: float) -> float:
        """A later time at which this rule wants a pass even if nothing happens then."""
        return INF


class NoBackfill(Backfill):
    """Start jobs in queue order while the first one fits."""

    name = "none"
    protects = "head"

    def select(self, queue, view):
        started, free, procs = [], view.free, view.jobs.procs
        for j in queue:
            if procs[j] > free:
                break
            started.append(j)
            free -= procs[j]
        return started


def shadow_and_extra(head: int, view: ClusterView, free: int, running: list[int]) -> tuple[float, int]:
    """EASY's reservation for the blocked head: the shadow time (earliest time enough
    processors are free, walking running jobs by expected end) and the extra processors
    free then beyond the head's need."""
    procs = view.jobs.procs
    ends = sorted((view.expected_end(r), r) for r in running)
    avail, shadow = free, INF
    for end, r in ends:
        avail += procs[r]
        if avail >= procs[head]:
            shadow = end
            break
    at_shadow = free + sum(int(procs[r]) for end, r in ends if end <= shadow)
    return shadow, at_shadow - int(procs[head])


class EASY(Backfill):
    """EASY backfilling (Lifka 1995; Mu'alem & Feitelson 2001): only the first blocked
    job holds a reservation; a later job may start now if it fits and either ends by the
    shadow time or uses only the extra processors."""

    name = "easy"
    protects = "head"
    backfill_order: ClassVar[str] = "queue"

    def candidates(self, rest: list[int], jobs: SimJobs) -> list[int]:
        """Backfill candidates in the order they are tried."""
        return rest

    def select(self, queue, view):
        procs, est, now = view.jobs.procs, view.jobs.estimate, view.now
        started: list[int] = []
        free = view.free
        k = 0
        while k < len(queue) and procs[queue[k]] <= free:
            started.append(queue[k])
            free -= procs[queue[k]]
            k += 1
        if k == len(queue):
            return started
        head = queue[k]
        running = list(view.running) + started
        starts = dict(view.running)
        starts.update({j: now for j in started})
        shadow, extra = shadow_and_extra(head, ClusterView(now, free, view.jobs, starts, False), free, running)
        for j in self.candidates(queue[k + 1 :], view.jobs):
            p = procs[j]
            if p > free:
                continue
            if now + est[j] <= shadow:
                started.append(j)
                free -= p
            elif p <= extra:
                started.append(j)
                free -= p
                extra -= p
        return started


class EASYSJBF(EASY):
    """EASY whose backfill candidates are tried shortest estimate first (SJBF), as in
    EASY++ (Tsafrir, Etsion & Feitelson 2007); the head still goes first."""

    name = "easy-sjbf"
    backfill_order = "sjbf"

    def candidates(self, rest, jobs):
        est = jobs.estimate
        return sorted(rest, key=lambda j: (est[j], j))


class Profile:
    """Free processors over time: a step function, ``free[k]`` on [times[k], times[k+1])."""

    def __init__(self, now: float, free_now: int, total: int) -> None:
        self.times = [now]
        self.free = [free_now]
        self.total = total

    def _point(self, t: float) -> int:
        k = bisect.bisect_right(self.times, t) - 1
        if self.times[k] != t:
            self.times.insert(k + 1, t)
            self.free.insert(k + 1, self.free[k])
            k += 1
        return k

    def add(self, start: float, end: float, delta: int) -> None:
        start = max(start, self.times[0])  # the past does not matter
        if end <= start:
            return
        i = self._point(start)
        j = self._point(end)
        for k in range(i, j):
            self.free[k] += delta

    def earliest(self, now: float, procs: int, duration: float) -> float:
        """Earliest s >= now with at least ``procs`` free on [s, s + duration)."""
        duration = max(duration, MIN_RESERVATION)
        times, free = self.times, self.free
        k = max(bisect.bisect_right(times, now) - 1, 0)
        m = len(times)
        while k < m:
            s = max(times[k], now)
            e = s + duration
            q = k
            ok = True
            while q < m and (q == k or times[q] < e):
                if free[q] < procs:
                    ok = False
                    break
                q += 1
            if ok:
                return s
            k = q + 1
        return INF  # pragma: no cover - the last segment always has every processor free


class Conservative(Backfill):
    """Conservative backfilling (Mu'alem & Feitelson 2001): every queued job holds a
    reservation, given when it first meets a pass at the earliest time it fits without
    delaying any earlier reservation. When a job ends before its estimate, every queued
    job is re-placed in queue order, each only moving earlier. A job starts when its
    reservation comes (the engine wakes up then if nothing else happens)."""

    name = "conservative"

    def __init__(self) -> None:
        self.reservations: dict[int, float] = {}  # state, not a parameter

    def reset(self) -> None:
        self.reservations = {}

    def select(self, queue, view):
        jobs, now = view.jobs, view.now
        res = self.reservations
        # Reservations whose time came but could not start (a job outlived its estimate)
        # are stale; they are placed again like the rest.
        compress = view.early_completion or any(res[j] < now for j in queue if j in res)
        # Running jobs hold their processors until their expected end.
        profile = Profile(now, view.free, jobs.procs_total)
        for r in view.running:
            profile.add(view.expected_end(r), INF, int(jobs.procs[r]))
        for j in queue:
            if j in res:
                profile.add(res[j], res[j] + max(jobs.estimate[j], MIN_RESERVATION), -int(jobs.procs[j]))
        for j in queue:
            p, d = int(jobs.procs[j]), max(float(jobs.estimate[j]), MIN_RESERVATION)
            if j in res:
                if not compress:
                    continue
                profile.add(res[j], res[j] + d, p)
            s = profile.earliest(now, p, d)
            profile.add(s, s + d, -p)
            res[j] = s
        started, free = [], view.free
        for j in queue:
            if res[j] == now and jobs.procs[j] <= free:
                started.append(j)
                free -= int(jobs.procs[j])
        for j in started:
            del res[j]
        return started

    def next_wakeup(self, now):
        # A reservation may fall where no job ends any more (the job that ended then was
        # itself moved earlier): wake up then, so that the job starts when its time comes.
        return min((t for t in self.reservations.values() if t > now), default=INF)


BACKFILLS: Registry[type[Backfill]] = Registry("backfill")
for _cls in (NoBackfill, EASY, EASYSJBF, Conservative):
    BACKFILLS.register(_cls.name, _cls)


def _make(registry: Registry, value, base: type, param: str, article: str):
    if isinstance(value, base):
        return value
    if isinstance(value, str) and value in registry:
        return registry.create(value)
    names = registry.names()
    hint = did_you_mean(str(value), names)
    raise ConfigError(f"The {param!r} parameter must be one of {sorted(names)} or {article} {base.__name__}; "
                      f"got {value!r} instead{hint or '.'}")


def make_order(order: str | Order) -> Order:
    """An :class:`Order` from a registered name (or the object itself)."""
    return _make(ORDERS, order, Order, "order", "an")


def make_backfill(backfill: str | Backfill) -> Backfill:
    """A :class:`Backfill` from a registered name (or the object itself)."""
    return _make(BACKFILLS, backfill, Backfill, "backfill", "a")


def parse_policy(text: str) -> tuple[str, str]:
    """``ORDER`` or ``ORDER+BACKFILL`` -> (order, backfill)."""
    order, _, backfill = text.strip().lower().partition("+")
    backfill = backfill or "none"
    make_order(order)
    make_backfill(backfill)
    return order, backfill
