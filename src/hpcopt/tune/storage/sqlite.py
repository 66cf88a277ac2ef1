"""SQLite through the standard library: the default backend (one file, several
processes on one machine through SQLite's own locking, WAL journal; ``":memory:"`` for a
study that lives in one process)."""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

from hpcopt.errors import InputError
from hpcopt.tune.storage.base import (_COLUMNS, SCHEMA_VERSION, Refused, Storage, _check_parent, _first_fitting,
                                      _trial_from_row)

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
