"""leads: the deduplicated inbox of lead webhooks (PII encrypted inside payload_enc)

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "lead_inbox",
        sa.Column("id", UUID, nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("lead_id", sa.String(64), nullable=False),
        sa.Column("advertiser_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("page_id", sa.String(64), nullable=True),
        sa.Column("payload_enc", sa.Text(), nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.Column("processed_at", TS, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("run_id", UUID, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_inbox")),
        sa.UniqueConstraint("platform", "lead_id", name=op.f("uq_lead_inbox_platform_lead_id")),
    )
    op.create_index(op.f("ix_lead_inbox_advertiser_id"), "lead_inbox", ["advertiser_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_lead_inbox_advertiser_id"), table_name="lead_inbox")
    op.drop_table("lead_inbox")
