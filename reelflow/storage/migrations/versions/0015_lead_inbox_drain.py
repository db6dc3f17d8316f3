"""leads: an index on the inbox rows still to be mapped (the batched drain job and the sweep)

Revision ID: 0015
Revises: 0014
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index(
        "ix_lead_inbox_pending",
        "lead_inbox",
        ["received_at"],
        postgresql_where=sa.text("processed_at IS NULL"),
    )


def downgrade() -> None:
    op.drop_index("ix_lead_inbox_pending", table_name="lead_inbox")
