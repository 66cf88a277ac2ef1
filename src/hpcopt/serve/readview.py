"""A read-only view of the store for the service's many concurrent reads.

The store opens every SQLite transaction with ``BEGIN IMMEDIATE`` so that writers queue
instead of failing -- which also makes each read take the write lock. Under load (fifty
clients polling while workers record runs) reads would then wait on every write. The view
is the same :class:`~hpcopt.store.Store` (same methods, same records) over a second engine
whose connections are ``query_only`` and autocommit: in WAL mode reads then never wait on
writers. Other databases need no view.
"""

from __future__ import annotations

import copy


def read_view(store):
    """``store`` itself unless it is SQLite; else a copy of it whose queries never lock."""
    if not getattr(store, "_sqlite", False):
        return store
    import sqlalchemy as sa
    from sqlalchemy import event
    from sqlalchemy.orm import sessionmaker

    from hpcopt.store.models import ModelRegistry

    engine = sa.create_engine(store.url, connect_args={"timeout": 60, "check_same_thread": False},
                              pool_size=32, max_overflow=32)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn, _record):
        dbapi_conn.isolation_level = None  # autocommit: one SELECT, no transaction held
        dbapi_conn.execute("PRAGMA busy_timeout=60000")
        dbapi_conn.execute("PRAGMA query_only=1")

    view = copy.copy(store)
    view._engine = engine
    view._session = sessionmaker(engine, expire_on_commit=False)
    view.models = ModelRegistry(view)
    return view
