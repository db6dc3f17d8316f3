"""Bodies for monitoring rules, videos, creators, stats, trending and forecast accuracy."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
# Out-of-range values are refused (422 naming the field), never replaced by a default:
# `interval_minutes: 0` used to be stored as the default 60.
Interval = Annotated[int, msgspec.Meta(ge=1, le=7 * 24 * 60)]
Code = Annotated[str, msgspec.Meta(min_length=2, max_length=2)]
Value = Annotated[str, msgspec.Meta(max_length=500)]
Kind = Literal["keyword", "hashtag", "user", "combined"]


class RuleIn(msgspec.Struct, forbid_unknown_fields=True):
    """A rule. keyword/hashtag/user rules list `values` (any matches); combined rules use
    `combined` = {"and": [...], "or": [...], "not": [...]} of {kind, values} conditions."""

    name: Name
    kind: Kind
    values: Annotated[list[Value], msgspec.Meta(max_length=100)] | None = None
    combined: dict[str, list[dict[str, Any]]] | None = None
    region: Code | None = None
    language: Code | None = None
    interval_minutes: Interval | None = None
    active: bool = True


class RulePatch(msgspec.Struct, forbid_unknown_fields=True):
    """Fields to change; a new kind/values/combined replaces the whole definition."""

    name: Name | None = None
    kind: Kind | None = None
    values: Annotated[list[Value], msgspec.Meta(max_length=100)] | None = None
    combined: dict[str, list[dict[str, Any]]] | None = None
    region: Code | None = None
    language: Code | None = None
    interval_minutes: Interval | None = None
    active: bool | None = None


class RuleTotals(msgspec.Struct):
    polls: int
    failures: int
    fetched: int
    new: int
    duplicates: int
    creators_created: int


class RuleOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    kind: str
    definition: dict[str, Any]
    query: dict[str, Any]
    region: str | None
    language: str | None
    interval_minutes: int
    active: bool
    next_poll_at: datetime | None
    last_polled_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    totals: RuleTotals
    created_at: datetime
    updated_at: datetime


class RuleStatsOut(msgspec.Struct):
    rule_id: uuid.UUID
    totals: RuleTotals
    videos: int
    views: int
    creators: int
    videos_by_tier: dict[str, int]
    last_polled_at: datetime | None
    last_error: str | None


class VideoOut(msgspec.Struct):
    id: uuid.UUID
    platform: str
    platform_video_id: str
    url: str | None
    username: str | None
    creator_id: uuid.UUID | None
    description: str | None
    hashtags: list[str]
    region: str | None
    posted_at: datetime | None
    first_seen_at: datetime
    views: int
    likes: int
    comments: int
    shares: int
    saves: int
    tier: str
    velocity: float
    acceleration: float | None
    next_check_at: datetime | None
    last_checked_at: datetime | None
    forecast_1h: int | None
    forecast_2h: int | None
    forecast_3h: int | None
    forecast_confidence: float | None


class SnapshotOut(msgspec.Struct):
    taken_at: datetime
    views: int
    likes: int
    comments: int
    shares: int
    saves: int


class ForecastOut(msgspec.Struct):
    made_at: datetime
    horizon_hours: int
    target_at: datetime
    base_views: int
    predicted_views: int
    confidence: float
    model: str
    actual_views: int | None
    abs_pct_error: float | None


class VideoDetailOut(msgspec.Struct):
    video: VideoOut
    rule_ids: list[uuid.UUID]
    snapshots: list[SnapshotOut]
    forecasts: list[ForecastOut]


class CreatorOut(msgspec.Struct):
    id: uuid.UUID
    platform: str
    username: str
    display_name: str | None
    follower_count: int | None
    avatar_url: str | None
    is_verified: bool | None
    region: str | None
    first_seen_at: datetime
    videos: int
    total_views: int


class HorizonAccuracy(msgspec.Struct):
    horizon_hours: int
    resolved: int
    mape: float
    bias_pct: float  # mean signed error: > 0 means forecasts ran high


class AccuracyOut(msgspec.Struct):
    horizons: list[HorizonAccuracy]
    open_forecasts: int


class RefreshIn(msgspec.Struct, forbid_unknown_fields=True):
    """`force`: refresh every tracked video of the workspace now, due or not."""

    force: bool = False
