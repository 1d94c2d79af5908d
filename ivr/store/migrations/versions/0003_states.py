"""Call states too large for a URL, kept behind a short token.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "states",
        sa.Column("id", sa.String, primary_key=True),
        sa.Column("token", sa.Text, nullable=False),
        sa.Column("at", sa.Float, nullable=False),
    )
    op.create_index("states_at", "states", ["at"])


def downgrade() -> None:
    op.drop_table("states")
