"""check_storage on every built-in storage, and on broken toys it must catch."""

import json
import time

import pytest

from hpcopt.testing.checks.storage import (check_concurrent_claims, check_damaged, check_lifecycle, check_storage,
                                          check_failures)
from hpcopt.tune.storage import JournalStorage, Refused, SQLiteStorage, get_storage

# every URL form get_storage knows, as factories of a folder
BUILTINS = {
    "sqlite-path": lambda d: get_storage(str(d / "s.db")),
    "sqlite-url": lambda d: get_storage(f"sqlite:///{d / 's.db'}"),
    "journal": lambda d: get_storage(f"journal:///{d / 's.log'}"),
    "sqlalchemy-sqlite": lambda d: get_storage(f"sqlite+pysqlite:///{d / 's.db'}"),
}


@pytest.mark.parametrize("name", sorted(BUILTINS))
def test_every_builtin_storage_conforms(name):
    if name == "sqlalchemy-sqlite":
        pytest.importorskip("sqlalchemy")
    run = check_storage(BUILTINS[name], label=name)
    assert run[-3:] == ["check_reopen", "check_concurrent_claims", "check_damaged"]


def test_the_sqlalchemy_storage_conforms_on_postgresql(postgres_url):
    sa = pytest.importorskip("sqlalchemy")
    # no pool: the racing processes are forked and must not share the parent's sockets
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)

    def factory(d):
        # one database per folder: each check starts empty, reopening finds the same data
        db = "chk_" + "".join(c if c.isalnum() else "_" for c in f"{d.parent.name}_{d.name}").lower()[-50:]
        with admin.connect() as c:
            if not c.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": db}).first():
                c.execute(sa.text(f'CREATE DATABASE "{db}"'))
        return get_storage(postgres_url.rsplit("/", 1)[0] + "/" + db)
    try:
        run = check_storage(factory, files=False, label="postgresql")
    finally:
        admin.dispose()
    assert "check_concurrent_claims" in run and "check_damaged" not in run


def test_the_in_memory_storage_conforms():
    run = check_storage(lambda d: get_storage(":memory:"), persistent=False, label="memory")
    assert "check_reopen" not in run and "check_leases" in run


class RacyStorage(SQLiteStorage):
    """Checks, then inserts: two processes can both pass the check."""

    def start_trial(self, study, config, key, owner=None, unique=False, limit=None):
        live = self.trials(study)
        if unique and any(t.key == key for t in live):
            return Refused.TAKEN
        if limit is not None and len({t.key for t in live}) >= limit:
            return Refused.BUDGET
        time.sleep(0.3)  # the window between the check and the write
        return super().start_trial(study, config, key, owner=owner)


class LateResultStorage(SQLiteStorage):
    """Checks the configuration key but writes a result onto any trial, finished or released."""

    def finish_trial(self, study, number, result, source="measured", key=None):
        cur = self._db.execute("UPDATE trials SET state='done', source=?, result=?, finished=? "
                               "WHERE study=? AND number=? AND (? IS NULL OR key=?)",
                               (source, json.dumps(result.to_dict()), time.time(), study, number, key, key))
        return cur.rowcount == 1


class ForgetfulRetryStorage(JournalStorage):
    """Marks nothing retried."""

    def _mark_retried(self, study, numbers):
        return 0


class FragileStorage(SQLiteStorage):
    """Lets the database driver's error through on a damaged file."""

    def __init__(self, url):
        import sqlite3

        self.url = self.path = str(url)
        self._db = sqlite3.connect(self.url, isolation_level=None)
        self._db.execute("SELECT * FROM studies").fetchall()


def test_a_racy_claim_is_caught(tmp_path):
    with pytest.raises(AssertionError, match="claimed the same configuration twice"):
        check_concurrent_claims(lambda d: RacyStorage(str(d / "s.db")), tmp_path, _label("racy"), n=3, budget=3)


def test_a_late_result_is_caught():
    st = LateResultStorage(":memory:")
    with pytest.raises(AssertionError, match="finished trial must return False"):
        check_lifecycle(st, _label("late"))


def test_a_forgotten_retry_is_caught(tmp_path):
    st = ForgetfulRetryStorage(f"journal:///{tmp_path / 's.log'}")
    with pytest.raises(AssertionError, match="retry_failed must mark the failed trial"):
        check_failures(st, _label("forgetful"))


def test_a_raw_driver_error_on_a_damaged_file_is_caught(tmp_path):
    def damaging(d):
        # the first opening builds the file; once damaged, the fragile class reads it
        if (d / "s.db").exists() and (d / "s.db").read_bytes()[:6] != b"SQLite":
            return FragileStorage(d / "s.db")
        return SQLiteStorage(str(d / "s.db"))
    with pytest.raises(AssertionError, match="expected an hpcopt InputError"):
        check_damaged(damaging, tmp_path, _label("fragile"))


def test_the_whole_check_names_the_broken_part():
    with pytest.raises(AssertionError, match=r"check_storage\[late\]: finish_trial of a finished trial"):
        check_storage(lambda d: LateResultStorage(":memory:"), persistent=False, label="late")


def _label(name):
    from hpcopt.testing.checks.storage import _Fail

    return _Fail(name)
