"""TikTok Business API: the canonical inputs (campaign, ad group, ad specs) and the
`AdsPlatform` capability that services receive."""

from __future__ import annotations

from collections.abc import AsyncIterable, Sequence
from datetime import date, datetime
from typing import Any, Literal, Protocol

import msgspec

from reelflow.adapters.tiktok.business_records import (
    DEFAULT_METRICS,
    Ad,
    AdCampaign,
    AdGroup,
    Advertiser,
    AdvertiserToken,
    AdVideo,
    DataLevel,
    Identity,
    InstantPage,
    OperationStatus,
    Report,
    ReportRow,
)

# --- canonical inputs -------------------------------------------------------------------------------


class CampaignSpec(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    objective_type: str
    budget_mode: str = "BUDGET_MODE_DAY"
    budget_minor: int | None = None
    operation_status: OperationStatus = "ENABLE"


class AdGroupSpec(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: str
    name: str
    budget_minor: int | None
    budget_mode: str = "BUDGET_MODE_DAY"
    billing_event: str = "OCPM"
    optimization_goal: str = "LEAD_GENERATION"
    pacing: str = "PACING_MODE_SMOOTH"
    schedule_start: datetime | None = None  # None → now
    schedule_end: datetime | None = None
    location_ids: list[str] = []
    age_groups: list[str] = []
    gender: str | None = None
    languages: list[str] = []
    pixel_id: str | None = None
    placement_type: str = "PLACEMENT_TYPE_NORMAL"
    placements: list[str] = msgspec.field(default_factory=lambda: ["PLACEMENT_TIKTOK"])
    bid_price_minor: int | None = None
    identity_id: str | None = None
    identity_type: str | None = None
    promotion_type: str | None = None
    operation_status: OperationStatus = "ENABLE"


class AdSpec(msgspec.Struct, frozen=True, kw_only=True):
    adgroup_id: str
    name: str
    ad_text: str
    identity_id: str
    identity_type: str = "CUSTOMIZED_USER"
    video_id: str | None = None
    ad_format: str = "SINGLE_VIDEO"
    call_to_action: str | None = None
    landing_page_url: str | None = None
    display_name: str | None = None
    operation_status: OperationStatus = "ENABLE"


StatusChange = Literal["ENABLE", "DISABLE", "DELETE"]


# --- the capability -----------------------------------------------------------------------------------


class AdsPlatform(Protocol):
    """The ads capability (one implementation: `TikTokBusinessAds`)."""

    def authorize_url(self, *, state: str, redirect_uri: str) -> str: ...

    def remember_advertiser(self, advertiser_id: str, *, currency: str, timezone: str) -> None: ...

    async def exchange_auth_code(self, auth_code: str) -> AdvertiserToken: ...

    async def get_advertisers(self, advertiser_ids: Sequence[str]) -> list[Advertiser]: ...

    async def country_location_ids(
        self,
        advertiser_id: str,
        countries: Sequence[str],
        *,
        objective_type: str,
        placements: Sequence[str] = ("PLACEMENT_TIKTOK",),
    ) -> list[str]: ...

    async def get_identities(self, advertiser_id: str, identity_type: str | None = None) -> list[Identity]: ...

    async def get_instant_pages(self, advertiser_id: str, business_type: str = "LEAD_GEN") -> list[InstantPage]: ...

    async def get_campaigns(
        self, advertiser_id: str, campaign_ids: Sequence[str] | None = None
    ) -> list[AdCampaign]: ...

    async def create_campaign(
        self, advertiser_id: str, spec: CampaignSpec, *, idempotency_key: str | None = None
    ) -> AdCampaign: ...

    async def update_campaign(
        self, advertiser_id: str, campaign_id: str, *, name: str | None = None, budget_minor: int | None = None
    ) -> bool: ...

    async def set_campaign_status(
        self, advertiser_id: str, campaign_ids: Sequence[str], status: StatusChange
    ) -> dict[str, str]: ...

    async def get_adgroups(
        self, advertiser_id: str, *, campaign_ids: Sequence[str] | None = None, adgroup_ids: Sequence[str] | None = None
    ) -> list[AdGroup]: ...

    async def create_adgroup(self, advertiser_id: str, spec: AdGroupSpec) -> AdGroup: ...

    async def update_adgroup(
        self,
        advertiser_id: str,
        adgroup_id: str,
        *,
        name: str | None = None,
        budget_minor: int | None = None,
        bid_price_minor: int | None = None,
    ) -> bool: ...

    async def set_adgroup_status(
        self, advertiser_id: str, adgroup_ids: Sequence[str], status: StatusChange
    ) -> dict[str, str]: ...

    async def get_ads(
        self, advertiser_id: str, *, adgroup_ids: Sequence[str] | None = None, ad_ids: Sequence[str] | None = None
    ) -> list[Ad]: ...

    async def create_ad(self, advertiser_id: str, spec: AdSpec) -> Ad: ...

    async def update_ad(
        self, advertiser_id: str, ad_id: str, *, name: str | None = None, ad_text: str | None = None
    ) -> bool: ...

    async def set_ad_status(
        self, advertiser_id: str, ad_ids: Sequence[str], status: StatusChange
    ) -> dict[str, str]: ...

    async def upload_video(self, advertiser_id: str, content: bytes, file_name: str) -> AdVideo: ...

    async def upload_video_stream(
        self, advertiser_id: str, chunks: AsyncIterable[bytes], file_name: str
    ) -> AdVideo: ...

    async def find_video(self, advertiser_id: str, file_name: str) -> AdVideo | None: ...

    async def find_campaign(self, advertiser_id: str, name: str) -> AdCampaign | None: ...

    async def find_adgroup(self, advertiser_id: str, campaign_id: str, name: str) -> AdGroup | None: ...

    async def find_ad(self, advertiser_id: str, adgroup_id: str, name: str) -> Ad | None: ...

    async def authorized_advertisers(self) -> dict[str, str]: ...

    async def get_full_report(self, advertiser_id: str, **kwargs: Any) -> list[ReportRow]: ...

    async def get_report(
        self,
        advertiser_id: str,
        *,
        start: date,
        end: date,
        data_level: DataLevel = "AUCTION_AD",
        by: Literal["day", "hour", "total"] = "day",
        metrics: Sequence[str] = DEFAULT_METRICS,
        page: int = 1,
        page_size: int = 1000,
        currency: str | None = None,
        timezone: str | None = None,
    ) -> Report: ...
