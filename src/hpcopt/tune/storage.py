"""Where studies remember their trials: SQLite by default (one file, safe for several
processes on one machine through SQLite's own locking), or memory.

Every trial is written twice: as ``running`` before it is measured and with its result
after, each in its own transaction, so a study killed at any point loses at most the
measurement in flight, which is redone on resume.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hpcopt.errors import ConfigError, InputError
from hpcopt.tune.results import Result

SCHEMA_VERSION = 1

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
    state TEXT NOT NULL,            -- running | done
    source TEXT NOT NULL,           -- measured | cache | told
    result TEXT,
    started REAL NOT NULL,
    finished REAL,
    PRIMARY KEY (study, number)
);
CREATE INDEX IF NOT EXISTS trials_key ON trials(study, key);
"""


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

    def to_dict(self) -> dict[str, Any]:
        return {"number": self.number, "config": self.config, "state": self.state, "source": self.source,
                "result": self.result.to_dict() if self.result else None,
                "started": self.started, "finished": self.finished}


def config_key(config: Mapping[str, Any], names: list[str]) -> str:
    return json.dumps([config[n] for n in names], separators=(",", ":"), default=str)


class Storage:
    """SQLite storage. ``url`` is a path, ``sqlite:///path`` or ``":memory:"``."""

    def __init__(self, url: str | Path = ":memory:") -> None:
        url = str(url)
        if url.startswith("sqlite:///"):
            url = url[len("sqlite:///"):]
        elif "://" in url:
            raise ConfigError(f"storage {url!r} is not supported here; give a SQLite path or sqlite:///path "
                              "(PostgreSQL is not implemented)")
        self.path = url
        if url != ":memory:":
            parent = Path(url).expanduser().resolve().parent
            if not parent.is_dir():
                raise InputError("the folder of the study database does not exist", source=url,
                                 hint=f"create {parent} first")
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
        elif int(row[0]) != SCHEMA_VERSION:
            raise InputError(f"study database has schema {row[0]}, this hpcopt writes {SCHEMA_VERSION}", source=url)

    # -- studies
    def create_or_load_study(self, name: str, info: Mapping[str, Any], fingerprint: str | None) -> tuple[dict, bool]:
        """Returns (info, created). An existing study must describe the same space."""
        row = self._db.execute("SELECT info FROM studies WHERE name=?", (name,)).fetchone()
        if row is not None:
            old = json.loads(row[0])
            if old.get("space") != json.loads(json.dumps(info.get("space"), default=str)):
                raise InputError(f"study {name!r} already exists with a different search space", field="study",
                                 hint="give a new --study name, or the same spec to resume")
            return old, False
        self._db.execute("INSERT INTO studies VALUES (?, ?, ?, ?)",
                         (name, time.time(), fingerprint, json.dumps(info, default=str)))
        return dict(info), True

    def study_names(self) -> list[str]:
        return [r[0] for r in self._db.execute("SELECT name FROM studies ORDER BY created")]

    def study_info(self, name: str) -> dict[str, Any]:
        row = self._db.execute("SELECT info FROM studies WHERE name=?", (name,)).fetchone()
        if row is None:
            raise InputError(f"no study named {name!r} in {self.path}", field="study",
                             hint=f"known: {', '.join(self.study_names()) or '(none)'}")
        return json.loads(row[0])

    # -- trials
    def next_number(self, study: str) -> int:
        row = self._db.execute("SELECT COALESCE(MAX(number), -1) + 1 FROM trials WHERE study=?", (study,)).fetchone()
        return int(row[0])

    def start_trial(self, study: str, config: Mapping[str, Any], key: str) -> int:
        for _ in range(20):
            n = self.next_number(study)
            try:
                self._db.execute("INSERT INTO trials VALUES (?, ?, ?, ?, 'running', 'measured', NULL, ?, NULL)",
                                 (study, n, key, json.dumps(dict(config), default=str), time.time()))
                return n
            except sqlite3.IntegrityError:  # another worker took the number
                continue
        raise RuntimeError("could not allocate a trial number")  # pragma: no cover

    def finish_trial(self, study: str, number: int, result: Result, source: str = "measured") -> None:
        self._db.execute("UPDATE trials SET state='done', source=?, result=?, finished=? WHERE study=? AND number=?",
                         (source, json.dumps(result.to_dict(), default=str), time.time(), study, number))

    def add_done_trial(self, study: str, config: Mapping[str, Any], key: str, result: Result, source: str) -> int:
        n = self.start_trial(study, config, key)
        self.finish_trial(study, n, result, source)
        return n

    def delete_running(self, study: str) -> int:
        """Forget trials left ``running`` by a crash (they are measured again)."""
        cur = self._db.execute("DELETE FROM trials WHERE study=? AND state='running'", (study,))
        return cur.rowcount

    def trials(self, study: str) -> list[Trial]:
        rows = self._db.execute("SELECT number, config, key, state, source, result, started, finished FROM trials "
                                "WHERE study=? ORDER BY number", (study,)).fetchall()
        return [Trial(r[0], json.loads(r[1]), r[2], r[3], r[4], Result.from_dict(json.loads(r[5])) if r[5] else None,
                      r[6], r[7]) for r in rows]

    def cached_result(self, fingerprint: str | None, key: str) -> Result | None:
        """A finished measurement of the same configuration by a study with the same runner."""
        if not fingerprint:
            return None
        row = self._db.execute(
            "SELECT t.result FROM trials t JOIN studies s ON s.name = t.study "
            "WHERE s.fingerprint=? AND t.key=? AND t.state='done' AND t.source='measured' LIMIT 1",
            (fingerprint, key)).fetchone()
        return Result.from_dict(json.loads(row[0])) if row else None

    def close(self) -> None:
        self._db.close()


__all__ = ["Storage", "Trial", "config_key", "SCHEMA_VERSION"]
