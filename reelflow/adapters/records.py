"""Canonical records every adapter maps its vendor's shape onto (platform-apis.md §6).

Ids stay strings everywhere (Research API ids are int64 and lose precision as JS numbers).
Times are timezone-aware UTC datetimes; durations are seconds (aweme's ms are converted).
Counters are raw integers; `None` means the platform did not report that counter.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import msgspec

Platform = Literal["tiktok", "youtube", "instagram"]
PublishState = Literal["processing", "inbox", "published", "failed", "cancelled"]


class VideoStats(msgspec.Struct, frozen=True, kw_only=True):
    platform: Platform
    video_id: str
    views: int | None = None
    likes: int | None = None
    comments: int | None = None
    shares: int | None = None
    saves: int | None = None
    fetched_at: datetime = msgspec.field(default_factory=lambda: datetime.now(UTC))


class Creator(msgspec.Struct, frozen=True, kw_only=True):
    platform: Platform
    handle: str  # username / unique_id, without "@"
    id: str | None = None  # user id / open_id / channel id
    display_name: str | None = None
    bio: str | None = None
    avatar_url: str | None = None
    followers: int | None = None
    following: int | None = None
    likes: int | None = None  # total likes received
    video_count: int | None = None
    verified: bool | None = None
    region: str | None = None
    url: str | None = None
    external_url: str | None = None
    is_private: bool | None = None


class Video(msgspec.Struct, frozen=True, kw_only=True):
    platform: Platform
    id: str
    url: str | None = None
    caption: str | None = None
    created_at: datetime | None = None
    author_handle: str | None = None
    author: Creator | None = None
    hashtags: list[str] = msgspec.field(default_factory=list)
    duration_s: float | None = None
    region: str | None = None
    sound_id: str | None = None
    cover_url: str | None = None
    width: int | None = None
    height: int | None = None
    stats: VideoStats | None = None


class PublicationStatus(msgspec.Struct, frozen=True, kw_only=True):
    """Where a publish stands on the platform (TikTok publish_id, YouTube video/session)."""

    platform: Platform
    publish_id: str
    state: PublishState
    raw_status: str
    post_id: str | None = None  # the public video id, once known
    url: str | None = None
    fail_reason: str | None = None
    retryable: bool = False  # a FAILED publish that may be tried again (e.g. fail_reason "internal")
    uploaded_bytes: int | None = None
    downloaded_bytes: int | None = None


class TokenSet(msgspec.Struct, kw_only=True):
    """OAuth tokens as a platform issued them (TikTok Login Kit, Google)."""

    access_token: str
    expires_at: datetime
    token_type: str = "Bearer"
    refresh_token: str | None = None
    refresh_expires_at: datetime | None = None
    open_id: str | None = None
    scopes: list[str] = msgspec.field(default_factory=list)

    def expires_within(self, seconds: float) -> bool:
        return self.expires_at <= datetime.now(UTC) + timedelta(seconds=seconds)


def from_unix(seconds: int | float | str | None) -> datetime | None:
    if seconds in (None, ""):
        return None
    assert seconds is not None  # the empty values returned above
    return datetime.fromtimestamp(float(seconds), UTC)


def tiktok_video_url(handle: str | None, video_id: str) -> str:
    return f"https://www.tiktok.com/@{handle or '_'}/video/{video_id}"
