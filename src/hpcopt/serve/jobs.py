"""Jobs: task runs the service accepted, executed in a worker pool and recorded in the store.

Submitting writes a ``service_jobs`` row (status ``queued``) before answering, then hands
:func:`execute_job` to the pool -- a :class:`concurrent.futures.ProcessPoolExecutor`
(spawned processes) by default, or a Dask cluster. In the worker the task runs through
:func:`hpcopt.store.runner.run_task`, so the run is recorded like any CLI run; the moment
its run row exists the worker links it to the job (``run_id``). Progress goes to the job
row (at most twice a second), which the service streams; a cancellation request is read
back there by the progress callback, which stops the task between two progress reports.

A restart never loses a job: at start, runs whose worker died are reaped as
``interrupted`` (:meth:`Store.reap`), jobs still marked running take their run's final
status, and jobs that never started are recorded as interrupted runs.
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing
import os
import socket
import threading
import time
import uuid
from typing import Any, Callable

import sqlalchemy as sa

from hpcopt.errors import HpcoptError, InputError, error_payload
from hpcopt.serve.tables import FINAL, jobs as _j

PROGRESS_EVERY_S = 0.5


class JobCancelled(KeyboardInterrupt):
    """Raised inside a task by its progress callback once the job's cancellation was asked.

    A KeyboardInterrupt, so that the store records the run as ``interrupted``.
    """


class NotStarted(KeyboardInterrupt):
    """Records, at a restart, a job that was accepted but never started."""


# ---------------------------------------------------------------------------------- worker side
_WORKER: dict[str, Any] = {}


def _watch_parent(parent: int) -> None:
    # a worker whose service died must not finish its run as if nothing happened: it exits,
    # leaving the run 'running' with a dead pid, which the next start reaps as interrupted
    while True:
        time.sleep(0.25)
        if os.getppid() != parent:
            os._exit(70)


def worker_init(parent_pid: int | None = None) -> None:
    """Process-pool initializer: die with the service, and yield the CPU to it.

    Tasks run niced, so that on a small machine the service keeps answering while long
    work runs (the work only slows down while requests are coming in).
    """
    try:
        os.nice(10)
    except OSError:  # not allowed here: run at the service's priority
        pass
    if parent_pid is not None:
        threading.Thread(target=_watch_parent, args=(parent_pid,), daemon=True, name="hpcopt-parent-watch").start()


def _worker_store(store_url: str, home: str):
    key = (store_url, home)
    if _WORKER.get("key") != key:
        from hpcopt.store import open_store

        _WORKER["store"] = open_store(store_url, home=home)
        _WORKER["key"] = key
    return _WORKER["store"]


def import_modules(modules) -> None:
    import importlib

    from hpcopt.core.tasks import import_all_tasks

    import_all_tasks()
    for m in modules:
        importlib.import_module(m)


class _JobStore:
    """The store, with ``record`` telling the job which run it became (run_task's only hook)."""

    def __init__(self, store, job_id: str) -> None:
        self._store, self._job_id = store, job_id
        self.run = None

    def __getattr__(self, name: str):
        return getattr(self._store, name)

    @contextlib.contextmanager
    def record(self, *args, **kwargs):
        with self._store.record(*args, **kwargs) as run:
            self.run = run
            with self._store._engine.begin() as c:
                c.execute(_j.update().where(_j.c.id == self._job_id).values(
                    run_id=run.id, status="running", started_at=time.time()))
            yield run


def execute_job(job_id: str, task: str, params: dict, register: str | None, register_alias: str | None,
                store_url: str, home: str, imports: tuple[str, ...] = ()) -> dict:
    """Run one job in this worker; returns ``{"status", "run_id", "error", "duration_s"}`` (and writes them)."""
    from hpcopt.store.runner import get_task, run_task

    t0 = time.time()
    store = _worker_store(store_url, home)
    proxy = _JobStore(store, job_id)
    engine = store._engine
    last = [0.0]

    def progress(done: int, total: int, message: str = "") -> None:
        now = time.time()
        if now - last[0] < PROGRESS_EVERY_S and done != total:
            return
        last[0] = now
        with engine.begin() as c:
            c.execute(_j.update().where(_j.c.id == job_id).values(
                progress={"done": int(done), "total": int(total), "message": str(message)[:500], "at": now}))
            cancel = c.execute(sa.select(_j.c.cancel_requested).where(_j.c.id == job_id)).scalar()
        if proxy.run is not None:
            proxy.run.heartbeat()
        if cancel:
            raise JobCancelled("cancelled on request")

    status, error = "succeeded", None
    with engine.connect() as c:  # cancelled while it waited in the pool's queue: it never runs
        if c.execute(sa.select(_j.c.cancel_requested).where(_j.c.id == job_id)).scalar():
            status = "cancelled"
    try:
        if status == "cancelled":
            raise JobCancelled("cancelled before it started")
        import_modules(imports)
        spec = get_task(task)
        kwargs = dict(params)
        if "progress" in spec.signature.parameters:
            kwargs["progress"] = progress
        run_task(spec, store=proxy, register=register, register_alias=register_alias, **kwargs)
    except JobCancelled:
        status = "cancelled"
    except HpcoptError as exc:
        status, error = "failed", error_payload(exc)["error"]
    except Exception as exc:  # the task's own bug: its message, never a traceback (the run row keeps it)
        status, error = "failed", error_payload(exc, message=f"{type(exc).__name__}: {exc}")["error"]
    run_id = proxy.run.id if proxy.run is not None else None
    with engine.begin() as c:
        c.execute(_j.update().where(_j.c.id == job_id).values(status=status, error=error, run_id=run_id,
                                                               finished_at=time.time()))
    return {"status": status, "run_id": run_id, "error": error, "duration_s": time.time() - t0}


# ---------------------------------------------------------------------------------- service side
class _DaskPool:
    """The two calls of an executor the manager uses, over a Dask cluster's client."""

    def __init__(self, address: str) -> None:
        from hpcopt.core.optional import require

        distributed = require("distributed", "tune-dist")
        self._client = distributed.Client(address, set_as_default=False)

    def submit(self, fn, *args) -> cf.Future:
        out: cf.Future = cf.Future()
        fut = self._client.submit(fn, *args, pure=False)
        out.set_running_or_notify_cancel()

        def done(f) -> None:
            try:
                out.set_result(f.result())
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting side
                out.set_exception(exc)

        fut.add_done_callback(done)
        out._dask = fut  # held: Dask forgets (and may cancel) a task whose future is dropped
        return out

    def shutdown(self, wait: bool = False, cancel_futures: bool = True) -> None:
        self._client.close()


def _job_dict(row) -> dict:
    return {"id": row.id, "task": row.task, "status": row.status, "run_id": row.run_id,
            "parameters": row.parameters, "progress": row.progress, "error": row.error,
            "cancel_requested": bool(row.cancel_requested), "submitted_at": row.submitted_at,
            "started_at": row.started_at, "finished_at": row.finished_at}


class JobManager:
    """Accepts jobs, runs them in the pool, answers their state (see the module docstring)."""

    def __init__(self, store, *, reader=None, executor: str = "process", workers: int = 2, dask_address: str | None = None,
                 imports: tuple[str, ...] = (), on_done: Callable[[dict, dict], None] | None = None) -> None:
        self.store = store
        self._engine = store._engine
        self._read = (reader or store)._engine
        self._kind, self._workers, self._dask_address = executor, workers, dask_address
        self._imports = tuple(imports)
        self._on_done = on_done
        self._pool = None
        self._lock = threading.Lock()
        self._futures: dict[str, cf.Future] = {}
        self._closing = False
        self.recovered = self.recover()

    # -------------------------------------------------------------- the pool
    def _get_pool(self):
        with self._lock:
            if self._pool is None:
                if self._kind == "dask":
                    self._pool = _DaskPool(self._dask_address)
                else:
                    self._pool = cf.ProcessPoolExecutor(
                        max_workers=self._workers, mp_context=multiprocessing.get_context("spawn"),
                        initializer=worker_init, initargs=(os.getpid(),))
            return self._pool

    def shutdown(self) -> None:
        """Stop: queued jobs are not started, running ones are stopped; both end recorded as interrupted.

        Workers are terminated rather than waited for (a task may take hours); the store is
        then settled at once, as the next start would do.
        """
        with self._lock:
            pool, self._pool = self._pool, None
            self._closing = True
        if pool is None:
            return
        procs = list((getattr(pool, "_processes", None) or {}).values())
        pool.shutdown(wait=False, cancel_futures=True)
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.join(timeout=10)
        self.recover()

    def queue_depth(self) -> int:
        """Jobs accepted by this service and not finished (queued or running)."""
        with self._lock:
            return sum(1 for f in self._futures.values() if not f.done())

    # -------------------------------------------------------------- jobs
    def submit(self, task: str, params: dict, *, register: str | None = None, register_alias: str | None = None,
               token_id: str | None = None) -> dict:
        job_id = uuid.uuid4().hex
        now = time.time()
        with self._engine.begin() as c:  # recorded before the client hears of it
            c.execute(_j.insert().values(id=job_id, task=task, parameters=params, status="queued", run_id=None,
                                         token_id=token_id, service_host=socket.gethostname(),
                                         service_pid=os.getpid(), cancel_requested=False, progress=None,
                                         error=None, submitted_at=now, started_at=None, finished_at=None))
        self._start(job_id, task, params, register, register_alias)
        return self.get(job_id)

    def _start(self, job_id, task, params, register, register_alias) -> None:
        fut = self._get_pool().submit(execute_job, job_id, task, params, register, register_alias,
                                      self.store.url, str(self.store.home), self._imports)
        with self._lock:
            self._futures[job_id] = fut
        fut.add_done_callback(lambda f, j=(job_id, task, params, register, register_alias): self._done(j, f))

    def _done(self, job, fut: cf.Future) -> None:
        job_id = job[0]
        with self._lock:
            self._futures.pop(job_id, None)
            closing = self._closing
        if fut.cancelled() or closing:  # shutdown() settles what is left
            return
        exc = fut.exception()
        if exc is None:
            out = fut.result()
        elif isinstance(exc, cf.process.BrokenProcessPool):
            # a worker died (killed, out of memory): that breaks the whole process pool
            with self._lock:
                if self._pool is not None and getattr(self._pool, "_broken", False):
                    self._pool = None
            row = self._row(job_id)
            if row is not None and row.run_id is None and row.status == "queued":
                self._start(*job)  # it never started: run it on a fresh pool
                return
            self.store.reap()
            out = self._settle(row) if row is not None else {"status": "interrupted"}
        else:
            out = {"status": "failed", "error": error_payload(exc, message=f"{type(exc).__name__}: {exc}")["error"]}
            with self._engine.begin() as c:
                c.execute(_j.update().where(_j.c.id == job_id).values(status="failed", error=out["error"],
                                                                       finished_at=time.time()))
        if self._on_done is not None:
            self._on_done({"id": job_id, "task": job[1]}, out)

    def _row(self, job_id: str):
        with self._read.connect() as c:
            return c.execute(sa.select(_j).where(_j.c.id == job_id)).first()

    def get(self, job_id: str) -> dict:
        if not isinstance(job_id, str) or len(job_id) != 32 or any(ch not in "0123456789abcdef" for ch in job_id):
            raise InputError(f"no job with id {job_id!r}", hint="a job id is 32 hexadecimal characters")
        row = self._row(job_id)
        if row is None:
            raise InputError(f"no job with id {job_id!r}")
        return _job_dict(row)

    def list(self, *, status: str | None = None, limit: int = 50) -> list[dict]:
        q = sa.select(_j).order_by(_j.c.submitted_at.desc()).limit(limit)
        if status is not None:
            q = q.where(_j.c.status == status)
        with self._read.connect() as c:
            return [_job_dict(r) for r in c.execute(q)]

    def gauge_files(self, tasks) -> list[tuple[str, str]]:
        """``(job id, path)`` of the gauge files (output parameters named ``gauges*``) of running jobs."""
        out = []
        for job in self.list(status="running", limit=1000):
            spec = tasks.get(job["task"]) if job["task"] in tasks else None
            for name in (spec.outputs if spec is not None else ()):
                if name.startswith("gauges") and isinstance(job["parameters"].get(name), str):
                    out.append((job["id"], job["parameters"][name]))
        return out

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued job at once; ask a running one to stop at its next progress report."""
        job = self.get(job_id)
        if job["status"] in FINAL:
            return job
        with self._lock:
            fut = self._futures.get(job_id)
        if fut is not None and fut.cancel():
            with self._engine.begin() as c:
                c.execute(_j.update().where(_j.c.id == job_id).values(status="cancelled", finished_at=time.time()))
            with self._lock:
                self._futures.pop(job_id, None)
        else:
            with self._engine.begin() as c:
                c.execute(_j.update().where(_j.c.id == job_id).values(cancel_requested=True))
        return self.get(job_id)

    # -------------------------------------------------------------- restart
    def _settle(self, row) -> dict:
        """Bring an unfinished job of a dead worker or service to its run's final status."""
        status, run_id, error = "interrupted", row.run_id, None
        if run_id is not None:
            run = self.store.get_run(run_id)
            if run.status == "running":
                return {"status": "running", "run_id": run_id}
            status = {"succeeded": "succeeded", "failed": "failed"}.get(run.status, "interrupted")
            error = run.error if status != "succeeded" else None
            if error and error.get("type") == "JobCancelled":
                status = "cancelled"
        else:  # accepted, never started: record it as an interrupted run so it is not lost
            with contextlib.suppress(NotStarted):
                with self.store.record(row.task, parameters=row.parameters) as run:
                    run_id = run.id
                    raise NotStarted()
            error = {"type": "Interrupted", "message": "the service stopped before this job started"}
        if error is not None:
            error = {k: v for k, v in error.items() if k != "traceback"}
        with self._engine.begin() as c:
            c.execute(_j.update().where(_j.c.id == row.id).values(status=status, run_id=run_id, error=error,
                                                                   finished_at=time.time()))
        return {"status": status, "run_id": run_id, "error": error}

    def recover(self) -> list[str]:
        """Settle the jobs that a service on this host left unfinished when it ended; their ids.

        Only jobs whose service is gone: another service sharing the store keeps its own.
        """
        from hpcopt.store.core import _pid_alive

        self.store.reap()
        with self._engine.connect() as c:
            rows = list(c.execute(sa.select(_j).where(_j.c.status.in_(("queued", "running")),
                                                      _j.c.service_host == socket.gethostname())))
        settled = []
        for row in rows:
            if row.service_pid != os.getpid() and _pid_alive(row.service_pid):
                continue
            if row.service_pid == os.getpid() and not self._closing:
                continue
            if self._settle(row)["status"] != "running":
                settled.append(row.id)
        return settled
