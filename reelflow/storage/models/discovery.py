"""Discovery: campaigns, creator searches (with their provider cursors), creators found.

Creators are kept once per workspace, platform and external id; a search links to each
creator it found once (`discovery_search_creators`), with the keywords that found it and the
matching videos, so one creator found by two keywords (or two pages) is one row.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Float, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin, utcnow

CAMPAIGN_STATUSES = ("draft", "active", "completed", "archived")
SEARCH_STATUSES = ("pending", "processing", "completed", "timeout", "error", "cancelled")


class DiscoveryCampaign(IdMixin, TimestampMixin, Base):
    __tablename__ = "discovery_campaigns"
    __table_args__ = (
        CheckConstraint("search_type IN ('keyword', 'similar')", name="search_type"),
        CheckConstraint(f"status IN {CAMPAIGN_STATUSES!r}", name="status"),
        Index("ix_discovery_campaigns_list", "workspace_id", "created_at", "id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    search_type: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="draft", server_default="draft")
    activated_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]


class DiscoverySearch(IdMixin, TimestampMixin, Base):
    __tablename__ = "discovery_searches"
    __table_args__ = (
        CheckConstraint("platform IN ('tiktok', 'instagram')", name="platform"),
        CheckConstraint("kind IN ('keyword', 'similar')", name="kind"),
        CheckConstraint(f"status IN {SEARCH_STATUSES!r}", name="status"),
        CheckConstraint("target IN (100, 500, 1000)", name="target"),
        Index("ix_discovery_searches_campaign", "campaign_id", "created_at", "id"),
        Index(
            "ix_discovery_searches_open",
            "workspace_id",
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
        Index(
            "ix_discovery_searches_deadline",
            "deadline_at",
            postgresql_where=text("status IN ('pending', 'processing')"),
        ),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("discovery_campaigns.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(20))
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    handle: Mapped[str | None] = mapped_column(String(100))
    target: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    run_id: Mapped[uuid.UUID | None]
    # Provider paging state, written with every page: keyword → {cursor, pages, done};
    # for a similar search {"expanded": n, "seed_done": bool} (the frontier is the found
    # creators in the order found, so n says which were expanded already).
    cursors: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    pages: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    found: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    items_seen: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # provider items, duplicates too
    credits_used: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    credits_remaining: Mapped[int | None] = mapped_column(BigInteger)  # as the provider last reported it
    reserved: Mapped[int] = mapped_column(Integer, default=0, server_default="0")  # monthly creators held
    error: Mapped[str | None] = mapped_column(Text)
    deadline_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    last_page_at: Mapped[datetime | None]


class DiscoveryCreator(IdMixin, TimestampMixin, Base):
    __tablename__ = "discovery_creators"
    __table_args__ = (Index("uq_discovery_creators_key", "workspace_id", "platform", "external_id", unique=True),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20))
    external_id: Mapped[str] = mapped_column(String(100))
    handle: Mapped[str] = mapped_column(String(100))
    display_name: Mapped[str | None] = mapped_column(String(300))
    followers: Mapped[int | None] = mapped_column(BigInteger)
    following: Mapped[int | None] = mapped_column(BigInteger)
    likes: Mapped[int | None] = mapped_column(BigInteger)
    video_count: Mapped[int | None] = mapped_column(Integer)
    verified: Mapped[bool | None] = mapped_column(Boolean)
    bio: Mapped[str | None] = mapped_column(Text)
    emails: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    links: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    region: Mapped[str | None] = mapped_column(String(8))
    avatar_url: Mapped[str | None] = mapped_column(Text)
    profile_url: Mapped[str | None] = mapped_column(Text)
    first_seen_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))


class DiscoverySearchCreator(Base):
    """One creator found by one search: the keywords that found it, its matching videos."""

    __tablename__ = "discovery_search_creators"
    __table_args__ = (
        Index("ix_discovery_search_creators_position", "search_id", "position"),
        Index("ix_discovery_search_creators_creator", "creator_id"),
    )

    search_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("discovery_searches.id", ondelete="CASCADE"), primary_key=True
    )
    creator_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("discovery_creators.id", ondelete="CASCADE"), primary_key=True
    )
    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("discovery_campaigns.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # 1-based order of discovery within the search
    keywords: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list, server_default="{}")
    videos: Mapped[list[Any]] = mapped_column(JSONB, default=list, server_default="[]")
    avg_views: Mapped[int | None] = mapped_column(BigInteger)
    engagement_rate: Mapped[float | None] = mapped_column(Float)
    found_at: Mapped[datetime] = mapped_column(default=utcnow, server_default=text("now()"))
    expanded_at: Mapped[datetime | None]  # similar search: when its own related profiles were fetched
