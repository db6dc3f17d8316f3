"""ads: Business connections (encrypted tokens), OAuth state nonces, ad accounts, directions
and their ad groups, creatives, launches, created ads, actions, daily metrics

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ad_connections",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("access_token_enc", sa.Text(), nullable=True),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refresh_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scope", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("advertiser_ids", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("advertisers", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_ad_connections_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ad_connections_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_connections")),
    )
    op.create_index(op.f("ix_ad_connections_workspace_id"), "ad_connections", ["workspace_id"], unique=False)
    op.create_table(
        "ad_oauth_states",
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ad_oauth_states_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("nonce", name=op.f("pk_ad_oauth_states")),
    )
    op.create_index(op.f("ix_ad_oauth_states_workspace_id"), "ad_oauth_states", ["workspace_id"], unique=False)
    op.create_table(
        "ad_accounts",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("connection_id", sa.UUID(), nullable=True),
        sa.Column("platform", sa.String(length=20), nullable=False),
        sa.Column("advertiser_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("advertiser_status", sa.String(length=40), nullable=True),
        sa.Column("identity_id", sa.String(length=100), nullable=True),
        sa.Column("identity_type", sa.String(length=40), nullable=True),
        sa.Column("autopilot", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("status", sa.String(length=20), server_default="connected", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_collected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("collect_failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('connected', 'disconnected', 'reauth_required', 'error')", name=op.f("ck_ad_accounts_status")
        ),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["ad_connections.id"],
            name=op.f("fk_ad_accounts_connection_id_ad_connections"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_ad_accounts_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_accounts")),
        sa.UniqueConstraint(
            "workspace_id", "platform", "advertiser_id", name=op.f("uq_ad_accounts_workspace_id_platform_advertiser_id")
        ),
    )
    op.create_index(op.f("ix_ad_accounts_workspace_id"), "ad_accounts", ["workspace_id"], unique=False)
    op.create_table(
        "ad_actions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("ad_account_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("target_id", sa.String(length=64), nullable=True),
        sa.Column("params", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("requested_by", sa.String(length=20), nullable=False),
        sa.Column("requested_by_user", sa.UUID(), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="queued", nullable=False),
        sa.Column("before", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("after", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("answer", postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_ad_actions_status")),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_ad_actions_ad_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["requested_by_user"], ["users.id"], name=op.f("fk_ad_actions_requested_by_user_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_ad_actions_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_actions")),
    )
    op.create_index(
        "ix_ad_actions_target_day", "ad_actions", ["ad_account_id", "target_id", "kind", "created_at"], unique=False
    )
    op.create_index("ix_ad_actions_workspace_key", "ad_actions", ["workspace_id", "idempotency_key"], unique=True)
    op.create_table(
        "ad_directions",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("ad_account_id", sa.UUID(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("platform", sa.String(length=10), nullable=False),
        sa.Column("objective", sa.String(length=20), nullable=False),
        sa.Column("daily_budget_minor", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("target_cpl_minor", sa.BigInteger(), nullable=True),
        sa.Column("adgroup_mode", sa.String(length=20), nullable=False),
        sa.Column("pixel_id", sa.String(length=64), nullable=True),
        sa.Column("settings", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("active", sa.Boolean(), server_default="true", nullable=False),
        sa.Column("tiktok_campaign_id", sa.String(length=32), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("platform IN ('tiktok', 'facebook')", name=op.f("ck_ad_directions_platform")),
        sa.CheckConstraint("daily_budget_minor > 0", name=op.f("ck_ad_directions_daily_budget")),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_ad_directions_ad_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ad_directions_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_directions")),
        sa.UniqueConstraint(
            "workspace_id",
            "ad_account_id",
            "name",
            "platform",
            name=op.f("uq_ad_directions_workspace_id_ad_account_id_name_platform"),
        ),
    )
    op.create_index(op.f("ix_ad_directions_ad_account_id"), "ad_directions", ["ad_account_id"], unique=False)
    op.create_index(op.f("ix_ad_directions_workspace_id"), "ad_directions", ["workspace_id"], unique=False)
    op.create_table(
        "ad_metrics_daily",
        sa.Column("ad_account_id", sa.UUID(), nullable=False),
        sa.Column("platform", sa.String(length=10), nullable=False),
        sa.Column("ad_id", sa.String(length=32), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("spend_minor", sa.BigInteger(), nullable=False),
        sa.Column("impressions", sa.BigInteger(), nullable=False),
        sa.Column("clicks", sa.BigInteger(), nullable=False),
        sa.Column("ctr", sa.Float(), nullable=True),
        sa.Column("cpc_minor", sa.BigInteger(), nullable=True),
        sa.Column("conversions", sa.BigInteger(), nullable=False),
        sa.Column("leads", sa.BigInteger(), nullable=False),
        sa.Column("cpl_minor", sa.BigInteger(), nullable=True),
        sa.Column("video_views", sa.BigInteger(), nullable=False),
        sa.Column("views_2s", sa.BigInteger(), nullable=False),
        sa.Column("views_6s", sa.BigInteger(), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_ad_metrics_daily_ad_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ad_metrics_daily_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("ad_account_id", "platform", "ad_id", "day", name=op.f("pk_ad_metrics_daily")),
    )
    op.create_index(op.f("ix_ad_metrics_daily_workspace_id"), "ad_metrics_daily", ["workspace_id"], unique=False)
    op.create_table(
        "ad_creatives",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("ad_account_id", sa.UUID(), nullable=False),
        sa.Column("direction_id", sa.UUID(), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("source", sa.String(length=10), nullable=False),
        sa.Column("clip_id", sa.UUID(), nullable=True),
        sa.Column("blob_key", sa.String(length=500), nullable=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=True),
        sa.Column("md5", sa.String(length=32), nullable=True),
        sa.Column("file_name", sa.String(length=100), nullable=False),
        sa.Column("ad_text", sa.String(length=100), nullable=True),
        sa.Column("tiktok_video_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=10), server_default="pending", nullable=False),
        sa.Column("failure_reason", sa.Text(), nullable=True),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint("kind IN ('video', 'image', 'carousel')", name=op.f("ck_ad_creatives_kind")),
        sa.CheckConstraint(
            "status IN ('pending', 'uploading', 'ready', 'failed')", name=op.f("ck_ad_creatives_status")
        ),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_ad_creatives_ad_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["clip_id"], ["clips.id"], name=op.f("fk_ad_creatives_clip_id_clips"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["direction_id"],
            ["ad_directions.id"],
            name=op.f("fk_ad_creatives_direction_id_ad_directions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ad_creatives_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_creatives")),
    )
    op.create_index("ix_ad_creatives_account_clip", "ad_creatives", ["ad_account_id", "clip_id"], unique=True)
    op.create_index(op.f("ix_ad_creatives_workspace_id"), "ad_creatives", ["workspace_id"], unique=False)
    op.create_table(
        "ad_direction_adgroups",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("direction_id", sa.UUID(), nullable=False),
        sa.Column("tiktok_adgroup_id", sa.String(length=32), nullable=False),
        sa.Column("tiktok_campaign_id", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("daily_budget_minor", sa.BigInteger(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("ads_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["direction_id"],
            ["ad_directions.id"],
            name=op.f("fk_ad_direction_adgroups_direction_id_ad_directions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_ad_direction_adgroups_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_direction_adgroups")),
        sa.UniqueConstraint(
            "direction_id", "tiktok_adgroup_id", name=op.f("uq_ad_direction_adgroups_direction_id_tiktok_adgroup_id")
        ),
    )
    op.create_index(
        op.f("ix_ad_direction_adgroups_workspace_id"), "ad_direction_adgroups", ["workspace_id"], unique=False
    )
    op.create_table(
        "ad_launches",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("ad_account_id", sa.UUID(), nullable=False),
        sa.Column("direction_id", sa.UUID(), nullable=False),
        sa.Column("created_by", sa.UUID(), nullable=True),
        sa.Column("mode", sa.String(length=10), nullable=False),
        sa.Column("adgroup_mode", sa.String(length=20), nullable=False),
        sa.Column("objective", sa.String(length=20), nullable=False),
        sa.Column("daily_budget_minor", sa.BigInteger(), nullable=False),
        sa.Column("creative_ids", postgresql.JSONB(astext_type=sa.Text()), server_default="[]", nullable=False),
        sa.Column("status", sa.String(length=10), server_default="queued", nullable=False),
        sa.Column("step", sa.String(length=40), nullable=True),
        sa.Column("campaign_id", sa.String(length=32), nullable=True),
        sa.Column("adgroup_id", sa.String(length=32), nullable=True),
        sa.Column("ad_ids", postgresql.JSONB(astext_type=sa.Text()), server_default="{}", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("error_code", sa.Integer(), nullable=True),
        sa.Column("run_id", sa.UUID(), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.CheckConstraint(
            "status IN ('queued', 'running', 'succeeded', 'failed')", name=op.f("ck_ad_launches_status")
        ),
        sa.ForeignKeyConstraint(
            ["ad_account_id"],
            ["ad_accounts.id"],
            name=op.f("fk_ad_launches_ad_account_id_ad_accounts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by"], ["users.id"], name=op.f("fk_ad_launches_created_by_users"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["direction_id"],
            ["ad_directions.id"],
            name=op.f("fk_ad_launches_direction_id_ad_directions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_ad_launches_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_launches")),
    )
    op.create_index(op.f("ix_ad_launches_workspace_id"), "ad_launches", ["workspace_id"], unique=False)
    op.create_table(
        "ad_ads",
        sa.Column("workspace_id", sa.UUID(), nullable=False),
        sa.Column("ad_account_id", sa.UUID(), nullable=False),
        sa.Column("direction_id", sa.UUID(), nullable=False),
        sa.Column("creative_id", sa.UUID(), nullable=False),
        sa.Column("launch_id", sa.UUID(), nullable=True),
        sa.Column("tiktok_ad_id", sa.String(length=32), nullable=False),
        sa.Column("tiktok_adgroup_id", sa.String(length=32), nullable=False),
        sa.Column("tiktok_campaign_id", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["ad_account_id"], ["ad_accounts.id"], name=op.f("fk_ad_ads_ad_account_id_ad_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["creative_id"], ["ad_creatives.id"], name=op.f("fk_ad_ads_creative_id_ad_creatives"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["direction_id"],
            ["ad_directions.id"],
            name=op.f("fk_ad_ads_direction_id_ad_directions"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["launch_id"], ["ad_launches.id"], name=op.f("fk_ad_ads_launch_id_ad_launches"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"], ["workspaces.id"], name=op.f("fk_ad_ads_workspace_id_workspaces"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ad_ads")),
        sa.UniqueConstraint("ad_account_id", "tiktok_ad_id", name=op.f("uq_ad_ads_ad_account_id_tiktok_ad_id")),
    )
    op.create_index(op.f("ix_ad_ads_creative_id"), "ad_ads", ["creative_id"], unique=False)
    op.create_index(op.f("ix_ad_ads_workspace_id"), "ad_ads", ["workspace_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_ad_ads_workspace_id"), table_name="ad_ads")
    op.drop_index(op.f("ix_ad_ads_creative_id"), table_name="ad_ads")
    op.drop_table("ad_ads")
    op.drop_index(op.f("ix_ad_launches_workspace_id"), table_name="ad_launches")
    op.drop_table("ad_launches")
    op.drop_index(op.f("ix_ad_direction_adgroups_workspace_id"), table_name="ad_direction_adgroups")
    op.drop_table("ad_direction_adgroups")
    op.drop_index(op.f("ix_ad_creatives_workspace_id"), table_name="ad_creatives")
    op.drop_index("ix_ad_creatives_account_clip", table_name="ad_creatives")
    op.drop_table("ad_creatives")
    op.drop_index(op.f("ix_ad_metrics_daily_workspace_id"), table_name="ad_metrics_daily")
    op.drop_table("ad_metrics_daily")
    op.drop_index(op.f("ix_ad_directions_workspace_id"), table_name="ad_directions")
    op.drop_index(op.f("ix_ad_directions_ad_account_id"), table_name="ad_directions")
    op.drop_table("ad_directions")
    op.drop_index("ix_ad_actions_workspace_key", table_name="ad_actions")
    op.drop_index("ix_ad_actions_target_day", table_name="ad_actions")
    op.drop_table("ad_actions")
    op.drop_index(op.f("ix_ad_accounts_workspace_id"), table_name="ad_accounts")
    op.drop_table("ad_accounts")
    op.drop_index(op.f("ix_ad_oauth_states_workspace_id"), table_name="ad_oauth_states")
    op.drop_table("ad_oauth_states")
    op.drop_index(op.f("ix_ad_connections_workspace_id"), table_name="ad_connections")
    op.drop_table("ad_connections")
