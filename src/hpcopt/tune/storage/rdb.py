"""The SQLite backend's schema through SQLAlchemy: PostgreSQL (``postgresql+psycopg://...``)
or SQLite (``sqlite+pysqlite:///x.db``, how it is tested). MySQL is not supported: its
keys need bounded string columns."""

from __future__ import annotations

import json
import time
from typing import Any

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.storage.base import (_COLUMNS, SCHEMA_VERSION, Refused, Storage, _check_parent, _first_fitting,
                                      _trial_from_row)

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
