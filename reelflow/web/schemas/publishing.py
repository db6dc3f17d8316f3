"""Bodies for connected accounts, publishing, publish config and experiments.

Tokens never appear in any of these shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec

Label = Annotated[str, msgspec.Meta(min_length=1, max_length=40)]
Tag = Annotated[str, msgspec.Meta(min_length=1, max_length=100)]


class OAuthStartOut(msgspec.Struct):
    authorize_url: str
    state: str
    expires_at: str


class AccountOut(msgspec.Struct):
    id: uuid.UUID
    platform: str
    external_id: str
    display_name: str | None
    username: str | None
    avatar_url: str | None
    status: Literal["active", "expired", "revoked", "error"]
    last_error: str | None
    scopes: list[str]
    token_expires_at: datetime | None
    refreshed_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TikTokPublishIn(msgspec.Struct, forbid_unknown_fields=True):
    clip_id: uuid.UUID
    account_ids: list[uuid.UUID] | None = None
    caption: str | None = None
    privacy: str | None = None  # PUBLIC_TO_EVERYONE, MUTUAL_FOLLOW_FRIEND(S), SELF_ONLY (FOLLOWER_OF_CREATOR)
    disable_comment: bool = False
    disable_duet: bool = False
    disable_stitch: bool = False
    is_aigc: bool = False
    scheduled_at: datetime | None = None
    experiment_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = None


class YouTubePublishIn(msgspec.Struct, forbid_unknown_fields=True):
    clip_id: uuid.UUID
    account_ids: list[uuid.UUID] | None = None
    title: str | None = None
    description: str | None = None
    tags: Annotated[list[Tag], msgspec.Meta(max_length=50)] | None = None
    privacy: str | None = None  # public, unlisted, private
    category_id: Annotated[str, msgspec.Meta(max_length=10)] | None = None
    made_for_kids: bool | None = None
    scheduled_at: datetime | None = None
    experiment_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = None


class PublicationOut(msgspec.Struct):
    id: uuid.UUID
    clip_id: uuid.UUID
    account_id: uuid.UUID
    platform: str
    status: str
    caption: str | None
    title: str | None
    privacy: str
    scheduled_at: datetime | None
    job_id: uuid.UUID | None
    external_id: str | None
    url: str | None
    published_at: datetime | None
    adopted: bool  # found on the platform after an interrupted attempt, not posted again
    error: str | None
    attempts: int
    experiment_id: uuid.UUID | None
    variant_id: uuid.UUID | None
    created: bool = True  # False: the clip was already published (or queued) to this account
    created_at: datetime | None = None


class PublishOut(msgspec.Struct):
    publications: list[PublicationOut]
    job_ids: list[uuid.UUID]


class PublishConfigIn(msgspec.Struct, forbid_unknown_fields=True):
    tiktok_privacy: str | None = None
    youtube_privacy: str | None = None
    caption_template: Annotated[str, msgspec.Meta(max_length=2200)] | None = None
    hashtags: Annotated[list[Tag], msgspec.Meta(max_length=30)] = msgspec.field(default_factory=list)
    default_account_ids: list[uuid.UUID] = msgspec.field(default_factory=list)
    youtube_category_id: Annotated[str, msgspec.Meta(max_length=10)] | None = None
    youtube_made_for_kids: bool = False


class PublishConfigOut(msgspec.Struct):
    tiktok_privacy: str | None
    youtube_privacy: str | None
    caption_template: str | None
    hashtags: list[str]
    default_account_ids: list[str]
    youtube_category_id: str | None
    youtube_made_for_kids: bool
    updated_at: datetime | None


class VariantIn(msgspec.Struct, forbid_unknown_fields=True):
    label: Label
    clip_id: uuid.UUID
    caption: str | None = None
    title: Annotated[str, msgspec.Meta(max_length=100)] | None = None
    thumbnail_s: Annotated[float, msgspec.Meta(ge=0)] | None = None


class ExperimentIn(msgspec.Struct, forbid_unknown_fields=True):
    project_id: uuid.UUID
    name: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
    variants: Annotated[list[VariantIn], msgspec.Meta(max_length=10)]
    min_views: int = 1000
    confidence: float = 0.95
    ends_at: datetime | None = None


class VariantPostOut(msgspec.Struct):
    publication_id: uuid.UUID
    account_id: uuid.UUID
    platform: str
    status: str
    external_id: str | None
    views: int | None
    likes: int | None
    comments: int | None
    shares: int | None
    measured_at: datetime | None


class VariantOut(msgspec.Struct):
    id: uuid.UUID
    label: str
    clip_id: uuid.UUID
    caption: str | None
    title: str | None
    thumbnail_s: float | None
    posts: list[VariantPostOut]


class ExperimentOut(msgspec.Struct):
    id: uuid.UUID
    project_id: uuid.UUID
    name: str
    status: str
    min_views: int
    confidence: float
    ends_at: datetime
    started_at: datetime | None
    decided_at: datetime | None
    winner_variant_id: uuid.UUID | None
    decision: dict[str, Any] | None
    variants: list[VariantOut]


class MetricIn(msgspec.Struct, forbid_unknown_fields=True):
    publication_id: uuid.UUID
    measured_at: datetime
    views: int
    likes: int = 0
    comments: int = 0
    shares: int = 0
    watch_time_s: float | None = None


class MetricsIn(msgspec.Struct, forbid_unknown_fields=True):
    metrics: Annotated[list[MetricIn], msgspec.Meta(min_length=1, max_length=1000)]


class MetricsOut(msgspec.Struct):
    stored: int
    duplicates: int
