"""Bodies of the clipper programmes API (money in integer minor units)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

import msgspec

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]
Minor = Annotated[int, msgspec.Meta(ge=0)]


class CampaignIn(msgspec.Struct, forbid_unknown_fields=True):
    name: Name
    budget_minor: Minor
    rate_per_1000_minor: Minor
    currency: str = "USD"
    brief: str = ""
    platforms: list[str] = msgspec.field(default_factory=lambda: ["tiktok"])
    min_views: Minor = 0
    max_per_submission_minor: Minor | None = None
    pay_views_before_approval: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: str = "draft"


class CampaignPatch(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    name: Name | msgspec.UnsetType = msgspec.UNSET
    brief: str | msgspec.UnsetType = msgspec.UNSET
    platforms: list[str] | msgspec.UnsetType = msgspec.UNSET
    budget_minor: Minor | msgspec.UnsetType = msgspec.UNSET
    rate_per_1000_minor: Minor | msgspec.UnsetType = msgspec.UNSET
    min_views: Minor | msgspec.UnsetType = msgspec.UNSET
    max_per_submission_minor: Minor | msgspec.UnsetType | None = msgspec.UNSET
    pay_views_before_approval: bool | msgspec.UnsetType = msgspec.UNSET
    starts_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    ends_at: datetime | msgspec.UnsetType | None = msgspec.UNSET
    status: str | msgspec.UnsetType = msgspec.UNSET


class CampaignOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    brief: str
    platforms: list[str]
    currency: str
    budget_minor: int
    rate_per_1000_minor: int
    min_views: int
    max_per_submission_minor: int | None
    pay_views_before_approval: bool
    starts_at: datetime | None
    ends_at: datetime | None
    status: str
    spent_minor: int
    remaining_minor: int
    created_at: datetime
    updated_at: datetime


class SubmissionIn(msgspec.Struct, forbid_unknown_fields=True):
    campaign_id: uuid.UUID
    url: Annotated[str, msgspec.Meta(min_length=1, max_length=1000)]


class ReasonIn(msgspec.Struct, forbid_unknown_fields=True):
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=2000)]


class SubmissionOut(msgspec.Struct):
    id: uuid.UUID
    campaign_id: uuid.UUID
    clipper_id: uuid.UUID
    platform: str
    url: str
    submitted_url: str
    video_id: str
    status: str
    reason: str | None
    baseline_views: int | None
    peak_views: int
    last_views: int | None
    approved_at: datetime | None
    last_tracked_at: datetime | None
    created_at: datetime


class DailyViews(msgspec.Struct):
    date: str
    views: int


class Reading(msgspec.Struct):
    read_at: datetime
    views: int


class SubmissionViewsOut(msgspec.Struct):
    submission_id: uuid.UUID
    daily: list[DailyViews]
    readings: list[Reading]


class PayoutIn(msgspec.Struct, forbid_unknown_fields=True):
    amount_minor: int
    currency: str = "USD"


class PaidIn(msgspec.Struct, forbid_unknown_fields=True):
    external_reference: Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class PayoutOut(msgspec.Struct):
    id: uuid.UUID
    clipper_id: uuid.UUID
    amount_minor: int
    currency: str
    status: str
    external_reference: str | None
    reason: str | None
    paid_at: datetime | None
    created_at: datetime
