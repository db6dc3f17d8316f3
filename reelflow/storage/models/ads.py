"""Ads: Business connections (encrypted tokens), ad accounts, directions and their ad groups,
creatives, launches, the ads Reelflow created, actions, and the daily metrics history."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
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

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin, utcnow

ACCOUNT_STATUSES = ("connected", "disconnected", "reauth_required", "error")
CREATIVE_STATUSES = ("pending", "uploading", "ready", "failed")
LAUNCH_STATUSES = ("queued", "running", "succeeded", "failed")
ACTION_STATUSES = ("queued", "running", "succeeded", "failed")


class AdConnection(IdMixin, TimestampMixin, Base):
    """One Business authorization (OAuth) of a workspace: the long-lived token, encrypted
    with `reelflow.storage.crypto` (columns ending in ``_enc``; `reelflow keys rotate` can
    re-encrypt them). Disconnecting clears the token columns."""

    __tablename__ = "ad_connections"

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(20), default="tiktok")
    access_token_enc: Mapped[str | None] = mapped_column(Text)
    refresh_token_enc: Mapped[str | None] = mapped_column(Text)
    expires_at: Mapped[datetime | None]
    refresh_expires_at: Mapped[datetime | None]
    scope: Mapped[list[int]] = mapped_column(JSONB, default=list, server_default="[]")
    advertiser_ids: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    advertisers: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    revoked_at: Mapped[datetime | None]


class AdOAuthState(Base):
    """A used OAuth state nonce: a second callback with the same state is refused."""

    __tablename__ = "ad_oauth_states"

    nonce: Mapped[str] = mapped_column(String(64), primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    used_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdAccount(IdMixin, TimestampMixin, Base):
    __tablename__ = "ad_accounts"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "advertiser_id"),
        CheckConstraint(f"status IN {ACCOUNT_STATUSES!r}", name="status"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    connection_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ad_connections.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(20), default="tiktok")
    advertiser_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    advertiser_status: Mapped[str | None] = mapped_column(String(40))
    identity_id: Mapped[str | None] = mapped_column(String(100))
    identity_type: Mapped[str | None] = mapped_column(String(40))
    autopilot: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    # Autopilot reports without acting (the hourly run also covers accounts with this on),
    # and where they go in Telegram (else `settings.autopilot.telegram_chat_id`).
    autopilot_reports: Mapped[bool] = mapped_column(Boolean, default=False, server_default="false")
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="connected", server_default="connected")
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    last_collected_at: Mapped[datetime | None]
    collect_failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class AdDirection(IdMixin, TimestampMixin, Base):
    """One offer or funnel: objective, daily budget, target CPL, default ad settings."""

    __tablename__ = "ad_directions"
    __table_args__ = (
        UniqueConstraint("workspace_id", "ad_account_id", "name", "platform"),
        CheckConstraint("platform IN ('tiktok', 'facebook')", name="platform"),
        CheckConstraint("daily_budget_minor > 0", name="daily_budget"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    platform: Mapped[str] = mapped_column(String(10))
    objective: Mapped[str] = mapped_column(String(20))
    daily_budget_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    target_cpl_minor: Mapped[int | None] = mapped_column(BigInteger)
    adgroup_mode: Mapped[str] = mapped_column(String(20))
    pixel_id: Mapped[str | None] = mapped_column(String(64))
    settings: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    tiktok_campaign_id: Mapped[str | None] = mapped_column(String(32))


class AdDirectionAdGroup(IdMixin, TimestampMixin, Base):
    """A TikTok ad group that belongs to a direction, with how many ads it holds."""

    __tablename__ = "ad_direction_adgroups"
    __table_args__ = (UniqueConstraint("direction_id", "tiktok_adgroup_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    direction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_directions.id", ondelete="CASCADE"))
    tiktok_adgroup_id: Mapped[str] = mapped_column(String(32))
    tiktok_campaign_id: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    daily_budget_minor: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(10), default="ENABLE")
    ads_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_used_at: Mapped[datetime | None]


class AdCreative(IdMixin, TimestampMixin, Base):
    __tablename__ = "ad_creatives"
    __table_args__ = (
        CheckConstraint(f"status IN {CREATIVE_STATUSES!r}", name="status"),
        CheckConstraint("kind IN ('video', 'image', 'carousel')", name="kind"),
        Index("ix_ad_creatives_account_clip", "ad_account_id", "clip_id", unique=True),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"))
    direction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ad_directions.id", ondelete="SET NULL"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(10), default="video")
    source: Mapped[str] = mapped_column(String(10))  # clip | upload
    clip_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clips.id", ondelete="SET NULL"))
    blob_key: Mapped[str | None] = mapped_column(String(500))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)
    md5: Mapped[str | None] = mapped_column(String(32))
    file_name: Mapped[str] = mapped_column(String(100))
    ad_text: Mapped[str | None] = mapped_column(String(100))
    tiktok_video_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="pending", server_default="pending")
    failure_reason: Mapped[str | None] = mapped_column(Text)
    uploaded_at: Mapped[datetime | None]
    run_id: Mapped[uuid.UUID | None]


class AdLaunch(IdMixin, TimestampMixin, Base):
    __tablename__ = "ad_launches"
    __table_args__ = (CheckConstraint(f"status IN {LAUNCH_STATUSES!r}", name="status"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"))
    direction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_directions.id", ondelete="CASCADE"))
    created_by: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    mode: Mapped[str] = mapped_column(String(10))
    adgroup_mode: Mapped[str] = mapped_column(String(20))
    objective: Mapped[str] = mapped_column(String(20))
    daily_budget_minor: Mapped[int] = mapped_column(BigInteger)
    creative_ids: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    status: Mapped[str] = mapped_column(String(10), default="queued", server_default="queued")
    step: Mapped[str | None] = mapped_column(String(40))
    campaign_id: Mapped[str | None] = mapped_column(String(32))
    adgroup_id: Mapped[str | None] = mapped_column(String(32))
    ad_ids: Mapped[dict[str, str]] = mapped_column(JSONB, default=dict, server_default="{}")
    error: Mapped[str | None] = mapped_column(Text)
    error_code: Mapped[int | None] = mapped_column(Integer)
    run_id: Mapped[uuid.UUID | None]
    finished_at: Mapped[datetime | None]


class AdAd(IdMixin, TimestampMixin, Base):
    """An ad Reelflow created on the platform, linked to its creative and direction."""

    __tablename__ = "ad_ads"
    __table_args__ = (UniqueConstraint("ad_account_id", "tiktok_ad_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"))
    direction_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_directions.id", ondelete="CASCADE"))
    creative_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_creatives.id", ondelete="CASCADE"), index=True)
    launch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ad_launches.id", ondelete="SET NULL"))
    tiktok_ad_id: Mapped[str] = mapped_column(String(32))
    tiktok_adgroup_id: Mapped[str] = mapped_column(String(32))
    tiktok_campaign_id: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(10), default="ENABLE")


class AdAction(IdMixin, TimestampMixin, Base):
    """One action on the platform, with its audit: who asked, before, after, the answer."""

    __tablename__ = "ad_actions"
    __table_args__ = (
        CheckConstraint(f"status IN {ACTION_STATUSES!r}", name="status"),
        Index("ix_ad_actions_workspace_key", "workspace_id", "idempotency_key", unique=True),
        Index("ix_ad_actions_target_day", "ad_account_id", "target_id", "kind", "created_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    target_id: Mapped[str | None] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    requested_by: Mapped[str] = mapped_column(String(20), default="user")  # user | autopilot | system
    requested_by_user: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    status: Mapped[str] = mapped_column(String(10), default="queued", server_default="queued")
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    answer: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None]
    finished_at: Mapped[datetime | None]


class AdMetricDaily(Base):
    """Delivery of one ad on one day (account time zone). Re-pulling a day replaces it."""

    __tablename__ = "ad_metrics_daily"

    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"), primary_key=True)
    platform: Mapped[str] = mapped_column(String(10), primary_key=True)
    ad_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    spend_minor: Mapped[int] = mapped_column(BigInteger, default=0)
    impressions: Mapped[int] = mapped_column(BigInteger, default=0)
    clicks: Mapped[int] = mapped_column(BigInteger, default=0)
    ctr: Mapped[float | None] = mapped_column(Float)
    cpc_minor: Mapped[int | None] = mapped_column(BigInteger)
    conversions: Mapped[int] = mapped_column(BigInteger, default=0)
    leads: Mapped[int] = mapped_column(BigInteger, default=0)
    cpl_minor: Mapped[int | None] = mapped_column(BigInteger)
    video_views: Mapped[int] = mapped_column(BigInteger, default=0)
    views_2s: Mapped[int] = mapped_column(BigInteger, default=0)
    views_6s: Mapped[int] = mapped_column(BigInteger, default=0)
    collected_at: Mapped[datetime] = mapped_column(default=utcnow)
