"""Opening the store, migrating it, and recording runs."""

from __future__ import annotations

import contextlib
import os
import socket
import time
import traceback
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcopt.core.results import Result, json_safe
from hpcopt.errors import ConfigError, HpcoptError, InputError

STATUSES = ("running", "succeeded", "failed", "interrupted")
_HEAVY = ("result", "error")  # the columns a run listing leaves out with light=True


def default_home() -> Path:
    home = os.environ.get("HPCOPT_HOME")
    return Path(home).expanduser() if home else Path("~/.local/share/hpcopt").expanduser()


def default_url() -> str:
    return f"sqlite:///{default_home() / 'store.db'}"


@dataclass(frozen=True)
class RunRecord:
    """A run as stored (immutable snapshot)."""

    id: str
    task: str
    status: str
    parameters: dict
    inputs: dict
    input_models: list
    seed: int | None
    versions: dict
    result_schema: str | None
    result: dict | None
    error: dict | None
    host: str
    pid: int
    started_at: float
    heartbeat_at: float
    finished_at: float | None
    artifacts: tuple = ()

    @property
    def duration_s(self) -> float | None:
        return None if self.finished_at is None else self.finished_at - self.started_at

    def to_dict(self) -> dict[str, Any]:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["artifacts"] = [dict(a) for a in self.artifacts]
        d["duration_s"] = self.duration_s
        return json_safe(d)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie child is dead for our purposes
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return True


class RunHandle:
    """What the body of ``with store.record(...) as run:`` can do."""

    def __init__(self, store: "Store", run_id: str) -> None:
        self._store = store
        self.id = run_id
        self._result: Result | dict | None = None
        self._artifacts: list[tuple[str, Path]] = []
        self._models: list[str] = []

    def set_result(self, result: Result | dict) -> None:
        self._result = result

    def add_artifact(self, name: str, path: str | Path) -> None:
        self._artifacts.append((name, Path(path)))

    def used_model(self, name: str, version: int) -> None:
        self._models.append(f"{name}:{version}")

    def heartbeat(self) -> None:
        self._store._heartbeat(self.id)


class Store:
    """A run store and model registry over one SQLAlchemy URL."""

    def __init__(self, url: str | None = None, *, home: str | Path | None = None) -> None:
        from hpcopt.core.optional import require

        require("sqlalchemy", "store")
        self.home = Path(home) if home is not None else default_home()
        self.url = url or default_url()
        self._engine = self._make_engine(self.url)
        self._migrate()
        from sqlalchemy.orm import sessionmaker

        self._session = sessionmaker(self._engine, expire_on_commit=False)
        from hpcopt.store.models import ModelRegistry

        self.models = ModelRegistry(self)

    # ------------------------------------------------------------------ engine and schema
    def _make_engine(self, url: str):
        import sqlalchemy as sa
        from sqlalchemy import event

        try:
            parsed = sa.engine.make_url(url)
        except Exception as exc:
            raise ConfigError(f"not a database URL: {url!r} ({exc})") from None
        self._sqlite = parsed.get_backend_name() == "sqlite"
        if self._sqlite:
            db = parsed.database
            if db and db != ":memory:":
                try:
                    Path(db).expanduser().parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise ConfigError(f"cannot create the store's directory for {url} ({exc.strerror})") from None
            engine = sa.create_engine(url, connect_args={"timeout": 60})

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn, _record):
                dbapi_conn.isolation_level = None  # BEGIN is emitted below
                dbapi_conn.execute("PRAGMA journal_mode=WAL")
                dbapi_conn.execute("PRAGMA busy_timeout=60000")
                dbapi_conn.execute("PRAGMA foreign_keys=ON")

            @event.listens_for(engine, "begin")
            def _on_begin(conn):
                # every transaction takes the write lock at its start, so concurrent
                # writers queue on busy_timeout instead of failing on a lock upgrade
                conn.exec_driver_sql("BEGIN IMMEDIATE")
        else:
            try:
                engine = sa.create_engine(url, pool_pre_ping=True)
            except Exception as exc:  # e.g. the driver is missing
                raise ConfigError(f"cannot open the store at {url}: {exc}") from None
        return engine

    def _migrate(self) -> None:
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        try:
            with self._engine.begin() as conn:
                if not self._sqlite:  # one migrator at a time across processes
                    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(4242001)")
                current = MigrationContext.configure(conn).get_current_revision()
                if current == head:
                    return
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
        except HpcoptError:
            raise
        except Exception as exc:
            raise ConfigError(f"cannot open or migrate the store at {self.url}: {type(exc).__name__}: {exc}") \
                from None

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self._engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def dispose(self) -> None:
        self._engine.dispose()

    # ------------------------------------------------------------------ runs
    @contextlib.contextmanager
    def record(self, task: str, *, parameters: dict | None = None, inputs: dict[str, str | Path] | None = None,
               seed: int | None = None, libraries: tuple[str, ...] = (),
               input_hashes: dict[str, str] | None = None) -> Iterator[RunHandle]:
        """Record one run of ``task``; the body sets the result with ``run.set_result``.

        An exception marks the run ``failed`` (with the message) and propagates; Ctrl-C
        marks it ``interrupted``.
        """
        from hpcopt.core.provenance import hash_inputs, version_record
        from hpcopt.store.schema import Run

        hashed = dict(input_hashes) if input_hashes is not None else hash_inputs(inputs or {})
        now = time.time()
        run_id = uuid.uuid4().hex
        row = Run(id=run_id, task=task, status="running", parameters=json_safe(parameters or {}), inputs=hashed,
                  input_models=[], seed=seed, versions=version_record(*libraries), result_schema=None,
                  result=None, error=None, host=socket.gethostname(), pid=os.getpid(), started_at=now,
                  heartbeat_at=now, finished_at=None)
        with self._session.begin() as s:
            s.add(row)
        handle = RunHandle(self, run_id)
        try:
            yield handle
        except (KeyboardInterrupt, SystemExit) as exc:
            self._finish(handle, "interrupted", error={"type": type(exc).__name__, "message": "interrupted"})
            raise
        except BaseException as exc:
            self._finish(handle, "failed", error={
                "type": type(exc).__name__, "message": str(exc),
                "traceback": None if isinstance(exc, HpcoptError) else traceback.format_exc(limit=20)})
            raise
        else:
            self._finish(handle, "succeeded")

    def _finish(self, handle: RunHandle, status: str, error: dict | None = None) -> None:
        from hpcopt.core.provenance import file_sha256
        from hpcopt.store.schema import Artifact, Run

        result = handle._result
        schema = None
        seed = None
        if isinstance(result, Result):
            schema = result.schema_id
            seed = result.provenance.seed
            result = result.to_dict()
        elif result is not None:
            result = json_safe(result)
        with self._session.begin() as s:  # everything of the end in one transaction
            row = s.get(Run, handle.id)
            row.status = status
            row.result = result
            row.result_schema = schema
            row.error = error
            row.input_models = list(handle._models)
            if row.seed is None and isinstance(seed, int):
                row.seed = seed  # the seed the run drew for itself (none was given)
            row.finished_at = time.time()
            row.heartbeat_at = row.finished_at
            for name, path in handle._artifacts:
                if path.is_file():
                    s.add(Artifact(run_id=handle.id, name=name, path=str(path.resolve()),
                                   sha256=file_sha256(path), size=path.stat().st_size))

    def _heartbeat(self, run_id: str) -> None:
        from hpcopt.store.schema import Run

        with self._session.begin() as s:
            row = s.get(Run, run_id)
            if row is not None and row.status == "running":
                row.heartbeat_at = time.time()

    def reap(self, *, lease_s: float = 3600.0) -> list[str]:
        """Mark as ``interrupted`` the running runs whose process is gone.

        On this host a run is dead when its pid no longer runs; on another host when its
        heartbeat is older than ``lease_s``. Returns the ids marked.
        """
        import sqlalchemy as sa

        from hpcopt.store.schema import Run

        host = socket.gethostname()
        now = time.time()
        marked = []
        with self._session.begin() as s:
            for row in s.scalars(sa.select(Run).where(Run.status == "running")):
                dead = (not _pid_alive(row.pid)) if row.host == host else (now - row.heartbeat_at > lease_s)
                if dead and not (row.host == host and row.pid == os.getpid()):
                    row.status = "interrupted"
                    row.finished_at = now
                    row.error = {"type": "Interrupted", "message": "the process running it ended without "
                                 "finishing (killed or crashed)"}
                    marked.append(row.id)
        return marked

    def _record_of(self, s, row, artifacts: tuple | None = None, *, light: bool = False) -> RunRecord:
        import sqlalchemy as sa

        from hpcopt.store.schema import Artifact

        if artifacts is None:
            artifacts = tuple({"name": a.name, "path": a.path, "sha256": a.sha256, "size": a.size} for a in
                              s.scalars(sa.select(Artifact).where(Artifact.run_id == row.id).order_by(Artifact.id)))
        heavy = _HEAVY if light else ()
        return RunRecord(**{k: (None if k in heavy else getattr(row, k))
                            for k in RunRecord.__dataclass_fields__ if k != "artifacts"}, artifacts=artifacts)

    def list_runs(self, *, task: str | None = None, status: str | None = None, limit: int = 50,
                  reap: bool = True, light: bool = False) -> list[RunRecord]:
        """Newest first. ``light``: without the result and error bodies (``None``), which a
        listing does not show and which are the bulk of a row."""
        import sqlalchemy as sa
        from sqlalchemy.orm import defer

        from hpcopt.store.schema import Artifact, Run

        if status is not None and status not in STATUSES:
            raise ConfigError(f"status must be one of {', '.join(STATUSES)}; got {status!r} instead")
        if limit < 1:
            raise ConfigError(f"limit must be at least 1; got {limit} instead")
        if reap:
            self.reap()
        q = sa.select(Run).order_by(Run.started_at.desc(), Run.id).limit(limit)
        if light:
            q = q.options(*(defer(getattr(Run, k)) for k in _HEAVY))
        if task is not None:
            q = q.where(Run.task == task)
        if status is not None:
            q = q.where(Run.status == status)
        with self._session() as s:
            rows = list(s.scalars(q))
            arts: dict[str, list] = {r.id: [] for r in rows}
            for a in s.scalars(sa.select(Artifact).where(Artifact.run_id.in_(list(arts))).order_by(Artifact.id)):
                arts[a.run_id].append({"name": a.name, "path": a.path, "sha256": a.sha256, "size": a.size})
            return [self._record_of(s, r, tuple(arts[r.id]), light=light) for r in rows]  # two queries, not 1 + n

    def get_run(self, run_id: str) -> RunRecord:
        """A run by id or by an unambiguous prefix of at least 4 characters."""
        import sqlalchemy as sa

        from hpcopt.store.schema import Run

        if not isinstance(run_id, str) or not 4 <= len(run_id) <= 32 or \
                not all(c in "0123456789abcdef" for c in run_id):
            raise ConfigError(f"a run id is 4 to 32 hexadecimal characters; got {run_id!r} instead")
        with self._session() as s:
            # a key range, not LIKE: the primary-key index answers it ('g' sorts after every hex digit)
            rows = list(s.scalars(sa.select(Run).where(Run.id >= run_id, Run.id < run_id + "g").limit(2)))
            if not rows:
                raise InputError(f"no run with id {run_id!r} in the store {self.url}",
                                 hint="list them with 'hpcopt runs list'")
            if len(rows) > 1:
                raise ConfigError(f"the run id prefix {run_id!r} is ambiguous; give more characters")
            return self._record_of(s, rows[0])

    def compare(self, run_ids: list[str]):
        """A table with one column per run: task, status, parameters and numeric results flattened."""
        import pandas as pd

        cols = {}
        for rid in run_ids:
            r = self.get_run(rid)
            flat: dict[str, Any] = {"task": r.task, "status": r.status, "seed": r.seed,
                                    "duration_s": r.duration_s}
            flat.update({f"param.{k}": v for k, v in _flatten(r.parameters).items()})
            payload = (r.result or {}).get("payload", r.result or {})
            flat.update({f"result.{k}": v for k, v in _flatten(payload).items()
                         if isinstance(v, (int, float, str, bool)) or v is None})
            cols[r.id[:8]] = flat
        return pd.DataFrame(cols)

    def export(self, path: str | Path, *, force: bool = False) -> Path:
        """Every run as one Parquet (or CSV by suffix) row; JSON columns kept as JSON text."""
        import json

        import pandas as pd

        from hpcopt.core.files import prepare_output

        p = prepare_output(path, force=force, option="export path")
        rows = []
        for r in self.list_runs(limit=10**9):
            d = r.to_dict()
            for key in ("parameters", "inputs", "input_models", "versions", "result", "error", "artifacts"):
                d[key] = json.dumps(d[key], sort_keys=True)
            rows.append(d)
        cols = [*RunRecord.__dataclass_fields__, "duration_s"]
        df = pd.DataFrame(rows, columns=cols)
        tmp = p.with_name(f".{p.name}.tmp")
        if p.suffix == ".csv":
            df.to_csv(tmp, index=False)
        else:
            df.to_parquet(tmp, index=False)
        os.replace(tmp, p)
        return p


def _flatten(d: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(d, dict):
        for k, v in d.items():
            out.update(_flatten(v, f"{prefix}{k}."))
    elif prefix:
        out[prefix[:-1]] = d
    return out


def open_store(url: str | None = None, *, home: str | Path | None = None) -> Store:
    """Open (and create or migrate) the store; ``HPCOPT_STORE_URL`` overrides the default URL."""
    return Store(url or os.environ.get("HPCOPT_STORE_URL") or None, home=home)
