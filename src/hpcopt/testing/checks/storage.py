"""Conformance check for study storages (:class:`hpcopt.tune.storage.Storage`), in the
spirit of Optuna's storage tests: ``check_storage(factory)`` runs every part of the
contract on storages the factory opens and raises ``AssertionError`` saying which part
broke.

``factory(folder)`` opens the storage that lives in ``folder`` (a new, empty folder for
each check); opening it again on the same folder must give the same data. Storages that
keep nothing between openings (``":memory:"``) pass ``persistent=False``: the reopen,
multi-process and damaged-file checks are then skipped; a database server ``files=False``
(no damaged-file check).

The checks: studies (create, load, refuse another space, names, fingerprints, unknown
names); the trial lifecycle (numbers 0, 1, ..., running with owner and heartbeat, a result
written once and only onto a running trial with the same configuration, numbers never
reused); refusals (``Refused.TAKEN`` for a configuration held, ``Refused.BUDGET`` at the
distinct-configuration limit, cache hits too); leases (a trial whose owner is gone or
whose heartbeat is older than the lease is released, a refreshed one is not, ask/tell
trials are never released as gone, a released configuration may be claimed again and its
late result is refused); typed failures (status, message and extra kept; ``retry_failed``
takes them out of the budget and the cache); the cache by runner fingerprint; reopening;
several processes racing for the same configurations (no duplicate, no budget overrun, no
lost claim, no error); and damaged files (an error from :mod:`hpcopt.errors`, or the data
that could be read -- never another exception).
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import socket
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hpcopt.errors import HpcoptError
from hpcopt.tune.results import Result, Status
from hpcopt.tune.storage import ASK_PREFIX, Refused, Storage

Factory = Callable[[Path], Storage]
SPACE = {"parameters": {"x": {"type": "int", "low": 0, "high": 99}}, "constraints": [], "derived": {}}
INFO = {"space": SPACE, "strategy": "random", "objective_names": ["time"], "directions": ["minimize"]}


class _Fail:
    def __init__(self, label: str) -> None:
        self.label = label

    def __call__(self, cond: Any, what: str) -> None:
        if not cond:
            raise AssertionError(f"check_storage[{self.label}]: {what}")


def _dead_owner() -> str:
    p = subprocess.Popen(["true"])
    p.wait()
    return f"{socket.gethostname()}:{p.pid}"


def _key(x: int) -> str:
    return f"[{x}]"


def check_studies(st: Storage, ok: _Fail) -> None:
    got = st.create_or_load_study("a", INFO, "fp-a")
    ok(got == (INFO, True), f"create_or_load_study of a new study returned {got!r}, not (info, True)")
    info, created = st.create_or_load_study("a", INFO, "fp-a")
    ok(not created and info["space"] == SPACE, "opening an existing study must return its info and created=False")
    try:
        st.create_or_load_study("a", {**INFO, "space": {"parameters": {}}}, "fp-a")
        ok(False, "opening a study with another search space must raise InputError")
    except HpcoptError:
        pass
    st.create_or_load_study("b", INFO, "fp-b")
    ok(st.study_names() == ["a", "b"], f"study_names() is {st.study_names()}, not ['a', 'b'] (creation order)")
    ok(st.study_fingerprint("b") == "fp-b", "study_fingerprint does not return the fingerprint given at creation")
    ok(st.study_info("a")["strategy"] == "random", "study_info does not return the stored info")
    try:
        st.study_info("nope")
        ok(False, "study_info of an unknown study must raise InputError")
    except HpcoptError:
        pass


def check_lifecycle(st: Storage, ok: _Fail) -> None:
    st.create_or_load_study("a", INFO, "fp")
    n0 = st.start_trial("a", {"x": 0}, _key(0), owner="h:1")
    n1 = st.start_trial("a", {"x": 1}, _key(1), owner="h:1")
    ok((n0, n1) == (0, 1), f"trial numbers are {n0}, {n1}, not 0, 1")
    t = {t.number: t for t in st.trials("a")}
    ok(set(t) == {0, 1} and all(x.state == "running" for x in t.values()), "new trials must be listed as running")
    ok(t[0].owner == "h:1" and t[0].heartbeat is not None and t[0].config == {"x": 0} and t[0].key == _key(0),
       "a running trial must keep its owner, heartbeat, configuration and key")
    res = Result.success(2.5, [2.0, 3.0], values=[2.5], extra={"gflops": 7.0})
    ok(st.finish_trial("a", 0, res, key=_key(1)) is False, "finish_trial with another configuration key must refuse")
    ok(st.finish_trial("a", 0, res, key=_key(0)) is True, "finish_trial of a running trial must return True")
    ok(st.finish_trial("a", 0, Result.success(9.0), key=_key(0)) is False,
       "finish_trial of a finished trial must return False (a result is written once)")
    done = {t.number: t for t in st.trials("a")}[0]
    ok(done.state == "done" and done.source == "measured" and done.finished is not None,
       f"a finished trial must be done/measured with a finish time; got {done.state}/{done.source}")
    ok(done.result == res, f"the result does not round-trip: {done.result!r} != {res!r}")
    ok(st.finish_trial("a", 7, res) is False, "finish_trial of an unknown trial number must return False")
    ok(st.release_running("a", everything=True) == 1, "release_running(everything=True) must release the running trial")
    n2 = st.start_trial("a", {"x": 1}, _key(1), owner="h:1", unique=True)
    ok(n2 == 2, f"trial numbers must never be reused: got {n2} after 0 and 1")
    ok(st.finish_trial("a", 1, res, key=_key(1)) is False, "a released trial must not take a late result")
    hist = [(t.number, t.state) for t in st.history("a")]
    ok(hist == [(0, "done"), (1, "interrupted"), (2, "running")], f"history() is {hist}")
    ok([t.number for t in st.trials("a")] == [0, 2], "trials() must leave released trials out")


def check_refusals(st: Storage, ok: _Fail) -> None:
    st.create_or_load_study("a", INFO, "fp")
    ok(st.start_trial("a", {"x": 0}, _key(0), owner="h:1", unique=True, limit=2) == 0, "the first claim must start")
    got = st.start_trial("a", {"x": 0}, _key(0), owner="h:2", unique=True, limit=2)
    ok(got is Refused.TAKEN, f"claiming a running configuration again must give Refused.TAKEN, not {got!r}")
    ok(st.start_trial("a", {"x": 1}, _key(1), owner="h:1", unique=True, limit=2) == 1, "a second configuration")
    got = st.start_trial("a", {"x": 2}, _key(2), owner="h:1", unique=True, limit=2)
    ok(got is Refused.BUDGET, f"a third distinct configuration over limit=2 must give Refused.BUDGET, not {got!r}")
    got = st.add_done_trial("a", {"x": 3}, _key(3), Result.success(1.0), "cache", unique=True, limit=2)
    ok(got is Refused.BUDGET, f"a cache hit over the budget must be refused too, not {got!r}")
    ok(st.start_trial("a", {"x": 0}, _key(0), owner="h:1") == 2, "without unique, a configuration may repeat")
    ok(len(st.trials("a")) == 3, "a refused claim must store nothing")


def check_leases(st: Storage, ok: _Fail) -> None:
    st.create_or_load_study("a", INFO, "fp")
    gone = st.start_trial("a", {"x": 0}, _key(0), owner=_dead_owner())
    st.start_trial("a", {"x": 1}, _key(1), owner="far-host:1")
    st.start_trial("a", {"x": 2}, _key(2), owner="far-host:2")
    ask = st.start_trial("a", {"x": 3}, _key(3), owner=ASK_PREFIX + _dead_owner())
    ok(st.release_running("a") == 1, "release_running() must release exactly the trial whose owner is gone")
    ok({t.number for t in st.history("a") if t.state == "interrupted"} == {gone},
       "the trial of a gone owner must be interrupted")
    time.sleep(1.2)  # the lease below is 1 s: far-host:1's heartbeat is older, the refreshed one younger
    ok(st.heartbeat("a", "far-host:2") == 1, "heartbeat(owner) must count the owner's running trials")
    ok(st.release_running("a", lease_s=1.0) == 1,
       "release_running(lease_s) must release the trial with an old heartbeat only, not the refreshed one")
    states = {t.number: t.state for t in st.history("a")}
    ok(states[1] == "interrupted" and states[2] == "running" and states[ask] == "running",
       f"after the lease: {states} (the ask/tell trial is released only by an ask lease)")
    ok(st.release_running("a", lease_s=1.0, ask_lease_s=0.1) == 1, "ask_lease_s must release an old ask/tell trial")
    again = st.start_trial("a", {"x": 1}, _key(1), owner="h:1", unique=True)
    ok(not isinstance(again, Refused), "a released configuration must be claimable again")


def check_failures(st: Storage, ok: _Fail) -> None:
    st.create_or_load_study("a", INFO, "fp")
    st.create_or_load_study("b", INFO, "fp")
    bad = Result.failure(Status.TIMEOUT, "ran past 5 s", extra={"limit_s": 5.0})
    st.add_done_trial("a", {"x": 0}, _key(0), bad, "measured")
    st.add_done_trial("a", {"x": 1}, _key(1), Result.success(4.0, values=[4.0]), "measured")
    st.add_done_trial("a", {"x": 2}, _key(2), Result.failure(Status.INVALID, "breaks x < 2"), "measured")
    got = {t.key: t.result for t in st.trials("a")}
    ok(got[_key(0)] == bad, f"a typed failure must round-trip (status, message, extra): {got[_key(0)]!r}")
    ok(st.cached_result("fp", _key(0)) == bad, "a measured failure is served from the cache until it is retried")
    marked = st.retry_failed("a")
    ok([t.number for t in marked] == [0], "retry_failed must mark the failed trial only (not ok, not invalid)")
    ok([t.state for t in st.history("a")] == ["retried", "done", "done"], "the failed trial must be kept as retried")
    ok(st.cached_result("fp", _key(0)) is None, "a retried failure must leave the cache")
    ok(st.start_trial("a", {"x": 0}, _key(0), owner="h:1", unique=True, limit=3) == 3,
       "a retried configuration must be claimable again within the budget")


def check_cache(st: Storage, ok: _Fail) -> None:
    st.create_or_load_study("a", INFO, "fp1")
    st.create_or_load_study("b", INFO, "fp1")
    st.create_or_load_study("c", INFO, "fp2")
    res = Result.success(3.0, [3.0], values=[3.0])
    st.add_done_trial("a", {"x": 5}, _key(5), res, "measured")
    st.add_done_trial("c", {"x": 6}, _key(6), Result.success(1.0), "cache")
    ok(st.cached_result("fp1", _key(5)) == res, "a measurement must be served to a study with the same fingerprint")
    ok(st.cached_result("fp2", _key(5)) is None, "a measurement must not be served across fingerprints")
    ok(st.cached_result("fp2", _key(6)) is None, "a cache hit must not be served again as a measurement")
    ok(st.cached_result("fp1", _key(5), n_values=2) is None, "a result with another number of objectives must not fit")
    ok(st.cached_result(None, _key(5)) is None, "no fingerprint: no cache")


def check_reopen(factory: Factory, where: Path, ok: _Fail) -> None:
    st = factory(where)
    st.create_or_load_study("a", INFO, "fp")
    st.add_done_trial("a", {"x": 1}, _key(1), Result.success(2.0), "measured")
    st.add_done_trial("a", {"x": 4}, _key(4), Result.failure(Status.COMPILE_ERROR, "no such flag"), "measured")
    st.start_trial("a", {"x": 2}, _key(2), owner="h:1")
    before = [t.to_dict() for t in st.history("a")]
    st.close()
    st = factory(where)
    ok(st.study_names() == ["a"] and st.study_fingerprint("a") == "fp", "studies must survive reopening")
    ok([t.to_dict() for t in st.history("a")] == before,
       "trials (results and typed failures included) must survive reopening unchanged")
    ok(st.start_trial("a", {"x": 3}, _key(3), owner="h:1") == 3, "numbering must continue after reopening")
    st.close()


def _race(factory: Factory, where: Path, n: int, budget: int, barrier, queue) -> None:
    claimed, errors = [], []
    try:
        st = factory(where)
        for x in range(n):
            barrier.wait(timeout=60)
            got = st.start_trial("race", {"x": x}, _key(x), owner=f"w{os.getpid()}", unique=True, limit=budget)
            if not isinstance(got, Refused):
                claimed.append(x)
        st.close()
    except Exception as exc:  # noqa: BLE001 - reported to the parent as a violation
        errors.append(f"{type(exc).__name__}: {exc}")
        try:
            barrier.abort()
        except Exception:  # noqa: BLE001  # pragma: no cover
            pass
    queue.put((claimed, errors))


def check_concurrent_claims(factory: Factory, where: Path, ok: _Fail, processes: int = 3,
                            n: int = 8, budget: int = 6, timeout_s: float = 120.0) -> None:
    st = factory(where)
    st.create_or_load_study("race", INFO, "fp")
    st.close()
    ctx = mp.get_context("fork")
    barrier, q = ctx.Barrier(processes), ctx.Queue()
    ps = [ctx.Process(target=_race, args=(factory, where, n, budget, barrier, q)) for _ in range(processes)]
    for p in ps:
        p.start()
    outs = []
    try:
        for _ in ps:
            outs.append(q.get(timeout=timeout_s))
    except queue.Empty:
        outs = None
    finally:
        for p in ps:
            p.join(timeout=5)
            if p.is_alive():  # a hung worker: ours to stop
                p.kill()
                p.join()
    ok(outs is not None, f"a process racing for claims did not finish within {timeout_s:g} s (a deadlock?)")
    errors = [e for _, errs in outs for e in errs]
    ok(not errors, f"a process racing for claims failed: {errors[0] if errors else ''}")
    counts: dict[int, int] = {}
    for claimed, _ in outs:
        for x in claimed:
            counts[x] = counts.get(x, 0) + 1
    dup = {x: c for x, c in counts.items() if c > 1}
    ok(not dup, f"{processes} processes racing claimed the same configuration twice: {dup}")
    ok(len(counts) == budget, f"{len(counts)} distinct configurations claimed with a budget of {budget} "
       f"({'overrun' if len(counts) > budget else 'lost claims'})")
    st = factory(where)
    stored = {t.key for t in st.trials("race")}
    ok(len(stored) == budget and len(st.trials("race")) == budget,
       "the stored trials must be the claimed ones, one per configuration")
    st.close()


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(b"\x00\xffnot a study storage\n" * 64)
    else:  # truncated
        path.write_bytes(data[: max(1, len(data) // 2)])


def check_damaged(factory: Factory, where: Path, ok: _Fail) -> None:
    for how in ("garbage", "truncated"):
        sub = where / how
        sub.mkdir()
        st = factory(sub)
        st.create_or_load_study("a", INFO, "fp")
        for x in range(20):
            st.add_done_trial("a", {"x": x}, _key(x), Result.success(float(x)), "measured")
        st.close()
        files = [p for p in sub.iterdir() if p.is_file() and p.stat().st_size > 0]
        ok(files, "the storage wrote no file into its folder")
        for p in files:
            _damage(p, how)
        try:
            st = factory(sub)
            for name in st.study_names():
                st.trials(name)
                st.history(name)
            st.close()
        except HpcoptError:
            pass  # a clear error: what the contract asks
        except Exception as exc:  # noqa: BLE001
            ok(False, f"a {how} file raised {type(exc).__name__}: {exc} (expected an hpcopt InputError)")


def check_storage(factory: Factory, *, persistent: bool = True, files: bool = True, processes: int = 3,
                  label: str | None = None) -> list[str]:
    """Run every check on storages from ``factory(folder)``; returns the names of the
    checks run. Raises AssertionError naming the first violation. ``files=False`` for a
    storage that keeps its data elsewhere than in the folder (a database server): the
    damaged-file check is then skipped."""
    ok = _Fail(label or getattr(factory, "__name__", "storage"))
    run: list[str] = []
    with tempfile.TemporaryDirectory(prefix="hpcopt-check-storage-") as tmp:
        root = Path(tmp)
        for check in (check_studies, check_lifecycle, check_refusals, check_leases, check_failures, check_cache):
            where = root / check.__name__
            where.mkdir()
            st = factory(where)
            ok(isinstance(st, Storage), f"the factory returned {type(st).__name__}, not a Storage")
            try:
                check(st, ok)
            finally:
                st.close()
            run.append(check.__name__)
        if persistent:
            for name, fn in (("check_reopen", lambda w: check_reopen(factory, w, ok)),
                             ("check_concurrent_claims", lambda w: check_concurrent_claims(factory, w, ok, processes)),
                             ("check_damaged", lambda w: check_damaged(factory, w, ok))):
                if name == "check_damaged" and not files:
                    continue
                where = root / name
                where.mkdir()
                fn(where)
                run.append(name)
    return run


__all__ = ["check_storage", "check_studies", "check_lifecycle", "check_refusals", "check_leases", "check_failures",
           "check_cache", "check_reopen", "check_concurrent_claims", "check_damaged"]
