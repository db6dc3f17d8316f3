"""Monitoring: rules, the videos and creators they found (per workspace), snapshots and forecasts.

Videos and creators are platform-global content, but each workspace keeps its own copy
(unique per workspace, platform and platform id): every customer row carries
workspace_id, deleting a workspace deletes its data, and no query can leak across.
"""

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
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin, utcnow

RULE_KINDS = ("keyword", "hashtag", "user", "combined")
TIERS = ("ultra_hot", "hot", "warm", "cold", "archived")


class MonitoringRule(IdMixin, TimestampMixin, Base):
    __tablename__ = "monitoring_rules"
    __table_args__ = (
        CheckConstraint(f"kind IN {RULE_KINDS!r}", name="kind"),
        CheckConstraint("interval_minutes > 0", name="interval_minutes"),
        Index("ix_monitoring_rules_due", "next_poll_at", postgresql_where=text("active")),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONB)
    platform: Mapped[str] = mapped_column(String(20), default="tiktok", server_default="tiktok")
    region: Mapped[str | None] = mapped_column(String(2))
    language: Mapped[str | None] = mapped_column(String(2))
    interval_minutes: Mapped[int] = mapped_column(Integer)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=text("true"))
    next_poll_at: Mapped[datetime | None]
    last_polled_at: Mapped[datetime | None]
    # Upper bound (platform time) of the last successful poll's window: the next poll starts there.
    polled_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    polls: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    failures: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    total_fetched: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_new: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_duplicates: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    total_creators_created: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")


class MonitoredCreator(IdMixin, TimestampMixin, Base):
    __tablename__ = "monitoring_creators"
    __table_args__ = (UniqueConstraint("workspace_id", "platform", "username"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    username: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(200))
    follower_count: Mapped[int | None] = mapped_column(BigInteger)
    avatar_url: Mapped[str | None] = mapped_column(Text)
    is_verified: Mapped[bool | None] = mapped_column(Boolean)
    region: Mapped[str | None] = mapped_column(String(8))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class MonitoredVideo(IdMixin, Base):
    __tablename__ = "monitoring_videos"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "platform_video_id"),
        CheckConstraint(f"tier IN {TIERS!r}", name="tier"),
        # Due selection for the engagement refresh (archived videos are never due).
        Index("ix_monitoring_videos_due", "next_check_at", "id", postgresql_where=text("tier <> 'archived'")),
        # Keyset sorts of the reading API, per workspace. Every index is rewritten on each
        # engagement update (the sorted columns change), so there are no more than needed:
        # tier and min_views filters ride on the views index.
        Index("ix_monitoring_videos_ws_views", "workspace_id", text("views DESC"), text("id DESC")),
        Index("ix_monitoring_videos_ws_velocity", "workspace_id", text("velocity DESC"), text("id DESC")),
        Index(
            "ix_monitoring_videos_ws_forecast",
            "workspace_id",
            text("(coalesce(forecast_1h, -1)) DESC"),
            text("id DESC"),
        ),
        Index("ix_monitoring_videos_ws_creator", "workspace_id", "creator_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    platform_video_id: Mapped[str] = mapped_column(String(64))  # TikTok ids are int64: kept as strings
    creator_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("monitoring_creators.id", ondelete="SET NULL"))
    username: Mapped[str | None] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    hashtags: Mapped[list[str]] = mapped_column(ARRAY(String), default=list, server_default="{}")
    region: Mapped[str | None] = mapped_column(String(8))
    duration_s: Mapped[int | None] = mapped_column(Integer)
    url: Mapped[str | None] = mapped_column(Text)
    posted_at: Mapped[datetime | None]
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    # Latest counters (copied from the newest snapshot for sorting without a join).
    views: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    likes: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    comments: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    shares: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    saves: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Engagement state: tier, schedule, velocity, latest forecast.
    tier: Mapped[str] = mapped_column(String(12), default="hot", server_default="hot")
    tier_changed_at: Mapped[datetime | None]
    next_check_at: Mapped[datetime | None]
    last_checked_at: Mapped[datetime | None]  # platform time of the newest snapshot
    velocity: Mapped[float] = mapped_column(Float, default=0.0, server_default="0")
    acceleration: Mapped[float | None] = mapped_column(Float)
    forecast_1h: Mapped[int | None] = mapped_column(BigInteger)
    forecast_2h: Mapped[int | None] = mapped_column(BigInteger)
    forecast_3h: Mapped[int | None] = mapped_column(BigInteger)
    forecast_confidence: Mapped[float | None] = mapped_column(Float)
    # The last few (unix seconds, views) observations, so velocity needs no snapshot scan.
    recent_times: Mapped[list[float]] = mapped_column(ARRAY(Float), default=list, server_default="{}")
    recent_views: Mapped[list[int]] = mapped_column(ARRAY(BigInteger), default=list, server_default="{}")
    snapshot_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class RuleVideo(Base):
    """A rule found a video (a video found by two rules is stored once, linked twice)."""

    __tablename__ = "monitoring_rule_videos"
    __table_args__ = (Index("ix_monitoring_rule_videos_video_id", "video_id"),)

    rule_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("monitoring_rules.id", ondelete="CASCADE"), primary_key=True)
    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitoring_videos.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class VideoSnapshot(Base):
    """Counters at one observation; `taken_at` is the platform's clock (the sandbox's in dev)."""

    __tablename__ = "monitoring_snapshots"

    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitoring_videos.id", ondelete="CASCADE"), primary_key=True
    )
    taken_at: Mapped[datetime] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    views: Mapped[int] = mapped_column(BigInteger)
    likes: Mapped[int] = mapped_column(BigInteger)
    comments: Mapped[int] = mapped_column(BigInteger)
    shares: Mapped[int] = mapped_column(BigInteger)
    saves: Mapped[int] = mapped_column(BigInteger)


class VideoForecast(Base):
    """Views predicted 1, 2 and 3 hours after `made_at` (platform time), one row per check.

    Each horizon is resolved when a later snapshot passes `made_at + h`: its actual views
    (interpolated) and absolute percentage error are stored. One row per check rather than
    per horizon: 100,000 refreshed videos write 100,000 rows, not 300,000.
    """

    __tablename__ = "monitoring_forecasts"
    __table_args__ = (
        Index("ix_monitoring_forecasts_open", "video_id", postgresql_where=text("error_3h IS NULL")),
        Index("ix_monitoring_forecasts_ws_resolved", "workspace_id", postgresql_where=text("error_1h IS NOT NULL")),
    )

    video_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("monitoring_videos.id", ondelete="CASCADE"), primary_key=True
    )
    made_at: Mapped[datetime] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    model: Mapped[str] = mapped_column(String(40))
    base_views: Mapped[int] = mapped_column(BigInteger)
    predicted_1h: Mapped[int] = mapped_column(BigInteger)
    predicted_2h: Mapped[int] = mapped_column(BigInteger)
    predicted_3h: Mapped[int] = mapped_column(BigInteger)
    confidence_1h: Mapped[float] = mapped_column(Float)
    confidence_2h: Mapped[float] = mapped_column(Float)
    confidence_3h: Mapped[float] = mapped_column(Float)
    actual_1h: Mapped[int | None] = mapped_column(BigInteger)
    actual_2h: Mapped[int | None] = mapped_column(BigInteger)
    actual_3h: Mapped[int | None] = mapped_column(BigInteger)
    error_1h: Mapped[float | None] = mapped_column(Float)
    error_2h: Mapped[float | None] = mapped_column(Float)
    error_3h: Mapped[float | None] = mapped_column(Float)
