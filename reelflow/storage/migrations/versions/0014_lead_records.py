"""leads: per-workspace lead records (PII encrypted) and the conversion events log

Revision ID: 0014
Revises: 0013
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
JSONB = postgresql.JSONB(astext_type=sa.Text())
LEAD_STATUSES = ("new", "interested", "qualified", "scheduled", "rejected")
EVENT_STATUSES = ("queued", "sending", "sent", "failed")


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("ad_account_id", UUID, nullable=False),
        sa.Column("direction_id", UUID, nullable=True),
        sa.Column("inbox_id", UUID, nullable=True),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("platform_lead_id", sa.String(64), nullable=False),
        sa.Column("advertiser_id", sa.String(64), nullable=False),
        sa.Column("campaign_id", sa.String(64), nullable=True),
        sa.Column("adgroup_id", sa.String(64), nullable=True),
        sa.Column("ad_id", sa.String(64), nullable=True),
        sa.Column("page_id", sa.String(64), nullable=True),
        sa.Column("mapping", sa.String(20), nullable=False),
        sa.Column("status", sa.String(12), server_default="new", nullable=False),
        sa.Column("ttclid", sa.String(500), nullable=True),
        sa.Column("name_enc", sa.Text(), nullable=True),
        sa.Column("phone_enc", sa.Text(), nullable=True),
        sa.Column("email_enc", sa.Text(), nullable=True),
        sa.Column("lead_created_at", TS, nullable=False),
        sa.Column("status_changed_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"status IN {LEAD_STATUSES!r}", name=op.f("ck_leads_status")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_leads_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["ad_account_id"], ["ad_accounts.id"], name=op.f("fk_leads_ad_account_id_ad_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["direction_id"],
            ["ad_directions.id"],
            name=op.f("fk_leads_direction_id_ad_directions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["inbox_id"], ["lead_inbox.id"], name=op.f("fk_leads_inbox_id_lead_inbox"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_leads")),
        sa.UniqueConstraint(
            "workspace_id", "platform", "platform_lead_id", name=op.f("uq_leads_workspace_id_platform_platform_lead_id")
        ),
    )
    op.create_index("ix_leads_workspace_created", "leads", ["workspace_id", "created_at", "id"])
    op.create_index(op.f("ix_leads_ad_account_id"), "leads", ["ad_account_id"])

    op.create_table(
        "lead_events",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("lead_id", UUID, nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("event", sa.String(40), nullable=False),
        sa.Column("trigger_status", sa.String(12), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("event_source", sa.String(10), nullable=False),
        sa.Column("event_source_id", sa.String(64), nullable=True),
        sa.Column("status", sa.String(10), server_default="queued", nullable=False),
        sa.Column("request", JSONB, nullable=True),
        sa.Column("response", JSONB, nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("run_id", UUID, nullable=True),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("sent_at", TS, nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
        sa.CheckConstraint(f"status IN {EVENT_STATUSES!r}", name=op.f("ck_lead_events_status")),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_lead_events_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_lead_events_lead_id_leads"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lead_events")),
        sa.UniqueConstraint("lead_id", "event", name=op.f("uq_lead_events_lead_id_event")),
    )
    op.create_index("ix_lead_events_workspace_created", "lead_events", ["workspace_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_lead_events_workspace_created", table_name="lead_events")
    op.drop_table("lead_events")
    op.drop_index(op.f("ix_leads_ad_account_id"), table_name="leads")
    op.drop_index("ix_leads_workspace_created", table_name="leads")
    op.drop_table("leads")
