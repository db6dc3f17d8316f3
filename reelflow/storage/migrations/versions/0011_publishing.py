"""publishing: connected accounts, OAuth states, publications, publish config, experiments, metrics

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

UUID = postgresql.UUID(as_uuid=True)
TS = sa.DateTime(timezone=True)
JSONB = postgresql.JSONB()
PLATFORMS = ("tiktok", "youtube")
ACCOUNT_STATUSES = ("active", "expired", "revoked", "error")
PUBLICATION_STATUSES = ("scheduled", "queued", "uploading", "processing", "published", "failed", "cancelled")
EXPERIMENT_STATUSES = ("draft", "running", "completed", "inconclusive")


def _timestamps() -> list[sa.Column[object]]:
    return [
        sa.Column("created_at", TS, server_default=sa.func.now(), nullable=False),
        sa.Column("updated_at", TS, server_default=sa.func.now(), nullable=False),
    ]


def _fk(table: str, column: str, target: str, ondelete: str = "CASCADE") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "oauth_states",
        sa.Column("id", UUID, nullable=False),
        sa.Column("state_hash", sa.String(64), nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("user_id", UUID, nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("redirect_uri", sa.Text(), nullable=False),
        sa.Column("code_verifier_enc", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("used_at", TS, nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oauth_states")),
        sa.UniqueConstraint("state_hash", name=op.f("uq_oauth_states_state_hash")),
        sa.CheckConstraint(f"platform IN {PLATFORMS!r}", name=op.f("ck_oauth_states_platform")),
        _fk("oauth_states", "workspace_id", "workspaces"),
        _fk("oauth_states", "user_id", "users"),
    )
    op.create_index(op.f("ix_oauth_states_workspace_id"), "oauth_states", ["workspace_id"])

    op.create_table(
        "connected_accounts",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("external_id", sa.String(128), nullable=False),
        sa.Column("display_name", sa.String(300), nullable=True),
        sa.Column("username", sa.String(300), nullable=True),
        sa.Column("avatar_url", sa.Text(), nullable=True),
        sa.Column("scopes", JSONB, server_default="[]", nullable=False),
        sa.Column("status", sa.String(20), server_default="active", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("connected_by", UUID, nullable=True),
        sa.Column("access_token_enc", sa.Text(), nullable=True),
        sa.Column("refresh_token_enc", sa.Text(), nullable=True),
        sa.Column("key_id", sa.String(16), nullable=True),
        sa.Column("access_expires_at", TS, nullable=True),
        sa.Column("refresh_expires_at", TS, nullable=True),
        sa.Column("token_version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("refreshed_at", TS, nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_connected_accounts")),
        sa.UniqueConstraint(
            "workspace_id",
            "platform",
            "external_id",
            name=op.f("uq_connected_accounts_workspace_id_platform_external_id"),
        ),
        sa.CheckConstraint(f"platform IN {PLATFORMS!r}", name=op.f("ck_connected_accounts_platform")),
        sa.CheckConstraint(f"status IN {ACCOUNT_STATUSES!r}", name=op.f("ck_connected_accounts_status")),
        _fk("connected_accounts", "workspace_id", "workspaces"),
        _fk("connected_accounts", "connected_by", "users", "SET NULL"),
    )
    op.create_index(op.f("ix_connected_accounts_workspace_id"), "connected_accounts", ["workspace_id"])
    op.create_index("ix_connected_accounts_access_expires_at", "connected_accounts", ["access_expires_at"])

    op.create_table(
        "publish_configs",
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("tiktok_privacy", sa.String(40), nullable=True),
        sa.Column("youtube_privacy", sa.String(20), nullable=True),
        sa.Column("caption_template", sa.Text(), nullable=True),
        sa.Column("hashtags", JSONB, server_default="[]", nullable=False),
        sa.Column("default_account_ids", JSONB, server_default="[]", nullable=False),
        sa.Column("youtube_category_id", sa.String(10), nullable=True),
        sa.Column("youtube_made_for_kids", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_publish_configs")),
        _fk("publish_configs", "workspace_id", "workspaces"),
    )

    op.create_table(
        "experiments",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("project_id", UUID, nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("status", sa.String(20), server_default="draft", nullable=False),
        sa.Column("min_views", sa.Integer(), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("started_at", TS, nullable=True),
        sa.Column("decided_at", TS, nullable=True),
        sa.Column("winner_variant_id", UUID, nullable=True),
        sa.Column("decision", JSONB, nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiments")),
        sa.CheckConstraint(f"status IN {EXPERIMENT_STATUSES!r}", name=op.f("ck_experiments_status")),
        _fk("experiments", "workspace_id", "workspaces"),
        _fk("experiments", "project_id", "projects"),
    )
    op.create_index(op.f("ix_experiments_workspace_id"), "experiments", ["workspace_id"])

    op.create_table(
        "experiment_variants",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("experiment_id", UUID, nullable=False),
        sa.Column("label", sa.String(40), nullable=False),
        sa.Column("clip_id", UUID, nullable=False),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("thumbnail_s", sa.Float(), nullable=True),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_experiment_variants")),
        sa.UniqueConstraint("experiment_id", "label", name=op.f("uq_experiment_variants_experiment_id_label")),
        _fk("experiment_variants", "workspace_id", "workspaces"),
        _fk("experiment_variants", "experiment_id", "experiments"),
        _fk("experiment_variants", "clip_id", "clips"),
    )
    op.create_index(op.f("ix_experiment_variants_workspace_id"), "experiment_variants", ["workspace_id"])

    op.create_table(
        "clip_publications",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("clip_id", UUID, nullable=False),
        sa.Column("account_id", UUID, nullable=False),
        sa.Column("platform", sa.String(20), nullable=False),
        sa.Column("experiment_id", UUID, nullable=True),
        sa.Column("variant_id", UUID, nullable=True),
        sa.Column("status", sa.String(20), nullable=False),
        sa.Column("caption", sa.Text(), nullable=True),
        sa.Column("title", sa.String(100), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("tags", JSONB, server_default="[]", nullable=False),
        sa.Column("privacy", sa.String(40), nullable=False),
        sa.Column("options", JSONB, server_default="{}", nullable=False),
        sa.Column("scheduled_at", TS, nullable=True),
        sa.Column("run_id", UUID, nullable=True),
        sa.Column("publish_id", sa.String(200), nullable=True),
        sa.Column("upload_url", sa.Text(), nullable=True),
        sa.Column("upload_expires_at", TS, nullable=True),
        sa.Column("generation", sa.Integer(), server_default="0", nullable=False),
        sa.Column("marker", sa.String(40), nullable=False),
        sa.Column("video_bytes", sa.BigInteger(), nullable=True),
        sa.Column("external_id", sa.String(200), nullable=True),
        sa.Column("url", sa.Text(), nullable=True),
        sa.Column("published_at", TS, nullable=True),
        sa.Column("adopted", sa.Boolean(), server_default="false", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        *_timestamps(),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_clip_publications")),
        sa.CheckConstraint(f"status IN {PUBLICATION_STATUSES!r}", name=op.f("ck_clip_publications_status")),
        sa.CheckConstraint(f"platform IN {PLATFORMS!r}", name=op.f("ck_clip_publications_platform")),
        _fk("clip_publications", "workspace_id", "workspaces"),
        _fk("clip_publications", "clip_id", "clips"),
        _fk("clip_publications", "account_id", "connected_accounts"),
        _fk("clip_publications", "experiment_id", "experiments", "SET NULL"),
        _fk("clip_publications", "variant_id", "experiment_variants", "SET NULL"),
    )
    op.create_index(op.f("ix_clip_publications_workspace_id"), "clip_publications", ["workspace_id"])
    op.create_index(op.f("ix_clip_publications_account_id"), "clip_publications", ["account_id"])
    op.create_index("ix_clip_publications_workspace_id_created_at", "clip_publications", ["workspace_id", "created_at"])
    op.create_index(
        "uq_clip_publications_clip_account_variant",
        "clip_publications",
        ["clip_id", "account_id", "variant_id"],
        unique=True,
        postgresql_nulls_not_distinct=True,
    )

    op.create_table(
        "post_metrics",
        sa.Column("id", UUID, nullable=False),
        sa.Column("workspace_id", UUID, nullable=False),
        sa.Column("publication_id", UUID, nullable=False),
        sa.Column("measured_at", TS, nullable=False),
        sa.Column("views", sa.BigInteger(), nullable=False),
        sa.Column("likes", sa.BigInteger(), nullable=False),
        sa.Column("comments", sa.BigInteger(), nullable=False),
        sa.Column("shares", sa.BigInteger(), nullable=False),
        sa.Column("watch_time_s", sa.Float(), nullable=True),
        sa.Column("source", sa.String(10), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_metrics")),
        sa.UniqueConstraint("publication_id", "measured_at", name=op.f("uq_post_metrics_publication_id_measured_at")),
        _fk("post_metrics", "workspace_id", "workspaces"),
        _fk("post_metrics", "publication_id", "clip_publications"),
    )
    op.create_index(op.f("ix_post_metrics_workspace_id"), "post_metrics", ["workspace_id"])


def downgrade() -> None:
    for table in (
        "post_metrics",
        "clip_publications",
        "experiment_variants",
        "experiments",
        "publish_configs",
        "connected_accounts",
        "oauth_states",
    ):
        op.drop_table(table)
