"""monitoring: rules, videos, creators, snapshots, forecasts

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
    ]


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"], ["workspaces.id"], name=f"fk_{table}_workspace_id_workspaces", ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "monitoring_rules",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("definition", postgresql.JSONB(), nullable=False),
        sa.Column("platform", sa.String(20), server_default="tiktok", nullable=False),
        sa.Column("region", sa.String(2), nullable=True),
        sa.Column("language", sa.String(2), nullable=True),
        sa.Column("interval_minutes", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column("next_poll_at", TS, nullable=True),
        sa.Column("last_polled_at", TS, nullable=True),
        sa.Column("polled_until", TS, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TS, nullable=True),
        sa.Column("polls", sa.Integer(), server_default="0", nullable=False),
        sa.Column("failures", sa.Integer(), server_default="0", nullable=False),
        sa.Column("total_fetched", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("total_new", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("total_duplicates", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("total_creators_created", sa.BigInteger(), server_default="0", nullable=False),
        *_timestamps(),
        sa.CheckConstraint("kind IN ('keyword', 'hashtag', 'user', 'combined')", name="ck_monitoring_rules_kind"),
        sa.CheckConstraint("interval_minutes > 0", name="ck_monitoring_rules_interval_minutes"),
        _workspace_fk("monitoring_rules"),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_rules"),
    )
    op.create_index("ix_monitoring_rules_workspace_id", "monitoring_rules", ["workspace_id"])
    op.create_index("ix_monitoring_rules_due", "monitoring_rules", ["next_poll_at"], postgresql_where=sa.text("active"))

    op.create_table(
        "monitoring_creators",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("display_name", sa.String(200), nullable=True),
        sa.Column("follower_count", sa.BigInteger(), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("is_verified", sa.Boolean(), nullable=True),
        sa.Column("region", sa.String(8), nullable=True),
        sa.Column("first_seen_at", TS, server_default=sa.text("now()"), nullable=False),
        *_timestamps(),
        _workspace_fk("monitoring_creators"),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_creators"),
        sa.UniqueConstraint(
            "workspace_id", "platform", "username", name="uq_monitoring_creators_workspace_id_platform_username"
        ),
    )

    op.create_table(
        "monitoring_videos",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("platform_video_id", sa.String(64), nullable=False),
        sa.Column("creator_id", UUID, nullable=True),
        sa.Column("username", sa.String(100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("hashtags", postgresql.ARRAY(sa.String()), server_default="{}", nullable=False),
        sa.Column("region", sa.String(8), nullable=True),
        sa.Column("duration_s", sa.Integer(), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("posted_at", TS, nullable=True),
        sa.Column("first_seen_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.Column("views", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("likes", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("comments", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("shares", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("saves", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("tier", sa.String(12), server_default="hot", nullable=False),
        sa.Column("tier_changed_at", TS, nullable=True),
        sa.Column("next_check_at", TS, nullable=True),
        sa.Column("last_checked_at", TS, nullable=True),
        sa.Column("velocity", sa.Float(), server_default="0", nullable=False),
        sa.Column("acceleration", sa.Float(), nullable=True),
        sa.Column("forecast_1h", sa.BigInteger(), nullable=True),
        sa.Column("forecast_2h", sa.BigInteger(), nullable=True),
        sa.Column("forecast_3h", sa.BigInteger(), nullable=True),
        sa.Column("forecast_confidence", sa.Float(), nullable=True),
        sa.Column("recent_times", postgresql.ARRAY(sa.Float()), server_default="{}", nullable=False),
        sa.Column("recent_views", postgresql.ARRAY(sa.BigInteger()), server_default="{}", nullable=False),
        sa.Column("snapshot_count", sa.Integer(), server_default="0", nullable=False),
        sa.CheckConstraint(
            "tier IN ('ultra_hot', 'hot', 'warm', 'cold', 'archived')", name="ck_monitoring_videos_tier"
        ),
        _workspace_fk("monitoring_videos"),
        sa.ForeignKeyConstraint(
            ["creator_id"],
            ["monitoring_creators.id"],
            name="fk_monitoring_videos_creator_id_monitoring_creators",
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name="pk_monitoring_videos"),
        sa.UniqueConstraint(
            "workspace_id",
            "platform",
            "platform_video_id",
            name="uq_monitoring_videos_workspace_id_platform_platform_video_id",
        ),
    )
    op.create_index(
        "ix_monitoring_videos_due",
        "monitoring_videos",
        ["next_check_at", "id"],
        postgresql_where=sa.text("tier <> 'archived'"),
    )
    for name, column in (
        ("views", "views"),
        ("velocity", "velocity"),
        ("forecast", "(coalesce(forecast_1h, -1))"),
    ):
        op.create_index(
            f"ix_monitoring_videos_ws_{name}",
            "monitoring_videos",
            ["workspace_id", sa.text(f"{column} DESC"), sa.text("id DESC")],
        )
    op.create_index("ix_monitoring_videos_ws_creator", "monitoring_videos", ["workspace_id", "creator_id"])

    op.create_table(
        "monitoring_rule_videos",
        sa.Column("rule_id", UUID, nullable=False),
        sa.Column("video_id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("first_seen_at", TS, server_default=sa.text("now()"), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["monitoring_rules.id"],
            name="fk_monitoring_rule_videos_rule_id_monitoring_rules",
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["monitoring_videos.id"],
            name="fk_monitoring_rule_videos_video_id_monitoring_videos",
            ondelete="CASCADE",
        ),
        _workspace_fk("monitoring_rule_videos"),
        sa.PrimaryKeyConstraint("rule_id", "video_id", name="pk_monitoring_rule_videos"),
    )
    op.create_index("ix_monitoring_rule_videos_video_id", "monitoring_rule_videos", ["video_id"])

    op.create_table(
        "monitoring_snapshots",
        sa.Column("video_id", UUID, nullable=False),
        sa.Column("taken_at", TS, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("comments", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("saves", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["monitoring_videos.id"],
            name="fk_monitoring_snapshots_video_id_monitoring_videos",
            ondelete="CASCADE",
        ),
        _workspace_fk("monitoring_snapshots"),
        sa.PrimaryKeyConstraint("video_id", "taken_at", name="pk_monitoring_snapshots"),
    )

    op.create_table(
        "monitoring_forecasts",
        sa.Column("video_id", UUID, nullable=False),
        sa.Column("made_at", TS, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("model", sa.String(40), nullable=False),
        sa.Column("base_views", sa.BigInteger(), nullable=False),
        *[sa.Column(f"predicted_{h}h", sa.BigInteger(), nullable=False) for h in (1, 2, 3)],
        *[sa.Column(f"confidence_{h}h", sa.Float(), nullable=False) for h in (1, 2, 3)],
        *[sa.Column(f"actual_{h}h", sa.BigInteger(), nullable=True) for h in (1, 2, 3)],
        *[sa.Column(f"error_{h}h", sa.Float(), nullable=True) for h in (1, 2, 3)],
        _workspace_fk("monitoring_forecasts"),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["monitoring_videos.id"],
            name="fk_monitoring_forecasts_video_id_monitoring_videos",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "made_at", name="pk_monitoring_forecasts"),
    )
    op.create_index(
        "ix_monitoring_forecasts_open",
        "monitoring_forecasts",
        ["video_id"],
        postgresql_where=sa.text("error_3h IS NULL"),
    )
    op.create_index(
        "ix_monitoring_forecasts_ws_resolved",
        "monitoring_forecasts",
        ["workspace_id"],
        postgresql_where=sa.text("error_1h IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_table("monitoring_forecasts")
    op.drop_table("monitoring_snapshots")
    op.drop_table("monitoring_rule_videos")
    op.drop_table("monitoring_videos")
    op.drop_table("monitoring_creators")
    op.drop_table("monitoring_rules")
