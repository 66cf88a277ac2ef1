"""The storage interface every backend implements, and what they share: trial records,
refusals, owners (``host:pid:<boot id>.<start time>``) and when a running trial may be
released. See :mod:`hpcopt.tune.storage` for the backends and why they are not Optuna's."""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from hpcopt.errors import InputError
from hpcopt.tune.results import Result

SCHEMA_VERSION = 3  # 2: trials.owner; 3: trials.heartbeat, state 'interrupted' (rows never deleted)
# (state 'retried', a failed trial whose configuration is measured again, needs no new column)

#: a running trial whose heartbeat is older than this is released (seconds); studies
#: refresh the heartbeat of their trials every ``lease / 4`` while measuring
DEFAULT_LEASE_S = 120.0
#: owner prefix of trials handed out by ask/tell (never released as "gone")
ASK_PREFIX = "ask@"

# the trial columns the SQL backends select, in the order _trial_from_row reads them
_COLUMNS = "number, config, key, state, source, result, started, finished, owner, heartbeat"


class Refused(str, Enum):
    """Why :meth:`Storage.start_trial` started nothing."""

    TAKEN = "taken"    # a running or finished trial of the study has this configuration
    BUDGET = "budget"  # the study holds ``limit`` distinct configurations already


@dataclass(frozen=True)
class Trial:
    """One stored evaluation (immutable)."""

    number: int
    config: dict[str, Any]
    key: str
    state: str
    source: str
    result: Result | None
    started: float
    finished: float | None
    owner: str | None = None
    heartbeat: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "config": self.config, "state": self.state, "source": self.source,
                "result": self.result.to_dict() if self.result else None,
                "started": self.started, "finished": self.finished, "owner": self.owner,
                "heartbeat": self.heartbeat}


def config_key(config: Mapping[str, Any], names: list[str]) -> str:
    return json.dumps([config[n] for n in names], separators=(",", ":"), default=str)


def _proc_start(pid: int | str) -> str | None:
    """``<boot id>.<start time>`` of a process (Linux), None where /proc is missing."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            start = fh.read().rsplit(")", 1)[1].split()[19]  # field 22: start time in clock ticks
    except (OSError, IndexError):
        return None
    try:
        with open("/proc/sys/kernel/random/boot_id") as fh:
            boot = fh.read().strip()[:8]
    except OSError:
        boot = "0"
    return f"{boot}.{start}"


def this_owner() -> str:
    """``host:pid:start`` of the calling process (``host:pid`` where the start time is
    unknown)."""
    start = _proc_start(os.getpid())
    return f"{socket.gethostname()}:{os.getpid()}" + (f":{start}" if start else "")


def owner_is_gone(owner: str | None) -> bool:
    """True when ``owner`` is a process of this host that no longer runs: its pid is
    free, a zombie, or now names another process (another start time, or -- for an
    owner written without one -- this very process under a new identity, as after a
    restart in a container or a Slurm requeue that reuses the pid). Owners on other
    hosts cannot be checked here (their trials are released by the lease); ask/tell
    trials (``ask@...``) and owners of unknown form (``None``) are never "gone"."""
    if owner is None or owner.startswith(ASK_PREFIX):
        return False
    if owner == this_owner():
        return False
    host, pid, start = (owner.split(":") + ["", ""])[:3]
    if host != socket.gethostname() or not pid.isdigit():
        return False
    if int(pid) == os.getpid():
        return True  # our pid, but not us: a predecessor of this process
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    now = _proc_start(pid)
    if now is None:
        return False
    if start and now != start:
        return True  # the pid was reused by another process
    # a zombie (killed, not yet reaped by its parent) still answers kill(0)
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def releasable(t: "Trial", lease_s: float | None, now: float | None = None,
               ask_lease_s: float | None = None) -> bool:
    """Whether a running trial may be released: its owner is gone, or its heartbeat is
    older than ``lease_s`` (``ask_lease_s`` for ask/tell trials, whose results come from
    elsewhere at their own pace: never released when None)."""
    if t.state != "running":
        return False
    if owner_is_gone(t.owner):
        return True
    if t.owner is not None and t.owner.startswith(ASK_PREFIX):
        lease_s = ask_lease_s
    if lease_s is None:
        return False
    beat = t.heartbeat if t.heartbeat is not None else t.started
    return (now if now is not None else time.time()) - beat > lease_s


def _first_fitting(results: Iterable[Any], n_values: int | None) -> Result | None:
    """The first stored result (JSON text or dict) with ``n_values`` objective values."""
    for r in results:
        res = Result.from_dict(json.loads(r) if isinstance(r, str) else r)
        if n_values is None or not res.ok or len(res.values or (res.value,)) == n_values:
            return res
    return None


def _default_names(names: list[str]) -> bool:
    return names == ["objective"] or names == [f"objective_{i}" for i in range(len(names))]


def stored_objectives(info: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(objective names, directions) a study's stored info describes (defaults filled in)."""
    n = int(info.get("n_objectives") or len(info.get("objective_names") or []) or 1)
    names = list(info.get("objective_names") or (["objective"] if n == 1 else [f"objective_{i}" for i in range(n)]))
    return names, list(info.get("directions") or ["minimize"] * len(names))


def _trial_from_row(r) -> Trial:
    return Trial(int(r[0]), json.loads(r[1]), r[2], r[3], r[4],
                 Result.from_dict(json.loads(r[5])) if r[5] else None, r[6], r[7], r[8], r[9])


class Storage:
    """Base class and factory: ``Storage(url)`` returns the backend the URL names (as
    :func:`hpcopt.tune.storage.get_storage`). Backends implement the methods that raise
    here; :func:`hpcopt.testing.checks.storage.check_storage` checks one against this
    contract."""

    url: str
    path: str

    def __new__(cls, url: str | Path = ":memory:", *args: Any, **kwargs: Any):
        if cls is Storage:
            cls = _backend_for(str(url))
        return super().__new__(cls)

    # -- studies
    def create_or_load_study(self, name: str, info: Mapping[str, Any], fingerprint: str | None) -> tuple[dict, bool]:
        """Returns (info, created). An existing study must describe the same space."""
        raise NotImplementedError

    def study_names(self) -> list[str]:
        raise NotImplementedError

    def study_fingerprint(self, name: str) -> str | None:
        """The runner fingerprint the study was created with (None if unknown)."""
        return None

    def _study_row(self, name: str) -> dict[str, Any] | None:
        raise NotImplementedError

    def study_info(self, name: str) -> dict[str, Any]:
        info = self._study_row(name)
        if info is None:
            raise InputError(f"no study named {name!r} in {self.path}", field="study",
                             hint=f"known: {', '.join(self.study_names()) or '(none)'}")
        return info

    def _check_same(self, name: str, old: dict[str, Any], info: Mapping[str, Any]) -> None:
        if old.get("space") != json.loads(json.dumps(info.get("space"), default=str)):
            raise InputError(f"study {name!r} already exists with a different search space", field="study",
                             hint="give a new --study name, or the same spec to resume")
        was, now = stored_objectives(old), stored_objectives(info)
        for what, a, b in (("objectives", was[0], now[0]), ("directions", was[1], now[1])):
            if what == "objectives" and len(a) == len(b) and (_default_names(a) or _default_names(b)):
                continue  # a study opened without objective names (older ask/tell) matches by count
            if a != b:
                raise InputError(f"study {name!r} already exists with {what} {a}, not {b}", field="study",
                                 hint="give a new --study name, or the same objectives and directions to resume")

    # -- trials
    def start_trial(self, study: str, config: Mapping[str, Any], key: str, owner: str | None = None,
                    unique: bool = False, limit: int | None = None) -> int | Refused:
        """Store a ``running`` trial and return its number. With ``unique``, atomically
        only if no running or finished trial of the study has this key yet, and with
        ``limit`` only if the study holds fewer distinct configurations (running or
        finished) than that; else a :class:`Refused` saying which check failed. So
        concurrent workers never measure one configuration twice, nor start more
        configurations than the budget."""
        raise NotImplementedError

    def finish_trial(self, study: str, number: int, result: Result, source: str = "measured",
                     key: str | None = None) -> bool:
        """Store the result on trial ``number`` if it is still ``running`` (and has
        configuration ``key``, when given); False otherwise (released as interrupted, or
        already finished): the result is then not written anywhere."""
        raise NotImplementedError

    def add_done_trial(self, study: str, config: Mapping[str, Any], key: str, result: Result, source: str, *,
                       unique: bool = False, limit: int | None = None) -> int | Refused:
        """A finished trial in one go (cache hits, imported or late results); with
        ``unique``/``limit`` refused as :meth:`start_trial` would."""
        n = self.start_trial(study, config, key, owner=this_owner(), unique=unique, limit=limit)
        if isinstance(n, Refused):
            return n
        self.finish_trial(study, n, result, source, key=key)
        return n

    def heartbeat(self, study: str, owner: str) -> int:
        """Refresh the heartbeat of ``owner``'s running trials; returns how many."""
        raise NotImplementedError

    def _mark_interrupted(self, study: str, numbers: list[int]) -> int:
        raise NotImplementedError

    def release_running(self, study: str, *, lease_s: float | None = None, everything: bool = False,
                        ask_lease_s: float | None = None) -> int:
        """Mark running trials ``interrupted`` (they are measured again): those whose
        owner is gone or whose heartbeat is older than the lease (see
        :func:`releasable`); with ``everything`` all of them. Returns how many."""
        now = time.time()
        nums = [t.number for t in self.trials(study)
                if t.state == "running" and (everything or releasable(t, lease_s, now, ask_lease_s))]
        return self._mark_interrupted(study, nums) if nums else 0

    def retry_failed(self, study: str) -> list[Trial]:
        """Mark the study's failed finished trials (every status but ok and invalid)
        ``retried``: they stay in :meth:`history` as what they were, no longer count toward
        the budget nor serve as a cache, and their configurations may be measured again.
        Returns the trials marked."""
        failed = [t for t in self.trials(study) if t.state == "done" and t.result is not None
                  and t.result.status.value not in ("ok", "invalid")]
        if not failed:
            return []
        self._mark_retried(study, [t.number for t in failed])
        marked = {t.number for t in self.history(study) if t.state == "retried"}
        return [t for t in failed if t.number in marked]

    def _mark_retried(self, study: str, numbers: list[int]) -> int:
        raise NotImplementedError

    def history(self, study: str) -> list[Trial]:
        """Every trial of the study, interrupted and retried ones included, by number
        (a backend without them gives its live trials)."""
        return self.trials(study)

    def trials(self, study: str) -> list[Trial]:
        """The running and finished trials (not the interrupted ones), by number."""
        raise NotImplementedError

    def cached_result(self, fingerprint: str | None, key: str, n_values: int | None = None) -> Result | None:
        """A finished measurement of the same configuration by a study with the same
        runner fingerprint (and, with ``n_values``, as many objective values)."""
        raise NotImplementedError

    def version(self) -> Any:
        """A token that changes when another process wrote (None: unknown, always re-read)."""
        return None

    def close(self) -> None:
        pass


def _backend_for(url: str) -> type[Storage]:
    # imported here: the backends import this module
    if url.startswith("journal://"):
        from hpcopt.tune.storage.journal import JournalStorage
        return JournalStorage
    if "://" in url and not url.startswith("sqlite:///"):
        from hpcopt.tune.storage.rdb import SQLAlchemyStorage
        return SQLAlchemyStorage
    from hpcopt.tune.storage.sqlite import SQLiteStorage
    return SQLiteStorage


def _check_parent(path: str, what: str) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise InputError(f"the folder of the {what} does not exist", source=path, hint=f"create {parent} first")


