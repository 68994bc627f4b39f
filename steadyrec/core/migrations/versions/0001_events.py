"""The events table (append-only, numbered in commit order) and the record of imported JSON-lines logs.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "events",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("user_id", sa.String(256), nullable=False),
        sa.Column("item_id", sa.String(256), nullable=False),
        sa.Column("ts", sa.Float(precision=53), nullable=False),
        sa.Column("received_at", sa.Float(precision=53), nullable=False),
    )
    op.create_index("ix_events_ts", "events", ["ts"])  # a job's time window
    op.create_index("ix_events_user_id", "events", ["user_id", "id"])  # one user's history, in order
    op.create_table(
        "event_imports",
        sa.Column("sha256", sa.String(64), primary_key=True),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("events", sa.Integer(), nullable=False),
        sa.Column("imported_at", sa.Float(precision=53), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("event_imports")
    op.drop_index("ix_events_user_id", table_name="events")
    op.drop_index("ix_events_ts", table_name="events")
    op.drop_table("events")
