"""service tokens (salted scrypt hashes) and service jobs (job id -> run id)

Revision ID: 0002
Revises: 0001
"""
import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tokens",
        sa.Column("id", sa.String(16), primary_key=True),  # public part of the token, for lookup
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("salt", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(128), nullable=False),  # scrypt of the secret part; never the secret
        sa.Column("scopes", sa.JSON, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("last_used_at", sa.Float, nullable=True),
        sa.Column("revoked_at", sa.Float, nullable=True),
    )
    op.create_table(
        "service_jobs",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("task", sa.String(200), nullable=False),
        sa.Column("parameters", sa.JSON, nullable=False),
        sa.Column("status", sa.String(20), nullable=False),  # queued running succeeded failed cancelled interrupted
        sa.Column("run_id", sa.String(32), nullable=True),
        sa.Column("token_id", sa.String(16), nullable=True),
        sa.Column("service_host", sa.String(255), nullable=False),  # the service that accepted it
        sa.Column("service_pid", sa.Integer, nullable=False),
        sa.Column("cancel_requested", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.Column("progress", sa.JSON, nullable=True),
        sa.Column("error", sa.JSON, nullable=True),
        sa.Column("submitted_at", sa.Float, nullable=False),
        sa.Column("started_at", sa.Float, nullable=True),
        sa.Column("finished_at", sa.Float, nullable=True),
    )
    op.create_index("ix_service_jobs_status", "service_jobs", ["status"])
    op.create_index("ix_service_jobs_submitted_at", "service_jobs", ["submitted_at"])


def downgrade() -> None:
    op.drop_table("service_jobs")
    op.drop_table("tokens")
