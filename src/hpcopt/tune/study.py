"""A study ties together a space, a strategy, a runner and a storage.

    study = Study(space, runner, strategy="bo", name="matmul", storage="tune.db")
    study.optimize(budget=60)
    study.best

A study with the same name in the same storage resumes: its finished trials are told to
the strategy again and count toward the budget; a failed configuration is final (it is
not measured again) unless the study is opened with ``retry_failed=True`` (``tune run
--retry-failed``, after fixing a kernel that did not compile, say): its failed trials
are then marked ``retried`` -- kept in the history as what they were, no longer counted
-- and their configurations are measured again first, before the strategy proposes
anything new. The budget counts distinct configurations whose current trial is finished
or running in this study (measured here, or taken from the cache of a study with the
same runner); a retried failure is replaced by its new measurement, never counted twice.
A trial a crash left ``running`` is measured again once it is released -- its owner
process on this host is gone (process ids are checked with their start time), or its
heartbeat, refreshed while it is measured, is older than the lease (``lease_s``; any host), or the study is opened with
``release_running=True`` (every running trial, e.g. after a requeue on another node).
The objectives and directions must match the stored ones; a study opened without
them adopts the stored ones. A configuration already measured -- in this study, or by another study
in the same storage with the same runner fingerprint -- is never measured twice.

``ask``/``tell`` give the same bookkeeping for evaluations run elsewhere.

Several processes may work on one study in one storage (SQLite on one machine, a
journal file or PostgreSQL across machines): before each proposal a study reads what
the others finished (told to its strategy) and what they are measuring (never proposed
twice); the budget counts every process's trials.

Objectives are minimised unless ``directions`` says ``"maximize"`` for one; the
strategy always sees values to minimise, the stored results keep the measured ones.
"""

from __future__ import annotations

import math
import socket
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Mapping
import dataclasses
from typing import Any

import numpy as np

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.results import Result, Status
from hpcopt.tune.space import SearchSpace
from hpcopt.tune.storage import (ASK_PREFIX, DEFAULT_LEASE_S, Refused, Storage, Trial, config_key, owner_is_gone,
                                 releasable, stored_objectives, this_owner)
from hpcopt.tune.strategies import DEFAULT_STRATEGY, Strategy, get_strategy

from hpcopt.core.progress import ProgressFn as Progress
Runner = Callable[[Mapping[str, Any]], Result]

#: consecutive free proposals (repeats, constraint violations) before a random
#: unmeasured valid point is measured instead, so no strategy can stall a study
MAX_FREE_PROPOSALS = 50
#: proposals one ``ask`` examines at most before giving up (returns None, with a warning)
MAX_PROPOSALS = 5000


class _Heartbeat:
    """Refreshes the heartbeat of this process's running trials every ``interval``
    seconds from a thread (with its own storage connection), while a study measures."""

    def __init__(self, storage: Storage, study: str, owner: str, interval: float) -> None:
        self.storage, self.study, self.owner, self.interval = storage, study, owner, interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _loop(self) -> None:
        st = None
        try:
            while not self._stop.wait(self.interval):
                try:
                    if st is None:
                        st = type(self.storage)(self.storage.url)
                    st.heartbeat(self.study, self.owner)
                except Exception:  # noqa: BLE001 - a missed beat only shortens the lease
                    pass
        finally:
            if st is not None:
                st.close()

    def __enter__(self) -> "_Heartbeat":
        if ":memory:" not in str(self.storage.url):  # an in-memory study has no other process
            self._thread = threading.Thread(target=self._loop, name="hpcopt-heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)


def pareto_front(values: np.ndarray) -> np.ndarray:
    """Indices of the non-dominated rows (all objectives minimised)."""
    values = np.asarray(values, dtype=float)
    keep = []
    for i, v in enumerate(values):
        dominated = np.any(np.all(values <= v, axis=1) & np.any(values < v, axis=1))
        if not dominated:
            keep.append(i)
    return np.asarray(keep, dtype=int)


class Study:
    """See the module docstring. ``runner`` may be ``None`` for ask/tell-only studies."""

    def __init__(
        self,
        space: SearchSpace,
        runner: Runner | None = None,
        *,
        strategy: str | Strategy | None = None,
        strategy_params: Mapping[str, Any] | None = None,
        name: str = "study",
        storage: str | Storage = ":memory:",
        random_state: int = 0,
        n_objectives: int | None = None,
        objective_names: Iterable[str] | None = None,
        fingerprint: str | None = None,
        warm_start: Iterable[tuple[Mapping[str, Any], float | None]] | None = None,
        extra_info: Mapping[str, Any] | None = None,
        redo_interrupted: bool = True,
        directions: Iterable[str] | None = None,
        release_running: bool = False,
        lease_s: float | None = None,
        ask_lease_s: float | None = None,
        retry_failed: bool = False,
    ) -> None:
        self.storage = storage if isinstance(storage, Storage) else Storage(storage)
        if n_objectives is None and objective_names is None and directions is None:
            stored = self.storage._study_row(name)  # resuming without naming them: adopt the stored ones
            if stored is not None:
                objective_names, directions = stored_objectives(stored)
        names = list(objective_names) if objective_names is not None else None
        directions = list(directions) if directions is not None else None
        if n_objectives is None:
            n_objectives = len(names) if names else (len(directions) if directions else 1)
        if n_objectives < 1:
            raise ConfigError(f"n_objectives must be at least 1, got {n_objectives}")
        directions = directions or ["minimize"] * n_objectives
        if len(directions) != n_objectives or any(d not in ("minimize", "maximize") for d in directions):
            raise ConfigError(f"directions must be {n_objectives} of 'minimize'/'maximize'; got {directions}")
        self.directions = directions
        self._signs = np.array([1.0 if d == "minimize" else -1.0 for d in directions])
        self.space = space
        self.runner = runner
        self.name = name
        self.random_state = int(random_state)
        self.n_objectives = n_objectives
        self.objective_names = names or (["objective"] if n_objectives == 1 else
                                         [f"objective_{i}" for i in range(n_objectives)])
        if len(self.objective_names) != n_objectives:
            raise ConfigError(f"{n_objectives} objectives but {len(self.objective_names)} names: {self.objective_names}")
        if fingerprint is None and runner is not None and hasattr(runner, "fingerprint"):
            fingerprint = runner.fingerprint()
        self.fingerprint = fingerprint
        timeout = getattr(runner, "timeout", None)
        #: a running trial whose heartbeat is older than this is released
        self.lease_s = float(lease_s) if lease_s is not None else max(DEFAULT_LEASE_S, 2.0 * float(timeout or 0))
        self.ask_lease_s = ask_lease_s
        if strategy is None and n_objectives > 1:
            strategy = "nsga2"  # the default strategy optimises one objective
        strat_name = strategy.name if isinstance(strategy, Strategy) else (strategy or DEFAULT_STRATEGY)
        info = {"space": space.to_dict(), "strategy": strat_name, "strategy_params": dict(strategy_params or {}),
                "random_state": self.random_state, "n_objectives": n_objectives,
                "objective_names": self.objective_names, "directions": directions, **dict(extra_info or {})}
        from hpcopt import __version__

        info["hpcopt_version"] = __version__
        self.info, self.created = self.storage.create_or_load_study(name, info, fingerprint)
        stored_fp = None if self.created else self.storage.study_fingerprint(name)
        #: the runner (kernel source, flags, command...) differs from the one the study was created with
        self.runner_changed = bool(stored_fp and fingerprint and stored_fp != fingerprint)
        # trials left 'running' were interrupted (redo them) once released: owner gone,
        # heartbeat older than the lease, or everything with release_running; ask/tell
        # trials are still being evaluated elsewhere (kept pending) unless released
        if release_running:
            self.interrupted = self.storage.release_running(name, everything=True)
        else:
            self.interrupted = self.storage.release_running(
                name, lease_s=self.lease_s if redo_interrupted else None, ask_lease_s=ask_lease_s)
        #: failed trials marked for measuring again by this opening of the study
        self.retried = len(self.storage.retry_failed(name)) if retry_failed else 0
        # trials this process starts name it as their owner; ask/tell studies mark theirs
        # (never released as "gone": they are evaluated elsewhere)
        self.owner = this_owner() if redo_interrupted else ASK_PREFIX + this_owner()
        self._redo = redo_interrupted
        self.strategy = get_strategy(strategy, **dict(strategy_params or {}))
        self.strategy.setup(space, random_state=self.random_state, n_objectives=n_objectives)
        if warm_start is not None:  # values as measured; the strategy minimises
            self.strategy.warm_start([(c, None if v is None else float(self._signs[0] * v)) for c, v in warm_start])
        self._done: dict[str, Result] = {}
        self._pending: dict[int, dict[str, Any]] = {}
        self._foreign: dict[int, str] = {}  # trials other processes are measuring: number -> key
        self._seen_version: Any = object()
        self._rng = np.random.default_rng(self.random_state + 104729)
        for t in self.storage.trials(name):
            if t.state == "done" and t.result is not None:
                self._done[t.key] = t.result
                self.strategy.tell(t.config, self._minimised(t.result))
            elif t.state == "running":
                if redo_interrupted:
                    self._foreign[t.number] = t.key
                else:
                    self._pending[t.number] = dict(t.config)
        # retried configurations without a current trial are measured first (also after a
        # crash between marking them and measuring them)
        self._retry_queue: list[dict[str, Any]] = []
        live = {t.key for t in self.storage.trials(name)}
        for t in self.storage.history(name):
            if t.state == "retried" and t.key not in live:
                live.add(t.key)
                self._retry_queue.append(dict(t.config))
        self._seen_version = self.storage.version()
        self.resumed_trials = len(self._done)

    def _minimised(self, result: Result) -> Result:
        """The result as the strategy sees it: every objective to be minimised."""
        if not result.ok or bool(np.all(self._signs > 0)):
            return result
        vals = tuple(float(s * v) for s, v in zip(self._signs, result.values or (result.value,)))
        return dataclasses.replace(result, value=vals[0], values=vals)

    def _sync(self) -> None:
        """Take in what other processes wrote to this study since the last look."""
        v = self.storage.version()
        if v is not None and v == self._seen_version:
            return
        self._seen_version = v
        foreign: dict[int, str] = {}
        gone: list[int] = []
        now = time.time()
        for t in self.storage.trials(self.name):
            if t.state == "done" and t.result is not None:
                if t.key not in self._done:
                    self._done[t.key] = t.result
                    self.strategy.tell(t.config, self._minimised(t.result))
            elif t.state == "running" and t.number not in self._pending:
                if t.owner != self.owner and releasable(t, self.lease_s if self._redo else None, now,
                                                        self.ask_lease_s):
                    gone.append(t.number)
                else:
                    foreign[t.number] = t.key
        self._foreign = foreign
        if gone:  # a worker was killed or lost: its trials are measured again
            self.storage._mark_interrupted(self.name, gone)
            self._seen_version = self.storage.version()

    # ------------------------------------------------------------------ bookkeeping
    def key(self, config: Mapping[str, Any]) -> str:
        return config_key(config, self.space.names)

    @property
    def trials(self) -> list[Trial]:
        return self.storage.trials(self.name)

    def n_done(self) -> int:
        """Finished trials (distinct configurations), by any process."""
        return len(self._done)

    def _taken(self) -> set[str]:
        """Distinct configurations finished or being measured (what the budget counts)."""
        return set(self._done) | {self.key(c) for c in self._pending.values()} | set(self._foreign.values())

    def n_running(self) -> int:
        """Configurations being measured (and not finished), by this process or others."""
        return len(self._taken() - set(self._done))

    def best_trial(self) -> Trial | None:
        ok = [t for t in self.trials if t.result is not None and t.result.ok]
        if not ok:
            return None
        return min(ok, key=lambda t: self._signs[0] * t.result.value)  # type: ignore[union-attr]

    @property
    def best(self) -> dict[str, Any] | None:
        t = self.best_trial()
        return None if t is None else {"config": t.config, "value": t.result.value, "number": t.number,
                                       "spread": t.result.spread}

    def pareto(self) -> list[Trial]:
        ok = [t for t in self.trials if t.result is not None and t.result.ok and t.result.values]
        if not ok:
            return []
        vals = np.array([t.result.values for t in ok]) * self._signs
        return [ok[i] for i in pareto_front(vals)]

    def history(self) -> list[tuple[dict[str, Any], float | None]]:
        """(config, value) of every finished trial, for warm-starting another study."""
        return [(t.config, t.result.value if t.result and t.result.ok else None)
                for t in self.trials if t.state == "done"]

    # ------------------------------------------------------------------ ask / tell
    def _random_unmeasured(self, exclude: set[str] = frozenset()) -> dict[str, Any] | None:
        taken = self._taken() | set(exclude)
        if self.space.enumerable():
            pts = self.space.valid_points()
            free = [p for p in pts if self.key(self.space.to_config(p)) not in taken]
            if not free:
                return None
            return self.space.to_config(free[int(self._rng.integers(len(free)))])
        for _ in range(1000):
            c = self.space.sample_valid(self._rng)
            if self.key(c) not in taken:
                return c
        return None

    def ask(self, max_done: int | None = None) -> tuple[int, dict[str, Any]] | None:
        """Next configuration to measure as ``(trial number, config)``; None when the space
        is exhausted. Repeats and constraint violations are resolved here for free; a
        configuration measured by a study with the same runner is stored from the cache
        (and counts toward ``max_done``, after which None is returned)."""
        free = 0
        self._sync()
        if max_done is not None and len(self._taken()) >= max_done:
            return None  # other processes finished or hold the rest of the budget
        pending_keys = {self.key(c) for c in self._pending.values()} | set(self._foreign.values())
        while self._retry_queue:  # failed configurations asked to be measured again: no cache
            cfg = self._retry_queue.pop(0)
            k = self.key(cfg)
            if k in self._done or k in pending_keys:
                continue
            number = self.storage.start_trial(self.name, cfg, k, owner=self.owner, unique=True, limit=max_done)
            if number is Refused.BUDGET:
                self._retry_queue.insert(0, cfg)
                self._sync()
                return None
            if number is Refused.TAKEN:
                continue
            self._pending[number] = dict(cfg)
            return number, dict(cfg)
        for _ in range(MAX_PROPOSALS):
            cfg = (self.strategy.ask() if free < MAX_FREE_PROPOSALS
                   else self._random_unmeasured(pending_keys))
            if cfg is None:
                if free < MAX_FREE_PROPOSALS:
                    cfg = self._random_unmeasured(pending_keys)
                if cfg is None:
                    return None
            k = self.key(cfg)
            if k in self._done:
                self.strategy.tell(cfg, self._minimised(self._done[k]))
                free += 1
                continue
            if k in pending_keys:
                free += 1
                continue
            if not self.space.is_valid(cfg):
                self.strategy.tell(cfg, Result.failure(Status.INVALID, "breaks a constraint"))
                free += 1
                continue
            cached = self.storage.cached_result(self.fingerprint, k, n_values=self.n_objectives)
            if cached is not None:
                got = self.storage.add_done_trial(self.name, cfg, k, cached, "cache", unique=True, limit=max_done)
                if got is Refused.BUDGET:
                    self._sync()
                    return None
                if got is Refused.TAKEN:  # another process has it: learn about it at the next look
                    self._sync()
                    pending_keys.add(k)
                    free += 1
                    continue
                self._done[k] = cached
                self.strategy.tell(cfg, self._minimised(cached))
                free = 0
                if max_done is not None and len(self._taken()) >= max_done:
                    return None
                continue
            number = self.storage.start_trial(self.name, cfg, k, owner=self.owner, unique=True, limit=max_done)
            if number is Refused.BUDGET:  # other processes hold the rest of the budget
                self._sync()
                return None
            if number is Refused.TAKEN:  # another process took this configuration
                self._sync()
                pending_keys.add(k)
                free += 1
                continue
            self._pending[number] = dict(cfg)
            return number, dict(cfg)
        warnings.warn(f"study {self.name!r}: no new configuration in {MAX_PROPOSALS} proposals; stopping",
                      RuntimeWarning, stacklevel=2)
        return None

    def tell(self, number: int, result: Result, *, source: str = "measured") -> None:
        cfg = self._pending.pop(number, None)
        if cfg is None:
            raise InputError(f"trial {number} of study {self.name!r} is not waiting for a result", field="trial",
                             hint="tell each asked trial once")
        if not isinstance(result, Result):
            raise InputError(f"tell needs a Result, got {type(result).__name__}", field="result")
        k = self.key(cfg)
        if not self.storage.finish_trial(self.name, number, result, source, key=k):
            # the trial was released meanwhile (taken for interrupted): keep the
            # measurement, unless another process has this configuration by now
            self.storage.add_done_trial(self.name, cfg, k, result, source, unique=True)
        self._done[k] = result
        self.strategy.tell(cfg, self._minimised(result))

    def add(self, config: Mapping[str, Any], result: Result, *, unique: bool = False) -> bool:
        """Record an evaluation made outside the study (e.g. imported results). With
        ``unique``, only if no trial of the study has this configuration yet (returns
        whether it was stored). Repeated configurations are stored but count once
        toward the budget."""
        cfg = self.space.check(config)
        k = self.key(cfg)
        got = self.storage.add_done_trial(self.name, cfg, k, result, "told", unique=unique)
        if isinstance(got, Refused):
            self._sync()
            return False
        self._done[k] = result
        self.strategy.tell(cfg, self._minimised(result))
        return True

    # ------------------------------------------------------------------ the loop
    def _safe_run(self, cfg: Mapping[str, Any]) -> Result:
        assert self.runner is not None
        try:
            res = self.runner(cfg)
        except InputError:
            raise  # a problem with the setup, not with this configuration
        except Exception as exc:  # noqa: BLE001 - recorded, never raised out of the study
            return Result.failure(Status.RUNTIME_ERROR, f"runner raised {type(exc).__name__}: {exc}")
        if not isinstance(res, Result):
            return Result.failure(Status.RUNTIME_ERROR, f"runner returned {type(res).__name__}, not a Result")
        return res

    def _message(self) -> str:
        b = self.best
        return f"best {b['value']:.4g}" if b else "no valid result yet"

    def optimize(self, budget: int, *, progress: Progress | None = None, n_workers: int = 1,
                 time_limit: float | None = None, executor: Any = None,
                 executor_options: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Measure until the study holds ``budget`` finished trials (resumed ones, and
        those of other processes on the same study, count).

        ``n_workers`` > 1 measures in parallel through ``executor``: ``"process"`` (a
        local process pool, the default), ``"dask"``, ``"submitit"`` or an
        :class:`~hpcopt.tune.executors.Executor`; naming dask or submitit uses them even
        with one worker. ``executor_options`` go to the executor (see
        :mod:`hpcopt.tune.executors`)."""
        if self.runner is None:
            raise ConfigError("this study has no runner; use ask/tell")
        if budget < 1:
            raise ConfigError(f"budget must be at least 1, got {budget}")
        t0 = time.perf_counter()
        with _Heartbeat(self.storage, self.name, self.owner, self.lease_s / 4):
            measured, engine, timed_out = self._optimize(budget, progress, n_workers, time_limit, executor,
                                                         executor_options, t0)
        out = self.summary(measured=measured, seconds=time.perf_counter() - t0, executor=engine,
                           n_workers=max(1, n_workers))
        if self.n_done() < budget:
            self._sync()
            held = [t for t in self.storage.trials(self.name)
                    if t.state == "running" and t.key not in self._done and t.owner != self.owner]
            local = socket.gethostname() + ":"
            busy_here = all((t.owner or "").startswith(local) and not owner_is_gone(t.owner) for t in held)
            why = ("the time limit was reached" if timed_out else
                   f"{len({t.key for t in held})} configuration(s) are held by running trials of other processes "
                   f"({', '.join(sorted({str(t.owner) for t in held})[:3])}; released when their owner is gone or "
                   "their lease expires, or resume with release_running=True / --release-running)" if held else
                   "the space has no unmeasured valid configuration left")
            out["warning"] = f"the study holds {self.n_done()} finished trials, fewer than the budget {budget}: {why}"
            # an exhausted space, or the last trials measured by live processes of this
            # host (they will finish them), are ordinary ends
            if timed_out or (held and not busy_here):
                warnings.warn(out["warning"], RuntimeWarning, stacklevel=2)
        return out

    def _optimize(self, budget, progress, n_workers, time_limit, executor, executor_options, t0):
        measured = 0
        if progress:
            progress(self.n_done(), budget, self._message())
        if n_workers <= 1 and executor in (None, "process"):
            while self.n_done() < budget:
                if time_limit is not None and time.perf_counter() - t0 > time_limit:
                    break
                nxt = self.ask(max_done=budget)
                if nxt is None:
                    break
                number, cfg = nxt
                self.tell(number, self._safe_run(cfg))
                measured += 1
                if progress:
                    progress(min(self.n_done(), budget), budget, self._message())
            engine = "serial"
        else:
            from hpcopt.tune.executors import get_executor

            ex = get_executor(executor, max(1, n_workers), executor_options)
            try:
                measured = self._optimize_parallel(ex, budget, progress, t0, time_limit)
            finally:
                if not hasattr(executor, "submit_many"):
                    ex.close()
            engine = ex.name
        timed_out = time_limit is not None and time.perf_counter() - t0 > time_limit
        return measured, engine, timed_out

    def _optimize_parallel(self, ex: Any, budget: int, progress: Progress | None, t0: float,
                           time_limit: float | None) -> int:
        ex.check(self.runner)
        measured = 0
        running: dict[Any, int] = {}
        exhausted = False
        while True:
            batch: list[tuple[int, dict[str, Any]]] = []
            while (not exhausted and len(running) + len(batch) < ex.n_workers
                   and self.n_done() + self.n_running() < budget
                   and (time_limit is None or time.perf_counter() - t0 <= time_limit)):
                nxt = self.ask(max_done=budget)
                if nxt is None:
                    exhausted = True
                    break
                batch.append(nxt)
            if batch:
                handles = ex.submit_many(self.runner, [cfg for _, cfg in batch])
                for h, (number, _) in zip(handles, batch):
                    running[h] = number
            if not running:
                break
            for h in ex.wait(list(running)):
                number = running.pop(h)
                try:
                    res = ex.result(h)
                except Exception as exc:  # noqa: BLE001 - a lost worker is a result, not a crash
                    res = Result.failure(Status.RUNTIME_ERROR, f"worker failed: {type(exc).__name__}: {exc}")
                if not isinstance(res, Result):
                    res = Result.failure(Status.RUNTIME_ERROR, f"runner returned {type(res).__name__}, not a Result")
                self.tell(number, res)
                measured += 1
                if progress:
                    progress(min(self.n_done(), budget), budget, self._message())
        return measured

    def summary(self, **extra: Any) -> dict[str, Any]:
        trials = self.trials
        counts: dict[str, int] = {}
        for t in trials:
            if t.result is not None:
                counts[t.result.status.value] = counts.get(t.result.status.value, 0) + 1
        out = {
            "schema": "hpcopt.tune.study/1",
            "study": self.name,
            "storage": self.storage.path,
            "strategy": self.strategy.name,
            "random_state": self.random_state,
            "trials": len(trials),
            "configurations": len({t.key for t in trials}),
            "resumed_trials": self.resumed_trials,
            "retried_failures": self.retried,
            "runner_changed": self.runner_changed,
            "superseded_failures": sum(1 for t in self.storage.history(self.name) if t.state == "retried"),
            "interrupted_trials_redone": self.interrupted,
            "status_counts": counts,
            "best": self.best,
            "space": self.space.size_report(),
        }
        if self.n_objectives > 1:
            out["objectives"] = self.objective_names
            out["directions"] = self.directions
            out["pareto_front"] = [{"config": t.config, "values": list(t.result.values)} for t in self.pareto()]
        out.update(extra)
        return out


def convergence(trials: list[Trial]) -> tuple[np.ndarray, np.ndarray]:
    """(trial numbers, best-so-far value) over the finished trials."""
    xs, ys, best = [], [], math.inf
    for i, t in enumerate([t for t in trials if t.state == "done"]):
        if t.result is not None and t.result.ok and t.result.value < best:
            best = t.result.value
        xs.append(i + 1)
        ys.append(best)
    return np.array(xs), np.array(ys)


__all__ = ["Study", "pareto_front", "convergence", "MAX_FREE_PROPOSALS", "MAX_PROPOSALS"]
