"""Where measurements run: a local process pool (default), a Dask cluster, or Slurm
through submitit (job arrays).

An executor takes ``(runner, config)`` pairs and hands back handles; the study keeps
asking, telling and storing in its own process, so the storage needs no network
access from the workers. Every executor here pickles the runner: build it from
module-level objects (the spec runners are). Dask and submitit are optional
(``pip install 'hpcopt[tune-dist]'``) and imported only when named.

    study.optimize(60, n_workers=4, executor="dask")                        # LocalCluster
    study.optimize(60, n_workers=4, executor="dask", executor_options={"address": "tcp://head:8786"})
    study.optimize(60, n_workers=16, executor="submitit",
                   executor_options={"folder": "jobs", "slurm_partition": "cpu", "timeout_min": 30})

Several configurations asked at once are submitted to Slurm as one job array
(``executor.batch()``); ``cluster="local"`` runs the jobs as local processes and
``cluster="debug"`` in this process (both without Slurm, as in the tests).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from hpcopt.core.registry import Registry
from hpcopt.errors import ConfigError, require

#: executors by name; plugins add theirs as entry points "executor.<name>" (group hpcopt.plugins)
EXECUTORS: Registry[type["Executor"]] = Registry("executor")


class Executor:
    """What the study needs from an engine. Handles are opaque."""

    name = "base"

    def __init__(self, n_workers: int) -> None:
        if n_workers < 1:
            raise ConfigError(f"n_workers must be at least 1, got {n_workers}")
        self.n_workers = n_workers

    def check(self, fn: Callable[..., Any]) -> None:
        """Raise ConfigError if ``fn`` cannot be sent to the workers."""

    def submit_many(self, fn: Callable[[Any], Any], args: Sequence[Any]) -> list[Any]:
        raise NotImplementedError

    def wait(self, handles: Sequence[Any]) -> list[Any]:
        """Block until at least one handle is done; return the done ones."""
        raise NotImplementedError

    def result(self, handle: Any) -> Any:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def __enter__(self) -> "Executor":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


class ProcessExecutor(Executor):
    """``concurrent.futures.ProcessPoolExecutor`` on this machine."""

    name = "process"

    def __init__(self, n_workers: int) -> None:
        super().__init__(n_workers)
        from concurrent.futures import ProcessPoolExecutor

        self._pool = ProcessPoolExecutor(max_workers=n_workers)

    def check(self, fn):
        import pickle

        try:
            pickle.dumps(fn)
        except Exception as exc:  # noqa: BLE001 - any pickling failure means the same
            raise ConfigError(f"the runner cannot be sent to worker processes ({type(exc).__name__}: {exc}); "
                              "use n_workers=1 or a runner built from module-level functions") from None

    def submit_many(self, fn, args):
        return [self._pool.submit(fn, a) for a in args]

    def wait(self, handles):
        from concurrent.futures import FIRST_COMPLETED, wait

        done, _ = wait(list(handles), return_when=FIRST_COMPLETED)
        return list(done)

    def result(self, handle):
        return handle.result()

    def close(self):
        self._pool.shutdown(wait=True, cancel_futures=True)


def _cloudpickle_check(fn: Callable[..., Any], engine: str) -> None:
    import cloudpickle

    try:
        cloudpickle.dumps(fn)
    except Exception as exc:  # noqa: BLE001
        raise ConfigError(f"the runner cannot be sent to {engine} workers ({type(exc).__name__}: {exc})") from None


class DaskExecutor(Executor):
    """dask.distributed: ``address`` of a running scheduler, a ``client``, or neither
    (a ``LocalCluster`` of ``n_workers`` single-threaded worker processes is started
    and closed with the executor)."""

    name = "dask"

    def __init__(self, n_workers: int, *, address: str | None = None, client: Any = None,
                 processes: bool = True) -> None:
        super().__init__(n_workers)
        distributed = require("distributed", "tune-dist")
        self._distributed = distributed
        self._own: list[Any] = []
        if client is not None:
            self.client = client
        elif address is not None:
            self.client = distributed.Client(address)
            self._own.append(self.client)
        else:
            cluster = distributed.LocalCluster(n_workers=n_workers, threads_per_worker=1, processes=processes,
                                               dashboard_address=None)
            self.client = distributed.Client(cluster)
            self._own.extend([self.client, cluster])

    def check(self, fn):
        _cloudpickle_check(fn, "Dask")

    def submit_many(self, fn, args):
        return [self.client.submit(fn, a, pure=False) for a in args]

    def wait(self, handles):
        done = self._distributed.wait(list(handles), return_when="FIRST_COMPLETED").done
        return list(done)

    def result(self, handle):
        return handle.result()

    def close(self):
        for obj in self._own:
            obj.close()
        self._own.clear()


class SubmititExecutor(Executor):
    """submitit: Slurm (``cluster="slurm"``, or ``None`` = Slurm when ``sbatch`` exists
    and local processes otherwise), ``"local"`` or ``"debug"``. ``folder`` holds the
    jobs' pickles and logs; other keyword arguments go to ``update_parameters``
    (``slurm_partition``, ``timeout_min``, ``cpus_per_task``, ``mem_gb``, ...).
    Configurations asked together are submitted as one job array; at most
    ``n_workers`` array tasks run at once."""

    name = "submitit"

    def __init__(self, n_workers: int, *, folder: str = "hpcopt-submitit", cluster: str | None = None,
                 poll_s: float = 0.05, **parameters: Any) -> None:
        super().__init__(n_workers)
        submitit = require("submitit", "tune-dist")
        if cluster not in (None, "slurm", "local", "debug"):
            raise ConfigError(f"submitit cluster must be slurm, local or debug; got {cluster!r}")
        self._ex = submitit.AutoExecutor(folder=folder, cluster=cluster)
        self.cluster = self._ex.cluster
        params = dict(parameters)
        if self.cluster == "slurm":
            params.setdefault("slurm_array_parallelism", n_workers)
        params.setdefault("timeout_min", 60)
        try:
            self._ex.update_parameters(**params)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"bad submitit parameters: {exc}") from None
        self.poll_s = poll_s
        self._jobs: list[Any] = []  # submitted, result not yet taken

    def check(self, fn):
        _cloudpickle_check(fn, "submitit")

    def submit_many(self, fn, args):
        if len(args) == 1:
            jobs = [self._ex.submit(fn, args[0])]
        else:
            with self._ex.batch():
                jobs = [self._ex.submit(fn, a) for a in args]
        self._jobs.extend(jobs)
        return list(jobs)

    def wait(self, handles):
        while True:
            done = [h for h in handles if h.done()]
            if done:
                return done
            time.sleep(self.poll_s)

    def result(self, handle):
        try:
            return handle.result()
        finally:
            self._jobs = [j for j in self._jobs if j is not handle]

    def close(self):
        """Cancel the jobs whose results were not taken (an interrupted study leaves no
        job running or queued behind)."""
        jobs, self._jobs = self._jobs, []
        for j in jobs:
            try:
                if not j.done():
                    j.cancel(check=False)
            except Exception:  # noqa: BLE001 - best effort, the job may be gone already
                pass


for _cls in (ProcessExecutor, DaskExecutor, SubmititExecutor):
    EXECUTORS.register(_cls.name, _cls)
del _cls


def _check_options(cls: type[Executor], opts: Mapping[str, Any]) -> None:
    """Unknown options fail before the executor (and its optional library) is touched."""
    import inspect

    params = inspect.signature(cls.__init__).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return  # e.g. submitit: the rest goes to the scheduler, which checks it
    known = [n for n, p in params.items() if n not in ("self", "n_workers") and p.kind is p.KEYWORD_ONLY]
    bad = sorted(set(opts) - set(known))
    if not bad:
        return
    if not known:
        raise ConfigError(f"the {cls.name} executor takes no options; got {', '.join(opts)}")
    raise ConfigError(f"unknown {cls.name} executor option(s) {', '.join(bad)}; known: {', '.join(known)}")


def get_executor(name: str | Executor | None, n_workers: int, options: Mapping[str, Any] | None = None) -> Executor:
    """An executor by name (one of :data:`EXECUTORS`: process, dask, submitit) or the object itself."""
    if isinstance(name, Executor):
        return name
    opts = dict(options or {})
    cls = EXECUTORS.get(name or "process")
    _check_options(cls, opts)
    return cls(n_workers, **opts)


__all__ = ["Executor", "ProcessExecutor", "DaskExecutor", "SubmititExecutor", "get_executor", "EXECUTORS"]
