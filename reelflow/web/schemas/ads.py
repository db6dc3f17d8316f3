"""Bodies for ad accounts, directions, creatives, launches, actions and reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from reelflow.storage.models.ads import AdAccount, AdAction, AdConnection, AdCreative, AdDirection, AdLaunch

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=200)]


class AuthorizeOut(msgspec.Struct):
    authorize_url: str
    state: str
    expires_at: datetime


class AdvertiserOut(msgspec.Struct):
    advertiser_id: str
    name: str
    currency: str
    timezone: str
    status: str | None = None


class ConnectionOut(msgspec.Struct):
    id: uuid.UUID
    advertisers: list[AdvertiserOut]
    created_at: datetime
    connected: bool


class ConnectIn(msgspec.Struct, forbid_unknown_fields=True):
    """Pick the advertisers of an authorization that become ad accounts."""

    connection_id: uuid.UUID
    advertiser_ids: list[str]


class AccountOut(msgspec.Struct):
    id: uuid.UUID
    platform: str
    advertiser_id: str
    name: str
    currency: str
    timezone: str
    advertiser_status: str | None
    identity_id: str | None
    identity_type: str | None
    autopilot: bool
    autopilot_reports: bool
    telegram_chat_id: str | None
    status: str
    last_error: str | None
    last_error_at: datetime | None
    last_collected_at: datetime | None
    created_at: datetime


class AccountPatch(msgspec.Struct, forbid_unknown_fields=True):
    """`autopilot` acts on the decisions; `autopilot_reports` runs the hourly autopilot in
    report-only mode; `telegram_chat_id` (a numeric chat id or `@channel`; "" clears it)."""

    autopilot: bool | None = None
    autopilot_reports: bool | None = None
    telegram_chat_id: str | None = None
    identity_id: str | None = None
    identity_type: str | None = None


class DirectionIn(msgspec.Struct, forbid_unknown_fields=True):
    """`platform` tiktok, facebook or both (two directions). Budgets and target CPL are
    minor units of the ad account's currency."""

    ad_account_id: uuid.UUID
    name: Name
    platform: str
    objective: str
    daily_budget_minor: int
    target_cpl_minor: int | None = None
    adgroup_mode: str = "create_new"
    pixel_id: str | None = None
    settings: dict[str, Any] | None = None
    tiktok_settings: dict[str, Any] | None = None
    facebook_settings: dict[str, Any] | None = None


class DirectionPatch(msgspec.Struct, forbid_unknown_fields=True):
    name: Name | None = None
    objective: str | None = None
    daily_budget_minor: int | None = None
    target_cpl_minor: int | None = None
    adgroup_mode: str | None = None
    pixel_id: str | None = None
    settings: dict[str, Any] | None = None
    active: bool | None = None


class DirectionOut(msgspec.Struct):
    id: uuid.UUID
    ad_account_id: uuid.UUID
    name: str
    platform: str
    objective: str
    daily_budget_minor: int
    currency: str
    target_cpl_minor: int | None
    adgroup_mode: str
    pixel_id: str | None
    settings: dict[str, Any]
    active: bool
    tiktok_campaign_id: str | None
    adapter: bool  # False for Facebook rows: stored and listed, no adapter
    created_at: datetime


class DirectionsOut(msgspec.Struct):
    items: list[DirectionOut]


class CreativeIn(msgspec.Struct, forbid_unknown_fields=True):
    """A creative from a rendered Reelflow clip (uploads go to POST /ads/creatives/upload)."""

    ad_account_id: uuid.UUID
    clip_id: uuid.UUID
    direction_id: uuid.UUID | None = None
    kind: str = "video"
    name: Name | None = None
    ad_text: Annotated[str, msgspec.Meta(min_length=1, max_length=100)] | None = None


class CreativeOut(msgspec.Struct):
    id: uuid.UUID
    ad_account_id: uuid.UUID
    direction_id: uuid.UUID | None
    name: str
    kind: str
    source: str
    clip_id: uuid.UUID | None
    size_bytes: int | None
    md5: str | None
    file_name: str
    tiktok_video_id: str | None
    status: str
    failure_reason: str | None
    run_id: uuid.UUID | None
    created_at: datetime


class LaunchIn(msgspec.Struct, forbid_unknown_fields=True):
    direction_id: uuid.UUID
    mode: str = "manual"
    creative_ids: list[uuid.UUID] = []
    daily_budget_minor: int | None = None
    objective: str | None = None
    max_creatives: int = 5


class LaunchOut(msgspec.Struct):
    id: uuid.UUID
    direction_id: uuid.UUID
    ad_account_id: uuid.UUID
    mode: str
    adgroup_mode: str
    objective: str
    daily_budget_minor: int
    creative_ids: list[str]
    status: str
    step: str | None
    campaign_id: str | None
    adgroup_id: str | None
    ad_ids: dict[str, str]
    error: str | None
    error_code: int | None
    run_id: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None


class ActionIn(msgspec.Struct, forbid_unknown_fields=True):
    """kind: pause_/resume_ campaign|adgroup|ad, update_adgroup_budget (budget_minor),
    get_campaign_status, create_adgroup (direction_id + creative_ids)."""

    ad_account_id: uuid.UUID
    kind: str
    target_id: str | None = None
    budget_minor: int | None = None
    direction_id: uuid.UUID | None = None
    creative_ids: list[uuid.UUID] = []


class ActionOut(msgspec.Struct):
    id: uuid.UUID
    ad_account_id: uuid.UUID
    kind: str
    target_id: str | None
    params: dict[str, Any]
    requested_by: str
    requested_by_user: uuid.UUID | None
    status: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    answer: dict[str, Any] | None
    error: str | None
    run_id: uuid.UUID | None
    created_at: datetime
    finished_at: datetime | None


class ItemsOut(msgspec.Struct):
    items: list[dict[str, Any]]


def connection_out(connection: AdConnection) -> ConnectionOut:
    return ConnectionOut(
        id=connection.id,
        advertisers=[
            AdvertiserOut(
                advertiser_id=str(a["advertiser_id"]),
                name=str(a.get("name", "")),
                currency=str(a.get("currency", "")),
                timezone=str(a.get("timezone", "")),
                status=a.get("status"),
            )
            for a in connection.advertisers
        ],
        created_at=connection.created_at,
        connected=connection.access_token_enc is not None,
    )


def account_out(a: AdAccount) -> AccountOut:
    return AccountOut(
        id=a.id,
        platform=a.platform,
        advertiser_id=a.advertiser_id,
        name=a.name,
        currency=a.currency,
        timezone=a.timezone,
        advertiser_status=a.advertiser_status,
        identity_id=a.identity_id,
        identity_type=a.identity_type,
        autopilot=a.autopilot,
        autopilot_reports=a.autopilot_reports,
        telegram_chat_id=a.telegram_chat_id,
        status=a.status,
        last_error=a.last_error,
        last_error_at=a.last_error_at,
        last_collected_at=a.last_collected_at,
        created_at=a.created_at,
    )


def direction_out(d: AdDirection) -> DirectionOut:
    return DirectionOut(
        id=d.id,
        ad_account_id=d.ad_account_id,
        name=d.name,
        platform=d.platform,
        objective=d.objective,
        daily_budget_minor=d.daily_budget_minor,
        currency=d.currency,
        target_cpl_minor=d.target_cpl_minor,
        adgroup_mode=d.adgroup_mode,
        pixel_id=d.pixel_id,
        settings=dict(d.settings or {}),
        active=d.active,
        tiktok_campaign_id=d.tiktok_campaign_id,
        adapter=d.platform == "tiktok",
        created_at=d.created_at,
    )


def creative_out(c: AdCreative) -> CreativeOut:
    return CreativeOut(
        id=c.id,
        ad_account_id=c.ad_account_id,
        direction_id=c.direction_id,
        name=c.name,
        kind=c.kind,
        source=c.source,
        clip_id=c.clip_id,
        size_bytes=c.size_bytes,
        md5=c.md5,
        file_name=c.file_name,
        tiktok_video_id=c.tiktok_video_id,
        status=c.status,
        failure_reason=c.failure_reason,
        run_id=c.run_id,
        created_at=c.created_at,
    )


def launch_out(launch: AdLaunch) -> LaunchOut:
    return LaunchOut(
        id=launch.id,
        direction_id=launch.direction_id,
        ad_account_id=launch.ad_account_id,
        mode=launch.mode,
        adgroup_mode=launch.adgroup_mode,
        objective=launch.objective,
        daily_budget_minor=launch.daily_budget_minor,
        creative_ids=list(launch.creative_ids),
        status=launch.status,
        step=launch.step,
        campaign_id=launch.campaign_id,
        adgroup_id=launch.adgroup_id,
        ad_ids=dict(launch.ad_ids or {}),
        error=launch.error,
        error_code=launch.error_code,
        run_id=launch.run_id,
        created_at=launch.created_at,
        finished_at=launch.finished_at,
    )


def action_out(action: AdAction) -> ActionOut:
    return ActionOut(
        id=action.id,
        ad_account_id=action.ad_account_id,
        kind=action.kind,
        target_id=action.target_id,
        params=dict(action.params or {}),
        requested_by=action.requested_by,
        requested_by_user=action.requested_by_user,
        status=action.status,
        before=action.before,
        after=action.after,
        answer=action.answer,
        error=action.error,
        run_id=action.run_id,
        created_at=action.created_at,
        finished_at=action.finished_at,
    )
