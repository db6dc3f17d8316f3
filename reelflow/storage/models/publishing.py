"""Publishing: connected accounts (encrypted tokens), OAuth states, publications, publish
config, experiments with variants, and post metrics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin

PLATFORMS = ("tiktok", "youtube")
ACCOUNT_STATUSES = ("active", "expired", "revoked", "error")
PUBLICATION_STATUSES = ("scheduled", "queued", "uploading", "processing", "published", "failed", "cancelled")
EXPERIMENT_STATUSES = ("draft", "running", "completed", "inconclusive")


class OAuthState(IdMixin, Base):
    """A pending OAuth consent: single use, 10 minutes, bound to a workspace and member.

    Only the SHA-256 of `state` is stored; the PKCE verifier is encrypted."""

    __tablename__ = "oauth_states"
    __table_args__ = (CheckConstraint(f"platform IN {PLATFORMS!r}", name="platform"),)

    state_hash: Mapped[str] = mapped_column(String(64), unique=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    redirect_uri: Mapped[str] = mapped_column(Text)
    code_verifier_enc: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(16))
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]
    created_at: Mapped[datetime]


class ConnectedAccount(IdMixin, TimestampMixin, Base):
    """A TikTok or YouTube account connected to a workspace; one row per external id."""

    __tablename__ = "connected_accounts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "external_id"),
        CheckConstraint(f"platform IN {PLATFORMS!r}", name="platform"),
        CheckConstraint(f"status IN {ACCOUNT_STATUSES!r}", name="status"),
        Index("ix_connected_accounts_access_expires_at", "access_expires_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(128))
    display_name: Mapped[str | None] = mapped_column(String(300))
    username: Mapped[str | None] = mapped_column(String(300))
    avatar_url: Mapped[str | None] = mapped_column(Text)
    scopes: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    status: Mapped[str] = mapped_column(String(20), default="active", server_default="active")
    last_error: Mapped[str | None] = mapped_column(Text)
    connected_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Tokens: Fernet ciphertexts; key_id names the key that sealed them (rotation).
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    key_id: Mapped[str | None] = mapped_column(String(16))
    access_expires_at: Mapped[datetime | None]
    refresh_expires_at: Mapped[datetime | None]
    token_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    refreshed_at: Mapped[datetime | None]


class PublishConfig(Base):
    """Per-workspace defaults applied when a publish request leaves a field out."""

    __tablename__ = "publish_configs"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True)
    tiktok_privacy: Mapped[str | None] = mapped_column(String(40))
    youtube_privacy: Mapped[str | None] = mapped_column(String(20))
    caption_template: Mapped[str | None] = mapped_column(Text)
    hashtags: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    default_account_ids: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    youtube_category_id: Mapped[str | None] = mapped_column(String(10))
    youtube_made_for_kids: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    updated_at: Mapped[datetime]


class Experiment(IdMixin, TimestampMixin, Base):
    __tablename__ = "experiments"
    __table_args__ = (CheckConstraint(f"status IN {EXPERIMENT_STATUSES!r}", name="status"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    project_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("projects.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="draft", server_default="draft")
    min_views: Mapped[int] = mapped_column(Integer)
    confidence: Mapped[float] = mapped_column(Float)
    ends_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    decided_at: Mapped[datetime | None]
    winner_variant_id: Mapped[uuid.UUID | None]
    decision: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class ExperimentVariant(IdMixin, TimestampMixin, Base):
    __tablename__ = "experiment_variants"
    __table_args__ = (UniqueConstraint("experiment_id", "label"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    experiment_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("experiments.id", ondelete="CASCADE"))
    label: Mapped[str] = mapped_column(String(40))
    clip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    caption: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(100))
    thumbnail_s: Mapped[float | None] = mapped_column(Float)


class ClipPublication(IdMixin, TimestampMixin, Base):
    """One clip on one account (per variant): the unit that is published exactly once."""

    __tablename__ = "clip_publications"
    __table_args__ = (
        CheckConstraint(f"status IN {PUBLICATION_STATUSES!r}", name="status"),
        CheckConstraint(f"platform IN {PLATFORMS!r}", name="platform"),
        Index(
            "uq_clip_publications_clip_account_variant",
            "clip_id",
            "account_id",
            "variant_id",
            unique=True,
            postgresql_nulls_not_distinct=True,
        ),
        Index("ix_clip_publications_workspace_id_created_at", "workspace_id", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    clip_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clips.id", ondelete="CASCADE"))
    account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("connected_accounts.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    experiment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("experiments.id", ondelete="SET NULL"))
    variant_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("experiment_variants.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(20))
    caption: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    tags: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    privacy: Mapped[str] = mapped_column(String(40))
    options: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    scheduled_at: Mapped[datetime | None]
    run_id: Mapped[uuid.UUID | None]
    # Remote checkpoints, written before the step that depends on them (reconciliation).
    publish_id: Mapped[str | None] = mapped_column(String(200))  # TikTok
    upload_url: Mapped[str | None] = mapped_column(Text)  # TikTok upload_url / YouTube session URI
    upload_expires_at: Mapped[datetime | None]
    generation: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    marker: Mapped[str] = mapped_column(String(40))
    video_bytes: Mapped[int | None] = mapped_column(BigInteger)
    external_id: Mapped[str | None] = mapped_column(String(200))
    url: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime | None]
    adopted: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    error: Mapped[str | None] = mapped_column(Text)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class PostMetric(IdMixin, Base):
    """Counters of one publication at one time (pushed or collected); unique per time."""

    __tablename__ = "post_metrics"
    __table_args__ = (UniqueConstraint("publication_id", "measured_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    publication_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clip_publications.id", ondelete="CASCADE"))
    measured_at: Mapped[datetime]
    views: Mapped[int] = mapped_column(BigInteger, default=0)
    likes: Mapped[int] = mapped_column(BigInteger, default=0)
    comments: Mapped[int] = mapped_column(BigInteger, default=0)
    shares: Mapped[int] = mapped_column(BigInteger, default=0)
    watch_time_s: Mapped[float | None] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime]
