"""Where studies remember their trials.

``Storage(url)`` picks the backend from the URL:

* a path, ``sqlite:///path`` or ``":memory:"`` -- SQLite through the standard library
  (the default; one file, safe for several processes on one machine through SQLite's
  own locking, WAL journal);
* ``journal:///path.log`` -- :class:`JournalStorage`, an append-only file of JSON
  records, one per operation, written under a lock file created with ``O_EXCL`` (atomic
  on local and NFS file systems), so several processes, on one machine or several
  sharing the file, can write one study; the state is the replay of the records;
* any other URL (``postgresql://user@host/db``, ``postgresql+psycopg://...``,
  ``sqlite+pysqlite:///path``) -- :class:`SQLAlchemyStorage` over the same schema
  (needs SQLAlchemy and the database's driver; tested on SQLite, written for
  PostgreSQL; MySQL is not supported: its keys need bounded string columns).

Every trial is written twice: as ``running`` (with its owner and a heartbeat time)
before it is measured and with its result after, each in its own transaction or record,
so a study killed at any point loses at most the measurements in flight. The owner
names the host, the process id and the process's start time (``/proc/<pid>/stat`` field
22, with the boot id), so a reused process id is not taken for the old owner. A
running trial is *released* (marked ``interrupted``; its configuration may be proposed
again) when its owner on this host is gone, or when its heartbeat is older than the
study's lease (any host: the heartbeat is refreshed while the trial is measured). Trials
handed out by ask/tell have an ``ask@`` owner and are released only by an explicit lease
or ``release_running``. A failed trial is marked ``retried`` on request (``tune run
--retry-failed``): it keeps its result in :meth:`Storage.history`, leaves the budget and
the cache, and its configuration is measured again. Rows are never deleted and trial numbers never reused, and a
result is written only onto a ``running`` trial with the same configuration key, so a
late result cannot land on another configuration. A trial is started only if no live
trial of the study has its configuration (``unique=True``) and the study holds fewer
distinct configurations than ``limit``, atomically, so concurrent workers never measure
one configuration twice nor start more than the budget.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Any

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.results import Result

SCHEMA_VERSION = 3  # 2: trials.owner; 3: trials.heartbeat, state 'interrupted' (rows never deleted)
# (state 'retried', a failed trial whose configuration is measured again, needs no new column)

#: a running trial whose heartbeat is older than this is released (seconds); studies
#: refresh the heartbeat of their trials every ``lease / 4`` while measuring
DEFAULT_LEASE_S = 120.0
#: owner prefix of trials handed out by ask/tell (never released as "gone")
ASK_PREFIX = "ask@"
_LIVE = "('running','done')"

_DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
    name TEXT PRIMARY KEY,
    created REAL NOT NULL,
    fingerprint TEXT,
    info TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
    study TEXT NOT NULL REFERENCES studies(name),
    number INTEGER NOT NULL,
    key TEXT NOT NULL,
    config TEXT NOT NULL,
    state TEXT NOT NULL,            -- running | done | interrupted | retried
    source TEXT NOT NULL,           -- measured | cache | told
    result TEXT,
    started REAL NOT NULL,
    finished REAL,
    owner TEXT,                     -- host:pid:start of its process; ask@...: ask/tell
    heartbeat REAL,                 -- last sign of life of the owner (running trials)
    PRIMARY KEY (study, number)
);
CREATE INDEX IF NOT EXISTS trials_key ON trials(study, key);
"""

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
    """Base class and factory: ``Storage(url)`` returns the backend the URL names (see
    the module docstring). Backends implement the methods that raise here."""

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

    def delete_running(self, study: str, only_gone: bool = True) -> int:
        """Older name of :meth:`release_running` (rows are marked, no longer deleted)."""
        return self.release_running(study, everything=not only_gone)

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
    if url.startswith("journal://"):
        return JournalStorage
    if "://" in url and not url.startswith("sqlite:///"):
        return SQLAlchemyStorage
    return SQLiteStorage


def _check_parent(path: str, what: str) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise InputError(f"the folder of the {what} does not exist", source=path, hint=f"create {parent} first")


class SQLiteStorage(Storage):
    """SQLite through the standard library. ``url`` is a path, ``sqlite:///path`` or ``":memory:"``."""

    def __init__(self, url: str | Path = ":memory:") -> None:
        url = str(url)
        if url.startswith("sqlite:///"):
            url = url[len("sqlite:///"):]
        self.url = self.path = url
        if url != ":memory:":
            _check_parent(url, "study database")
        try:
            self._db = sqlite3.connect(url, timeout=30.0, isolation_level=None)
            self._db.execute("PRAGMA journal_mode=WAL" if url != ":memory:" else "PRAGMA journal_mode=MEMORY")
            self._db.executescript(_DDL)
            row = self._db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise InputError(f"not a usable study database: {exc}", source=url,
                             hint="give a new file name or an hpcopt study database") from None
        if row is None:
            self._db.execute("INSERT OR IGNORE INTO meta VALUES ('schema', ?)", (str(SCHEMA_VERSION),))
        elif int(row[0]) in (1, 2):  # older schemas lack trials.owner / trials.heartbeat: add them
            cols = [r[1] for r in self._db.execute("PRAGMA table_info(trials)")]
            for col, typ in (("owner", "TEXT"), ("heartbeat", "REAL")):
                if col not in cols:
                    self._db.execute(f"ALTER TABLE trials ADD COLUMN {col} {typ}")
            self._db.execute("UPDATE meta SET value=? WHERE key='schema'", (str(SCHEMA_VERSION),))
        elif int(row[0]) != SCHEMA_VERSION:
            raise InputError(f"study database has schema {row[0]}, this hpcopt writes {SCHEMA_VERSION}", source=url)

    def create_or_load_study(self, name, info, fingerprint):
        row = self._db.execute("SELECT info FROM studies WHERE name=?", (name,)).fetchone()
        if row is not None:
            old = json.loads(row[0])
            self._check_same(name, old, info)
            return old, False
        try:
            self._db.execute("INSERT INTO studies VALUES (?, ?, ?, ?)",
                             (name, time.time(), fingerprint, json.dumps(info, default=str)))
        except sqlite3.IntegrityError:  # another process created it just now
            return self.create_or_load_study(name, info, fingerprint)
        return dict(info), True

    def study_names(self):
        return [r[0] for r in self._db.execute("SELECT name FROM studies ORDER BY created")]

    def _study_row(self, name):
        row = self._db.execute("SELECT info FROM studies WHERE name=?", (name,)).fetchone()
        return None if row is None else json.loads(row[0])

    def study_fingerprint(self, name):
        row = self._db.execute("SELECT fingerprint FROM studies WHERE name=?", (name,)).fetchone()
        return None if row is None else row[0]

    def start_trial(self, study, config, key, owner=None, unique=False, limit=None):
        # one statement: SQLite runs it under its write lock, so the number and the
        # checks cannot race with another process
        conds = []
        if unique:
            conds.append(f"NOT EXISTS (SELECT 1 FROM trials WHERE study=:s AND key=:k AND state IN {_LIVE})")
        if limit is not None:
            conds.append(f"(SELECT COUNT(DISTINCT key) FROM trials WHERE study=:s AND state IN {_LIVE}) < :lim")
        guard = ("WHERE " + " AND ".join(conds)) if conds else ""
        now = time.time()
        for _ in range(50):
            try:
                cur = self._db.execute(
                    f"INSERT INTO trials ({_COLUMNS}, study) SELECT "
                    "(SELECT COALESCE(MAX(number), -1) + 1 FROM trials WHERE study=:s), :c, :k, 'running', "
                    f"'measured', NULL, :t, NULL, :o, :t, :s {guard}",
                    {"s": study, "c": json.dumps(dict(config), default=str), "k": key, "t": now, "o": owner,
                     "lim": limit})
            except sqlite3.IntegrityError:  # pragma: no cover - another worker took the number
                continue
            if cur.rowcount == 0:
                taken = self._db.execute(f"SELECT 1 FROM trials WHERE study=? AND key=? AND state IN {_LIVE}",
                                         (study, key)).fetchone()
                return Refused.TAKEN if unique and taken else Refused.BUDGET
            return int(self._db.execute("SELECT number FROM trials WHERE rowid=?", (cur.lastrowid,)).fetchone()[0])
        raise RuntimeError("could not allocate a trial number")  # pragma: no cover

    def finish_trial(self, study, number, result, source="measured", key=None):
        cur = self._db.execute("UPDATE trials SET state='done', source=?, result=?, finished=? "
                               "WHERE study=? AND number=? AND state='running' AND (? IS NULL OR key=?)",
                               (source, json.dumps(result.to_dict(), default=str), time.time(), study, number,
                                key, key))
        return cur.rowcount == 1

    def heartbeat(self, study, owner):
        return self._db.execute("UPDATE trials SET heartbeat=? WHERE study=? AND owner=? AND state='running'",
                                (time.time(), study, owner)).rowcount

    def _mark_interrupted(self, study, numbers):
        q = ",".join("?" * len(numbers))
        cur = self._db.execute(f"UPDATE trials SET state='interrupted', finished=? "
                               f"WHERE study=? AND state='running' AND number IN ({q})",
                               (time.time(), study, *numbers))
        return cur.rowcount

    def trials(self, study):
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM trials WHERE study=? AND state IN {_LIVE} ORDER BY number",
                                (study,)).fetchall()
        return [_trial_from_row(r) for r in rows]

    def _mark_retried(self, study, numbers):
        q = ",".join("?" * len(numbers))
        return self._db.execute(f"UPDATE trials SET state='retried' WHERE study=? AND state='done' AND number IN ({q})",
                                (study, *numbers)).rowcount

    def history(self, study):
        rows = self._db.execute(f"SELECT {_COLUMNS} FROM trials WHERE study=? ORDER BY number", (study,)).fetchall()
        return [_trial_from_row(r) for r in rows]

    def cached_result(self, fingerprint, key, n_values=None):
        if not fingerprint:
            return None
        rows = self._db.execute(
            "SELECT t.result FROM trials t JOIN studies s ON s.name = t.study "
            "WHERE s.fingerprint=? AND t.key=? AND t.state='done' AND t.source='measured' ORDER BY t.finished",
            (fingerprint, key)).fetchall()
        return _first_fitting((r[0] for r in rows), n_values)

    def version(self):
        return self._db.execute("PRAGMA data_version").fetchone()[0]

    def close(self):
        self._db.close()


class SQLAlchemyStorage(Storage):
    """The same schema through SQLAlchemy, for PostgreSQL (``postgresql://...``) or any
    database SQLAlchemy has a driver for. ``sqlite+pysqlite:///path`` uses SQLite through
    this code path (that is how it is tested; no PostgreSQL server is needed for that)."""

    def __init__(self, url: str, **engine_kwargs: Any) -> None:
        from hpcopt.errors import require

        sa = require("sqlalchemy", "tune-dist")
        self._sa = sa
        self.url = url
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise InputError(f"not a database URL: {exc}", source=url,
                             hint="sqlite:///x.db, journal:///x.log or postgresql://user@host/db") from None
        self.path = parsed.render_as_string(hide_password=True)
        kw = dict(engine_kwargs)
        if parsed.get_backend_name() == "sqlite":
            if parsed.database and parsed.database != ":memory:":
                _check_parent(parsed.database, "study database")
            kw.setdefault("connect_args", {"timeout": 30.0})
        try:
            self._engine = sa.create_engine(url, future=True, **kw)
        except (ImportError, ModuleNotFoundError) as exc:
            raise ConfigError(f"the database driver for {self.path} is not installed ({exc}); for PostgreSQL: "
                              "pip install psycopg (URL postgresql+psycopg://...) or psycopg2") from None
        except sa.exc.ArgumentError as exc:
            raise InputError(f"not a usable database URL: {exc}", source=self.path) from None
        self._sqlite = parsed.get_backend_name() == "sqlite"
        if self._sqlite:
            # pysqlite opens transactions lazily (deferred BEGIN before the first write),
            # so a check and the insert that follows it would not be atomic: the
            # transactions that check before writing take SQLite's write lock at their
            # start (BEGIN IMMEDIATE, SQLAlchemy's documented recipe); reads stay shared
            @sa.event.listens_for(self._engine, "connect")
            def _connect(dbapi_conn, _rec):
                dbapi_conn.isolation_level = None
                dbapi_conn.execute("PRAGMA journal_mode=WAL")

            @sa.event.listens_for(self._engine, "begin")
            def _begin(conn):
                immediate = conn.get_execution_options().get("hpcopt_immediate")
                conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

        md = sa.MetaData()
        T = sa.Text
        self._meta = sa.Table("meta", md, sa.Column("key", T, primary_key=True), sa.Column("value", T, nullable=False))
        self._studies = sa.Table("studies", md, sa.Column("name", T, primary_key=True),
                                 sa.Column("created", sa.Float, nullable=False), sa.Column("fingerprint", T),
                                 sa.Column("info", T, nullable=False))
        self._trials = sa.Table(
            "trials", md, sa.Column("study", T, sa.ForeignKey("studies.name"), primary_key=True),
            sa.Column("number", sa.Integer, primary_key=True, autoincrement=False),
            sa.Column("key", T, nullable=False), sa.Column("config", T, nullable=False),
            sa.Column("state", T, nullable=False), sa.Column("source", T, nullable=False), sa.Column("result", T),
            sa.Column("started", sa.Float, nullable=False), sa.Column("finished", sa.Float), sa.Column("owner", T),
            sa.Column("heartbeat", sa.Float), sa.Index("trials_key", "study", "key"))
        row = None
        for attempt in range(40):
            try:
                md.create_all(self._engine)
                with self._engine.begin() as c:
                    row = c.execute(sa.select(self._meta.c.value).where(self._meta.c.key == "schema")).first()
                    if row is None:
                        c.execute(self._meta.insert().values(key="schema", value=str(SCHEMA_VERSION)))
                break
            except sa.exc.IntegrityError:
                break  # another process wrote the schema row first
            except sa.exc.DBAPIError as exc:
                msg = str(exc.orig).lower()
                # several processes creating the tables at once: one wins, the others retry
                if attempt < 39 and any(w in msg for w in ("already exists", "locked", "duplicate")):
                    time.sleep(0.01 * (attempt + 1))
                    continue
                raise InputError(f"cannot open the study database: {exc.orig}", source=self.path,
                                 hint="check the URL, that the server runs and that the user may create "
                                 "tables") from None
        if row is not None and int(row[0]) in (1, 2):  # add the columns later schemas have
            cols = {c["name"] for c in sa.inspect(self._engine).get_columns("trials")}

            def upgrade(c):
                for col, typ in (("owner", "TEXT"), ("heartbeat", "REAL" if self._sqlite else "DOUBLE PRECISION")):
                    if col not in cols:
                        c.exec_driver_sql(f"ALTER TABLE trials ADD COLUMN {col} {typ}")
                c.execute(self._meta.update().where(self._meta.c.key == "schema").values(value=str(SCHEMA_VERSION)))
            self._retry(upgrade)
        elif row is not None and int(row[0]) != SCHEMA_VERSION:
            raise InputError(f"study database has schema {row[0]}, this hpcopt writes {SCHEMA_VERSION}", source=self.path)

    def _retry(self, fn, serializable: bool = False):
        """Run ``fn(connection)`` in a transaction; retry on lock contention and
        serialisation failures."""
        sa = self._sa
        delay = 0.005
        for _ in range(400):
            try:
                with self._engine.connect() as conn:
                    if serializable:  # SQLite: BEGIN IMMEDIATE serialises the writers
                        conn = conn.execution_options(
                            **({"hpcopt_immediate": True} if self._sqlite else {"isolation_level": "SERIALIZABLE"}))
                    with conn.begin():
                        return fn(conn)
            except sa.exc.DBAPIError as exc:
                msg = str(exc.orig).lower()
                if not any(w in msg for w in ("locked", "deadlock", "serializ")):
                    raise
                time.sleep(delay)
                delay = min(delay * 2, 0.2)
        raise RuntimeError("the study database stayed locked")  # pragma: no cover

    def create_or_load_study(self, name, info, fingerprint):
        sa, S = self._sa, self._studies

        def go(c):
            row = c.execute(sa.select(S.c.info).where(S.c.name == name)).first()
            if row is not None:
                return json.loads(row[0]), False
            c.execute(S.insert().values(name=name, created=time.time(), fingerprint=fingerprint,
                                        info=json.dumps(info, default=str)))
            return dict(info), True
        try:
            out, created = self._retry(go)
        except sa.exc.IntegrityError:
            out, created = self._retry(go)
        if not created:
            self._check_same(name, out, info)
        return out, created

    def study_names(self):
        S = self._studies
        return self._retry(lambda c: [r[0] for r in c.execute(self._sa.select(S.c.name).order_by(S.c.created))])

    def _study_row(self, name):
        S = self._studies
        row = self._retry(lambda c: c.execute(self._sa.select(S.c.info).where(S.c.name == name)).first())
        return None if row is None else json.loads(row[0])

    def study_fingerprint(self, name):
        S = self._studies
        row = self._retry(lambda c: c.execute(self._sa.select(S.c.fingerprint).where(S.c.name == name)).first())
        return None if row is None else row[0]

    def start_trial(self, study, config, key, owner=None, unique=False, limit=None):
        sa, T = self._sa, self._trials
        live = T.c.state.in_(["running", "done"])

        def go(c):
            if unique and c.execute(sa.select(T.c.number).where(T.c.study == study, T.c.key == key, live)
                                    .limit(1)).first():
                return Refused.TAKEN
            if limit is not None and c.execute(sa.select(sa.func.count(sa.distinct(T.c.key)))
                                               .where(T.c.study == study, live)).scalar_one() >= limit:
                return Refused.BUDGET
            n = c.execute(sa.select(sa.func.coalesce(sa.func.max(T.c.number), -1) + 1)
                          .where(T.c.study == study)).scalar_one()
            now = time.time()
            c.execute(T.insert().values(study=study, number=int(n), key=key,
                                        config=json.dumps(dict(config), default=str), state="running",
                                        source="measured", result=None, started=now, finished=None,
                                        owner=owner, heartbeat=now))
            return int(n)
        for _ in range(50):
            try:  # serializable on PostgreSQL, BEGIN IMMEDIATE on SQLite: the checks and the insert are atomic
                return self._retry(go, serializable=True)
            except sa.exc.IntegrityError:  # another worker took the number
                continue
        raise RuntimeError("could not allocate a trial number")  # pragma: no cover

    def finish_trial(self, study, number, result, source="measured", key=None):
        T = self._trials
        cond = [T.c.study == study, T.c.number == number, T.c.state == "running"]
        if key is not None:
            cond.append(T.c.key == key)
        stmt = (T.update().where(*cond)
                .values(state="done", source=source, result=json.dumps(result.to_dict(), default=str),
                        finished=time.time()))
        return self._retry(lambda c: c.execute(stmt).rowcount) == 1

    def heartbeat(self, study, owner):
        T = self._trials
        stmt = (T.update().where(T.c.study == study, T.c.owner == owner, T.c.state == "running")
                .values(heartbeat=time.time()))
        return self._retry(lambda c: c.execute(stmt).rowcount)

    def _mark_interrupted(self, study, numbers):
        T = self._trials
        stmt = (T.update().where(T.c.study == study, T.c.state == "running", T.c.number.in_(numbers))
                .values(state="interrupted", finished=time.time()))
        return self._retry(lambda c: c.execute(stmt).rowcount)

    def trials(self, study):
        T = self._trials
        cols = [getattr(T.c, n.strip()) for n in _COLUMNS.split(",")]
        stmt = (self._sa.select(*cols).where(T.c.study == study, T.c.state.in_(["running", "done"]))
                .order_by(T.c.number))
        return [_trial_from_row(r) for r in self._retry(lambda c: c.execute(stmt).all())]

    def _mark_retried(self, study, numbers):
        T = self._trials
        stmt = (T.update().where(T.c.study == study, T.c.state == "done", T.c.number.in_(numbers))
                .values(state="retried"))
        return self._retry(lambda c: c.execute(stmt).rowcount)

    def history(self, study):
        T = self._trials
        cols = [getattr(T.c, n.strip()) for n in _COLUMNS.split(",")]
        stmt = self._sa.select(*cols).where(T.c.study == study).order_by(T.c.number)
        return [_trial_from_row(r) for r in self._retry(lambda c: c.execute(stmt).all())]

    def cached_result(self, fingerprint, key, n_values=None):
        if not fingerprint:
            return None
        sa, T, S = self._sa, self._trials, self._studies
        stmt = (sa.select(T.c.result).join(S, S.c.name == T.c.study)
                .where(S.c.fingerprint == fingerprint, T.c.key == key, T.c.state == "done",
                       T.c.source == "measured").order_by(T.c.finished))
        rows = self._retry(lambda c: c.execute(stmt).all())
        return _first_fitting((r[0] for r in rows), n_values)

    def close(self):
        self._engine.dispose()


class JournalStorage(Storage):
    """An append-only journal file (``journal:///relative.log``, ``journal:////abs.log``).

    Each operation is one JSON line, appended with a single ``write`` while holding a lock
    file created with ``O_CREAT | O_EXCL`` (atomic on local file systems and on NFS v3 and
    later; ``flock`` is not reliable on NFS). Readers need no lock: they replay the
    complete lines they have not seen yet. A line torn by a writer killed mid-write is
    ended by the next writer and skipped by every reader (``skipped_lines`` counts them).
    A lock whose holder on this host is gone, or older than ``stale_lock_s``, is broken:
    each lock file holds a unique token, a breaker renames the file away and checks that it
    took the very file it judged stale (else puts it back), and a writer removes the lock
    only while it still holds its own token. Trial numbers are never reused, so a late
    result cannot land on another trial.
    """

    def __init__(self, url: str | Path, *, stale_lock_s: float = 30.0, fsync: bool = True) -> None:
        url = str(url)
        path = url[len("journal:///"):] if url.startswith("journal:///") else url[len("journal://"):]
        if not path:
            raise InputError("a journal URL needs a file", source=url, hint="journal:///studies.log")
        _check_parent(path, "journal")
        self.url, self.path = url, path
        self._lock_path = path + ".lock"
        self.stale_lock_s = stale_lock_s
        self.fsync = fsync
        self._offset = 0
        self._studies: dict[str, dict[str, Any]] = {}
        self._trials: dict[str, dict[int, dict[str, Any]]] = {}
        self._next: dict[str, int] = {}
        self._token = b""
        self.skipped_lines = 0
        fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_APPEND, 0o644)
        os.close(fd)
        self._catch_up()

    # -- reading
    def _apply(self, rec: dict[str, Any]) -> None:
        op = rec.get("op")
        if op == "study":
            self._studies.setdefault(rec["name"], rec)
            self._trials.setdefault(rec["name"], {})
        elif op == "start":
            tr = self._trials.setdefault(rec["study"], {})
            tr[rec["number"]] = {"number": rec["number"], "config": rec["config"], "key": rec["key"],
                                 "state": "running", "source": "measured", "result": None,
                                 "started": rec["t"], "finished": None, "owner": rec.get("owner"),
                                 "heartbeat": rec["t"]}
            self._next[rec["study"]] = max(self._next.get(rec["study"], 0), rec["number"] + 1)
        elif op == "finish":
            t = self._trials.get(rec["study"], {}).get(rec["number"])
            if t is not None and t["state"] == "running" and rec.get("key", t["key"]) == t["key"]:
                t.update(state="done", source=rec["source"], result=rec["result"], finished=rec["t"])
        elif op == "beat":
            for t in self._trials.get(rec["study"], {}).values():
                if t["owner"] == rec["owner"] and t["state"] == "running":
                    t["heartbeat"] = rec["t"]
        elif op == "retry":
            tr = self._trials.get(rec["study"], {})
            for n in rec["numbers"]:
                if n in tr and tr[n]["state"] == "done":
                    tr[n]["state"] = "retried"
        elif op in ("interrupt", "delete"):  # "delete": journals of schema 2
            tr = self._trials.get(rec["study"], {})
            for n in rec["numbers"]:
                if n in tr and tr[n]["state"] == "running":
                    tr[n].update(state="interrupted", finished=rec["t"])
        else:
            self.skipped_lines += 1

    def _catch_up(self) -> None:
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self._offset)
                data = fh.read()
        except OSError as exc:
            raise InputError(f"cannot read the journal: {exc.strerror}", source=self.path) from None
        end = data.rfind(b"\n")
        if end < 0:
            return
        for line in data[:end].split(b"\n"):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                if not isinstance(rec, dict):
                    raise ValueError
                self._apply(rec)
            except (ValueError, KeyError, TypeError):
                self.skipped_lines += 1
        self._offset += end + 1

    # -- writing
    def _lock(self) -> None:
        delay, t0 = 0.001, time.monotonic()
        self._token = f"{this_owner()} {time.time():.6f} {uuid.uuid4().hex}".encode()
        while True:
            try:
                fd = os.open(self._lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                self._maybe_break_lock()
                if time.monotonic() - t0 > 10 * self.stale_lock_s:
                    raise InputError("the journal stays locked", source=self._lock_path,
                                     hint="remove the .lock file if no hpcopt process uses the journal")
                time.sleep(delay)
                delay = min(delay * 2, 0.05)
                continue
            os.write(fd, self._token)
            os.close(fd)
            return

    def _read_lock(self, path: str) -> tuple[bytes, float] | None:
        try:
            with open(path, "rb") as fh:
                text = fh.read()
            return text, os.stat(path).st_mtime
        except OSError:
            return None

    def _take_away(self, expected: bytes) -> bool:
        """Rename the lock file away and remove it if it holds ``expected``; if another
        writer's lock took its place meanwhile, put that one back. True if removed."""
        aside = f"{self._lock_path}.{os.getpid()}.{uuid.uuid4().hex}"
        try:
            os.rename(self._lock_path, aside)  # atomic: only one process gets this file
        except OSError:
            return False
        got = self._read_lock(aside)
        if got is not None and got[0] == expected:
            os.unlink(aside)
            return True
        try:  # not the file we meant: give it back unless a new lock exists already
            os.link(aside, self._lock_path)
        except OSError:
            pass
        try:
            os.unlink(aside)
        except OSError:  # pragma: no cover
            pass
        return False

    def _maybe_break_lock(self) -> None:
        got = self._read_lock(self._lock_path)
        if got is None:
            return
        text, mtime = got
        owner = text.decode(errors="replace").split(" ")[0] if text else ""
        if (owner and owner_is_gone(owner)) or time.time() - mtime > self.stale_lock_s:
            self._take_away(text)

    def _unlock(self) -> None:
        got = self._read_lock(self._lock_path)
        if got is not None and got[0] == self._token:
            self._take_away(self._token)
        # else: broken as stale by someone else (and perhaps taken by another writer): not ours

    def _append(self, make_record) -> Any:
        """Under the lock: catch up, build the record from the current state, append it."""
        self._lock()
        try:
            self._catch_up()
            rec, ret = make_record()
            if rec is None:
                return ret
            line = json.dumps(rec, default=str, separators=(",", ":")).encode() + b"\n"
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND)
            try:
                size = os.fstat(fd).st_size
                if size > 0:
                    with open(self.path, "rb") as fh:
                        fh.seek(size - 1)
                        if fh.read(1) != b"\n":
                            line = b"\n" + line  # end a line torn by a killed writer
                os.write(fd, line)
                if self.fsync:
                    os.fsync(fd)
            finally:
                os.close(fd)
            self._catch_up()
            return ret
        finally:
            self._unlock()

    # -- the interface
    def create_or_load_study(self, name, info, fingerprint):
        def make():
            if name in self._studies:
                return None, (self._studies[name]["info"], False)
            rec = {"op": "study", "name": name, "created": time.time(), "fingerprint": fingerprint,
                   "info": json.loads(json.dumps(info, default=str))}
            return rec, (dict(info), True)
        self._catch_up()
        if name in self._studies:
            old = self._studies[name]["info"]
            self._check_same(name, old, info)
            return old, False
        out, created = self._append(make)
        if not created:
            self._check_same(name, out, info)
        return out, created

    def study_names(self):
        self._catch_up()
        return sorted(self._studies, key=lambda n: self._studies[n]["created"])

    def _study_row(self, name):
        self._catch_up()
        s = self._studies.get(name)
        return None if s is None else s["info"]

    def study_fingerprint(self, name):
        self._catch_up()
        s = self._studies.get(name)
        return None if s is None else s.get("fingerprint")

    def start_trial(self, study, config, key, owner=None, unique=False, limit=None):
        def make():
            live = [t for t in self._trials.get(study, {}).values() if t["state"] in ("running", "done")]
            if unique and any(t["key"] == key for t in live):
                return None, Refused.TAKEN
            if limit is not None and len({t["key"] for t in live}) >= limit:
                return None, Refused.BUDGET
            n = self._next.get(study, 0)
            return ({"op": "start", "study": study, "number": n, "key": key,
                     "config": json.loads(json.dumps(dict(config), default=str)), "t": time.time(),
                     "owner": owner}, n)
        return self._append(make)

    def finish_trial(self, study, number, result, source="measured", key=None):
        def make():
            t = self._trials.get(study, {}).get(number)
            if t is None or t["state"] != "running" or (key is not None and t["key"] != key):
                return None, False
            return {"op": "finish", "study": study, "number": number, "key": t["key"], "source": source,
                    "result": json.loads(json.dumps(result.to_dict(), default=str)), "t": time.time()}, True
        return self._append(make)

    def heartbeat(self, study, owner):
        def make():
            n = sum(1 for t in self._trials.get(study, {}).values() if t["owner"] == owner and t["state"] == "running")
            return ({"op": "beat", "study": study, "owner": owner, "t": time.time()} if n else None), n
        return self._append(make)

    def _mark_interrupted(self, study, numbers):
        def make():
            tr = self._trials.get(study, {})
            nums = [n for n in numbers if n in tr and tr[n]["state"] == "running"]
            return ({"op": "interrupt", "study": study, "numbers": nums, "t": time.time()} if nums else None), len(nums)
        return self._append(make)

    def _mark_retried(self, study, numbers):
        def make():
            tr = self._trials.get(study, {})
            nums = [n for n in numbers if n in tr and tr[n]["state"] == "done"]
            return ({"op": "retry", "study": study, "numbers": nums, "t": time.time()} if nums else None), len(nums)
        return self._append(make)

    def history(self, study):
        return self.trials(study, _states=("running", "done", "interrupted", "retried"))

    def trials(self, study, _states=("running", "done")):
        self._catch_up()
        out = []
        for n in sorted(self._trials.get(study, {})):
            t = self._trials[study][n]
            if t["state"] not in _states:
                continue
            out.append(Trial(n, dict(t["config"]), t["key"], t["state"], t["source"],
                             Result.from_dict(t["result"]) if t["result"] else None, t["started"], t["finished"],
                             t["owner"], t.get("heartbeat")))
        return out

    def cached_result(self, fingerprint, key, n_values=None):
        if not fingerprint:
            return None
        self._catch_up()
        found = []
        for name, s in self._studies.items():
            if s.get("fingerprint") != fingerprint:
                continue
            found += [t["result"] for t in self._trials.get(name, {}).values()
                      if t["key"] == key and t["state"] == "done" and t["source"] == "measured" and t["result"]]
        return _first_fitting(found, n_values)

    def version(self):
        try:
            return os.stat(self.path).st_size
        except OSError:  # pragma: no cover
            return None


def open_storage(url: str | Path | Storage) -> Storage:
    """A storage object for a URL (or the object itself)."""
    return url if isinstance(url, Storage) else Storage(url)


__all__ = ["Storage", "SQLiteStorage", "SQLAlchemyStorage", "JournalStorage", "Trial", "Refused", "config_key",
           "open_storage", "owner_is_gone", "releasable", "stored_objectives", "this_owner", "SCHEMA_VERSION",
           "DEFAULT_LEASE_S", "ASK_PREFIX"]
