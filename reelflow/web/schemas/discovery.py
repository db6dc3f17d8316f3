"""Bodies for discovery campaigns, searches, progress and the creators found."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec


class CampaignIn(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    search_type: str  # keyword | similar
    description: str | None = None


class CampaignPatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change. `status`: active ↔ completed, any → archived, archived → back."""

    name: str | None = None
    description: str | None = None
    status: str | None = None


class CampaignOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    description: str | None
    search_type: str
    status: str
    searches: int
    creators: int
    created_at: datetime
    updated_at: datetime
    activated_at: datetime | None
    completed_at: datetime | None
    archived_at: datetime | None


class SearchIn(msgspec.Struct, forbid_unknown_fields=True):
    """`tiktok`: `keywords` (1–10); `instagram`: `handle` (creators similar to it).
    `target`: 100, 500 or 1000 unique creators."""

    platform: str
    target: int
    keywords: list[Any] | None = None
    handle: str | None = None


class SearchOut(msgspec.Struct):
    id: uuid.UUID
    campaign_id: uuid.UUID
    platform: str
    kind: str
    keywords: list[str]
    handle: str | None
    target: int
    status: str  # pending | processing | completed | timeout | error | cancelled
    progress: int  # 0–100
    pages: int  # provider pages (or profiles) fetched
    found: int  # unique creators
    items_seen: int  # provider items, duplicates included
    credits_used: int
    credits_remaining: int | None
    error: str | None
    job_id: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    last_page_at: datetime | None
    deadline_at: datetime
    updated_at: datetime


class VideoMatch(msgspec.Struct):
    id: str
    url: str | None = None
    caption: str | None = None
    created_at: str | None = None
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None


class FoundCreatorOut(msgspec.Struct):
    id: uuid.UUID
    platform: str
    external_id: str
    handle: str
    name: str | None
    followers: int | None
    avg_views: int | None
    engagement_rate: float | None
    bio: str | None
    emails: list[str]
    links: list[str]
    region: str | None
    verified: bool | None
    avatar_url: str | None  # through the image proxy (signed)
    profile_url: str | None
    keywords: list[str]
    videos: list[VideoMatch]
    searches: int
    found_at: datetime
