"""Ads: the shared pieces of the ads use cases (the platform factory, account helpers,
error translation) that the other `ads_*` modules build on.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.tiktok.business_specs import AdsPlatform
from reelflow.errors import (
    Ambiguous,
    AuthExpired,
    Conflict,
    NotFound,
    ReelflowError,
    Retryable,
)
from reelflow.storage.models.ads import AdAccount, AdConnection
from reelflow.storage.repositories.ads import AdsRepository

AdsFactory = Callable[[str | None], AdsPlatform]
# Revenue per direction (minor units) for a date range, from the leads/sales area when it
# exists; the default knows none, so ROI stays empty (see docs/ads.md).
RevenueSource = Callable[[AsyncSession, uuid.UUID, Sequence[uuid.UUID], date, date], Awaitable[dict[uuid.UUID, int]]]

REPORT_METRICS = [
    "spend",
    "impressions",
    "clicks",
    "ctr",
    "cpc",
    "conversion",
    "video_play_actions",
    "video_watched_2s",
    "video_watched_6s",
]


# --- helpers ----------------------------------------------------------------------------------------


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def account_today(account: AdAccount, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(_zone(account.timezone)).date()


async def _account_or_404(repo: AdsRepository, workspace_id: uuid.UUID, account_id: uuid.UUID) -> AdAccount:
    account = await repo.get_account(workspace_id, account_id)
    if account is None:
        raise NotFound("no such ad account in this workspace")
    return account


def _usable(account: AdAccount) -> None:
    if account.status == "disconnected" or account.connection_id is None:
        raise Conflict("the ad account is disconnected: connect it again first", field="ad_account_id")


async def platform_for(repo: AdsRepository, account: AdAccount, ads_factory: AdsFactory) -> AdsPlatform:
    """The ads platform with the account's (decrypted) token, told the advertiser's currency
    and time zone as the account stored them (no `advertiser/info` call per use)."""
    _usable(account)
    assert account.connection_id is not None
    connection = await repo.session.get(AdConnection, account.connection_id)
    token = repo.access_token(connection) if connection else None
    if not token:
        raise AuthExpired("the ad account has no token: connect it again", reauth_required=True)
    platform = ads_factory(token)
    platform.remember_advertiser(account.advertiser_id, currency=account.currency, timezone=account.timezone)
    return platform


def translate(exc: ReelflowError) -> str:
    """The platform's error as one line for a launch, action or account."""
    code = exc.extra.get("vendor_code")
    prefix = f"TikTok {code}: " if code else ""
    detail = exc.detail or type(exc).__name__
    if code and "): " in detail:
        detail = detail.split("): ", 1)[1]
    return f"{prefix}{detail}"


def _final(exc: BaseException) -> bool:
    """An error that retrying will not fix (the run fails now)."""
    if isinstance(exc, Retryable | Ambiguous):
        return False
    return isinstance(exc, ReelflowError) and exc.status < 500
