"""The call log's events table (kept if it exists), waiters, callbacks and agents.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from ivr.store.schema import Id, Json

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("events"):  # older versions created it themselves
        op.create_table(
            "events",
            sa.Column("id", Id, primary_key=True, autoincrement=True),
            sa.Column("at", sa.Float, nullable=False),
            sa.Column("call_sid", sa.String, nullable=False),
            sa.Column("menu", sa.String),
            sa.Column("event", sa.String, nullable=False),
            sa.Column("node", sa.String),
            sa.Column("detail", Json),
        )
        op.create_index("events_call", "events", ["call_sid", "at"])
    columns = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("events")}
    if "op_id" not in columns:
        with op.batch_alter_table("events") as batch:
            batch.add_column(sa.Column("op_id", sa.String))
        op.create_index("events_op", "events", ["op_id"], unique=True)

    op.create_table(
        "waiters",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String, nullable=False),
        sa.Column("menu", sa.String, nullable=False),
        sa.Column("queue", sa.String, nullable=False),
        sa.Column("node", sa.String),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("twilio_queue", sa.String, nullable=False),
        sa.Column("topic", sa.String),
        sa.Column("facts", Json),
        sa.Column("caller", sa.String),
        sa.Column("enqueued_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("stale_after_s", sa.Float, nullable=False),
        sa.Column("position", sa.Integer),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("agent", sa.String),
        sa.Column("offered_at", sa.Float),
        sa.Column("answered_at", sa.Float),
        sa.Column("left_at", sa.Float),
        sa.Column("wait_s", sa.Float),
    )
    op.create_index("waiters_call", "waiters", ["call_sid"], unique=True)
    op.create_index(
        "waiters_line",
        "waiters",
        ["status", "menu", "queue", "priority", "enqueued_at"],
    )

    op.create_table(
        "callbacks",
        sa.Column("id", Id, primary_key=True, autoincrement=True),
        sa.Column("call_sid", sa.String, nullable=False),
        sa.Column("menu", sa.String, nullable=False),
        sa.Column("queue", sa.String, nullable=False),
        sa.Column("priority", sa.Integer, nullable=False),
        sa.Column("number", sa.String, nullable=False),
        sa.Column("topic", sa.String),
        sa.Column("facts", Json),
        sa.Column("asked_at", sa.Float, nullable=False),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("due_at", sa.Float, nullable=False),
        sa.Column("expected_at", sa.Float),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("max_attempts", sa.Integer, nullable=False),
        sa.Column("retry_after_s", sa.Float, nullable=False),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("agent", sa.String),
        sa.Column("dialed_at", sa.Float),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("last_result", sa.String),
    )
    op.create_index("callbacks_call", "callbacks", ["call_sid"], unique=True)
    op.create_index(
        "callbacks_line", "callbacks", ["status", "menu", "queue", "priority", "since"]
    )

    op.create_table(
        "agents",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("call_sid", sa.String),
        sa.Column("status", sa.String, nullable=False),
        sa.Column("serves", Json),
        sa.Column("work", sa.String),
        sa.Column("since", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agents")
    op.drop_table("callbacks")
    op.drop_table("waiters")
    op.drop_index("events_op", "events")
    with op.batch_alter_table("events") as batch:
        batch.drop_column("op_id")
