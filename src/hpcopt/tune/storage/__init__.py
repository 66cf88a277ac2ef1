"""Where studies remember their trials.

``get_storage(url)`` (or ``Storage(url)``) picks the backend from the URL:

* a path, ``sqlite:///path`` or ``":memory:"`` -- :class:`SQLiteStorage` (:mod:`.sqlite`),
  through the standard library (the default; one file, safe for several processes on one
  machine through SQLite's own locking, WAL journal);
* ``journal:///path.log`` -- :class:`JournalStorage` (:mod:`.journal`), an append-only
  file of JSON records, one per operation, written under a lock file created with
  ``O_EXCL`` (atomic on local and NFS file systems), so several processes, on one machine
  or several sharing the file, can write one study; the state is the replay of the records;
* any other URL (``postgresql+psycopg://...``, ``sqlite+pysqlite:///path``) --
  :class:`SQLAlchemyStorage` (:mod:`.rdb`) over the SQLite backend's schema.

The interface and what the backends share are in :mod:`.base`; a backend is checked
against it by :func:`hpcopt.testing.checks.storage.check_storage`.

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
the cache, and its configuration is measured again. Rows are never deleted and trial
numbers never reused, and a result is written only onto a ``running`` trial with the same
configuration key, so a late result cannot land on another configuration. A trial is
started only if no live trial of the study has its configuration (``unique=True``) and
the study holds fewer distinct configurations than ``limit``, atomically, so concurrent
workers never measure one configuration twice nor start more than the budget.

Why these are not Optuna's storages
-----------------------------------
Measured with Optuna 4.9.0 (``benchmarks/tune_storage_optuna.py``, figures in
``benchmarks/results/tune_storage_optuna.json``; 2 shared CPUs, so times are noisy: RDB's
cache lookup took 8, 42 and 115 ms in three runs): Optuna's ``RDBStorage`` (SQLite) and
``JournalStorage`` (``JournalFileBackend``) carry a result, owner, configuration key,
source and typed failure status as trial attributes (round trip after reopening: yes on
both). What they lack:

* **an atomic distinct-configuration claim with a budget.** 3 processes racing (a barrier
  before each claim) over 30 configurations with a budget of 20, 3 rounds: hpcopt's
  ``start_trial`` 0 duplicates, 0 overrun, 0 lost on SQLite and journal (7 / 8 ms a
  claim). Check-then-create on Optuna's API: 40, 40, 40 duplicate claims on RDB and 2, 10,
  8 on journal. ``enqueue_trial(skip_if_exists=True)`` + Optuna's WAITING->RUNNING
  compare-and-set: 57, 37, 58 / 25, 7, 18 duplicates and 10 over the budget every round
  (the enqueue is check-then-act). Claim-then-verify (create a RUNNING trial, re-read,
  the lowest number of a configuration wins, the losers are failed): 0 duplicates, but
  405 ms (RDB) / 77 ms (journal) a claim, 90 trials written for 20 claims (every lost
  claim stays in the study as a FAIL trial), and it holds only where trial ids follow
  commit order (SQLite, a journal; not PostgreSQL sequences -- reasoned, not measured);
* **marking a finished trial** (``retried``): every attribute or state write on a finished
  trial raises ``UpdateFinishedTrialError`` on both storages;
* **leases on a journal and owner checks anywhere**: ``JournalStorage`` has no heartbeat;
  ``RDBStorage``'s heartbeat + ``fail_stale_trials`` failed a stale trial after 1.1 s with a
  1 s interval, but nothing tells a trial whose owner process is gone (hpcopt releases it
  at once on this host) nor keeps it apart from a failed measurement (both become FAIL,
  and a FAIL trial can no longer be marked);
* **a cache by runner fingerprint**: a scan of every study's trials (115 ms on RDB,
  0.09 ms on journal, for 300 trials) against hpcopt's indexed lookup (0.03 / 0.02 ms);
* **a safe first opening**: 3 processes opening one new RDB file at once failed 6 of 9
  times (``OperationalError``: two create the tables); hpcopt's backends 0 of 9;
* speed: a trial write (running, then finished) takes 114 ms on RDB and 17 ms on journal
  against 7.8 / 7.3 ms here; opening and reading 50 trials 349 / 2.9 ms against 1.1 / 1.1 ms.

So hpcopt keeps its own storage, and :func:`to_optuna` copies a study into any Optuna
storage for ``optuna-dashboard`` and ``optuna.visualization``.
"""

from __future__ import annotations

from pathlib import Path

from hpcopt.tune.storage.base import (ASK_PREFIX, DEFAULT_LEASE_S, SCHEMA_VERSION, Refused, Storage, Trial,
                                      config_key, owner_is_gone, releasable, stored_objectives, this_owner)
from hpcopt.tune.storage.journal import JournalStorage
from hpcopt.tune.storage.optuna_export import to_optuna
from hpcopt.tune.storage.rdb import SQLAlchemyStorage
from hpcopt.tune.storage.sqlite import SQLiteStorage


def get_storage(url: str | Path | Storage = ":memory:") -> Storage:
    """The backend a URL names (a :class:`Storage` is returned as it is): a path,
    ``sqlite:///path`` or ``":memory:"`` -> :class:`SQLiteStorage`; ``journal:///path`` ->
    :class:`JournalStorage`; any other URL -> :class:`SQLAlchemyStorage`."""
    return url if isinstance(url, Storage) else Storage(url)


__all__ = ["Storage", "SQLiteStorage", "SQLAlchemyStorage", "JournalStorage", "Trial", "Refused", "config_key",
           "get_storage", "to_optuna", "owner_is_gone", "releasable", "stored_objectives", "this_owner",
           "SCHEMA_VERSION", "DEFAULT_LEASE_S", "ASK_PREFIX"]
