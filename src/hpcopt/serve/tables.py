"""The service's two tables in the store (created by the store's migration 0002).

They are declared here, with SQLAlchemy Core, because only the service reads and writes
them; the store's migrations keep the schema in one history.
"""

from __future__ import annotations

import sqlalchemy as sa

metadata = sa.MetaData()

tokens = sa.Table(
    "tokens", metadata,
    sa.Column("id", sa.String(16), primary_key=True),
    sa.Column("name", sa.String(200), nullable=False),
    sa.Column("salt", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(128), nullable=False),
    sa.Column("scopes", sa.JSON, nullable=False),
    sa.Column("created_at", sa.Float, nullable=False),
    sa.Column("last_used_at", sa.Float, nullable=True),
    sa.Column("revoked_at", sa.Float, nullable=True),
)

jobs = sa.Table(
    "service_jobs", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("task", sa.String(200), nullable=False),
    sa.Column("parameters", sa.JSON, nullable=False),
    sa.Column("status", sa.String(20), nullable=False),
    sa.Column("run_id", sa.String(32), nullable=True),
    sa.Column("token_id", sa.String(16), nullable=True),
    sa.Column("service_host", sa.String(255), nullable=False),
    sa.Column("service_pid", sa.Integer, nullable=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False, default=False),
    sa.Column("progress", sa.JSON, nullable=True),
    sa.Column("error", sa.JSON, nullable=True),
    sa.Column("submitted_at", sa.Float, nullable=False),
    sa.Column("started_at", sa.Float, nullable=True),
    sa.Column("finished_at", sa.Float, nullable=True),
)

JOB_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled", "interrupted")
FINAL = frozenset({"succeeded", "failed", "cancelled", "interrupted"})
