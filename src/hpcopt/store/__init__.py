"""The run store and model registry (SQLAlchemy 2 + Alembic; SQLite by default).

``open_store()`` opens ``$HPCOPT_HOME/store.db`` (``HPCOPT_HOME`` defaults to
``~/.local/share/hpcopt``); ``open_store("postgresql+psycopg://...")`` any SQLAlchemy URL.
The schema is migrated to the newest revision when the store opens.

Runs: :meth:`Store.record` wraps one task run; the row is written at the start (status
``running``, with host and pid), and once at the end, in one transaction, with the result
or the error. A run whose process died is found by :meth:`Store.reap` (same host, pid
gone) and marked ``interrupted``: a run is never half-written.

Models: :attr:`Store.models` (:class:`~hpcopt.store.models.ModelRegistry`) keeps versions
of named models with aliases such as ``production`` and their lineage to the run that
trained them.
"""

from hpcopt.store.core import RunRecord, Store, default_home, default_url, open_store
from hpcopt.store.models import ModelRegistry, ModelVersionRecord

__all__ = ["Store", "RunRecord", "open_store", "default_home", "default_url", "ModelRegistry",
           "ModelVersionRecord"]
