"""Call records: one row per call, derived from its events.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.store.schema import Id, Json

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calls",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String, nullable=False),
        sa.Column("kind", sa.String, nullable=False),
        sa.Column("menu", sa.String),
        sa.Column("caller", sa.String),
        sa.Column("called", sa.String),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("path", Json),
        sa.Column("last_node", sa.String),
        sa.Column("choices", Json),
        sa.Column("inputs", sa.Integer, nullable=False),
        sa.Column("no_input", sa.Integer, nullable=False),
        sa.Column("served", sa.Boolean, nullable=False),
        sa.Column("gave_up_at", sa.String),
        sa.Column("outcome", sa.String),
        sa.Column("queue", sa.String),
        sa.Column("topic", sa.String),
        sa.Column("enqueued_at", sa.Float),
        sa.Column("queue_result", sa.String),
        sa.Column("wait_s", sa.Float),
        sa.Column("agent", sa.String),
        sa.Column("callback", sa.String),
        sa.Column("callback_attempts", sa.Integer, nullable=False),
        sa.Column("recording_url", sa.String),
        sa.Column("recording_s", sa.Float),
        sa.Column("transfer", sa.String),
        sa.Column("announcements", Json),
        sa.Column("status", sa.String),
        sa.Column("duration_s", sa.Float),
        sa.Column("faults", sa.Integer, nullable=False),
        sa.Column("serves", Json),
        sa.Column("fold", Json),
    )
    op.create_index("calls_call", "calls", ["call_sid"], unique=True)
    op.create_index("calls_when", "calls", ["started_at"])
    # Calls logged before this revision get their records from their events.
    # This writes the columns of the newest schema: a later revision that adds
    # columns to `calls` must move this refresh to itself.
    from ivr.store.filing import refresh_all

    refresh_all(op.get_bind())


def downgrade() -> None:
    op.drop_table("calls")
