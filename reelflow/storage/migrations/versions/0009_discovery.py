"""discovery: campaigns, creator searches (with provider cursors), creators and their links

Revision ID: 0009
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "discovery_campaigns",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("search_type", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="draft", nullable=False),
        sa.Column("activated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("search_type IN ('keyword', 'similar')", name=op.f("ck_discovery_campaigns_search_type")),
        sa.CheckConstraint(
            "status IN ('draft', 'active', 'completed', 'archived')", name=op.f("ck_discovery_campaigns_status")
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_discovery_campaigns_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_campaigns")),
    )
    op.create_index(
        "ix_discovery_campaigns_list", "discovery_campaigns", ["workspace_id", "created_at", "id"], unique=False
    )
    op.create_table(
        "discovery_creators",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("external_id", sa.String(length=100), nullable=False),
        sa.Column("handle", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=300), nullable=True),
        sa.Column("followers", sa.BigInteger(), nullable=True),
        sa.Column("following", sa.BigInteger(), nullable=True),
        sa.Column("likes", sa.BigInteger(), nullable=True),
        sa.Column("video_count", sa.Integer(), nullable=True),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("bio", sa.Text(), nullable=True),
        sa.Column("emails", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("links", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("region", sa.String(length=8), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("profile_url", sa.Text(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_discovery_creators_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_creators")),
    )
    op.create_index(
        "uq_discovery_creators_key", "discovery_creators", ["workspace_id", "platform", "external_id"], unique=True
    )
    op.create_table(
        "discovery_searches",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("keywords", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("handle", sa.String(length=100), nullable=True),
        sa.Column("target", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("cursors", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("pages", sa.Integer(), server_default="0", nullable=False),
        sa.Column("found", sa.Integer(), server_default="0", nullable=False),
        sa.Column("items_seen", sa.Integer(), server_default="0", nullable=False),
        sa.Column("credits_used", sa.Integer(), server_default="0", nullable=False),
        sa.Column("credits_remaining", sa.BigInteger(), nullable=True),
        sa.Column("reserved", sa.Integer(), server_default="0", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("deadline_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_page_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('keyword', 'similar')", name=op.f("ck_discovery_searches_kind")),
        sa.CheckConstraint("platform IN ('tiktok', 'instagram')", name=op.f("ck_discovery_searches_platform")),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'timeout', 'error', 'cancelled')",
            name=op.f("ck_discovery_searches_status"),
        ),
        sa.CheckConstraint("target IN (100, 500, 1000)", name=op.f("ck_discovery_searches_target")),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["discovery_campaigns.id"],
            name=op.f("fk_discovery_searches_campaign_id_discovery_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_discovery_searches_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discovery_searches")),
    )
    op.create_index(
        "ix_discovery_searches_campaign", "discovery_searches", ["campaign_id", "created_at", "id"], unique=False
    )
    op.create_index(
        "ix_discovery_searches_deadline",
        "discovery_searches",
        ["deadline_at"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.create_index(
        "ix_discovery_searches_open",
        "discovery_searches",
        ["workspace_id"],
        unique=False,
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.create_index(op.f("ix_discovery_searches_workspace_id"), "discovery_searches", ["workspace_id"], unique=False)
    op.create_table(
        "discovery_search_creators",
        sa.Column("search_id", sa.UUID(), nullable=False),
        sa.Column("creator_id", sa.UUID(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("campaign_id", sa.UUID(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("keywords", postgresql.ARRAY(sa.Text()), server_default="{}", nullable=False),
        sa.Column("videos", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("avg_views", sa.BigInteger(), nullable=True),
        sa.Column("engagement_rate", sa.Float(), nullable=True),
        sa.Column("found_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("expanded_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["campaign_id"],
            ["discovery_campaigns.id"],
            name=op.f("fk_discovery_search_creators_campaign_id_discovery_campaigns"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["discovery_creators.id"],
            name=op.f("fk_discovery_search_creators_creator_id_discovery_creators"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["search_id"],
            ["discovery_searches.id"],
            name=op.f("fk_discovery_search_creators_search_id_discovery_searches"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_discovery_search_creators_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("search_id", "creator_id", name=op.f("pk_discovery_search_creators")),
    )
    op.create_index(
        op.f("ix_discovery_search_creators_campaign_id"), "discovery_search_creators", ["campaign_id"], unique=False
    )
    op.create_index("ix_discovery_search_creators_creator", "discovery_search_creators", ["creator_id"], unique=False)
    op.create_index(
        "ix_discovery_search_creators_position", "discovery_search_creators", ["search_id", "position"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_discovery_search_creators_position", table_name="discovery_search_creators")
    op.drop_index("ix_discovery_search_creators_creator", table_name="discovery_search_creators")
    op.drop_index(op.f("ix_discovery_search_creators_campaign_id"), table_name="discovery_search_creators")
    op.drop_table("discovery_search_creators")
    op.drop_index(op.f("ix_discovery_searches_workspace_id"), table_name="discovery_searches")
    op.drop_index(
        "ix_discovery_searches_open",
        table_name="discovery_searches",
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.drop_index(
        "ix_discovery_searches_deadline",
        table_name="discovery_searches",
        postgresql_where=sa.text("status IN ('pending', 'processing')"),
    )
    op.drop_index("ix_discovery_searches_campaign", table_name="discovery_searches")
    op.drop_table("discovery_searches")
    op.drop_index("uq_discovery_creators_key", table_name="discovery_creators")
    op.drop_table("discovery_creators")
    op.drop_index("ix_discovery_campaigns_list", table_name="discovery_campaigns")
    op.drop_table("discovery_campaigns")
