"""Ads use cases: the metrics collector and the reports."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import ads as domain
from reelflow.errors import (
    AuthExpired,
    InvalidInput,
    ReelflowError,
)
from reelflow.services.ads_base import (
    REPORT_METRICS,
    AdsFactory,
    RevenueSource,
    _account_or_404,
    account_today,
    platform_for,
    translate,
)
from reelflow.settings import Settings, get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.repositories.ads import AdsRepository, MetricRow, Totals

# --- metrics -------------------------------------------------------------------------------------------------


def metric_rows(rows: Sequence[Any], currency: str) -> list[MetricRow]:
    """Report rows (AUCTION_AD × day) → metrics history rows; leads are the optimisation
    events (`conversion`), CPL = spend / leads."""
    out = []
    for row in rows:
        if not row.ad_id or row.stat_day is None:
            continue
        leads = int(row.conversions)
        out.append(
            MetricRow(
                ad_id=str(row.ad_id),
                day=row.stat_day,
                currency=currency,
                values={
                    "spend_minor": int(row.spend_minor),
                    "impressions": int(row.impressions),
                    "clicks": int(row.clicks),
                    "ctr": row.ctr,
                    "cpc_minor": row.cpc_minor,
                    "conversions": int(row.conversions),
                    "leads": leads,
                    "cpl_minor": domain.cpl(int(row.spend_minor), leads),
                    "video_views": int(row.video_views),
                    "views_2s": int(row.views_2s),
                    "views_6s": int(row.views_6s),
                },
            )
        )
    return out


async def collect_account_metrics(
    account_id: uuid.UUID, *, ads_factory: AdsFactory, today: date | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Pull the last N days (AUCTION_AD by day, every page) of one ad account and upsert
    them per ad per day. A failure is recorded on the account and returned, not raised."""
    settings = settings or get_settings()
    async with session_scope() as session:
        repo = AdsRepository(session)
        account = await repo.account_by_id(account_id)
        if account is None or account.status == "disconnected":
            return {"account_id": str(account_id), "skipped": True}
        try:
            platform = await platform_for(repo, account, ads_factory)
        except ReelflowError as exc:
            await repo.record_collect(account.id, error=translate(exc), status="reauth_required")
            return {"account_id": str(account_id), "error": translate(exc)}
        workspace_id, advertiser_id, currency = account.workspace_id, account.advertiser_id, account.currency
        timezone = account.timezone
        last = today or account_today(account)
    first = last - timedelta(days=settings.ads.metrics_days - 1)
    started = time.monotonic()
    try:
        report = await platform.get_full_report(
            advertiser_id,
            start=first,
            end=last,
            data_level="AUCTION_AD",
            by="day",
            metrics=REPORT_METRICS,
            page_size=settings.ads.metrics_page_size,
            currency=currency,
            timezone=timezone,
        )
        rows = metric_rows(report, currency)
        async with session_scope() as session:
            repo = AdsRepository(session)
            written = await repo.upsert_metrics(workspace_id, account_id, "tiktok", rows)
            await repo.record_collect(account_id, error=None)
    except ReelflowError as exc:
        status = "reauth_required" if isinstance(exc, AuthExpired) else "error"
        async with session_scope() as session:
            await AdsRepository(session).record_collect(account_id, error=translate(exc), status=status)
        return {"account_id": str(account_id), "error": translate(exc), "status": status}
    return {
        "account_id": str(account_id),
        "rows": written,
        "days": (last - first).days + 1,
        "seconds": round(time.monotonic() - started, 3),
    }


async def collect_all_metrics(
    *, ads_factory: AdsFactory, limit: int = 10_000, concurrency: int | None = None, today: date | None = None
) -> dict[str, Any]:
    """Every collectable ad account, a bounded number at a time; one account's failure
    (expired token, rate limit) is recorded on it and never stops the others."""
    settings = get_settings()
    async with session_scope() as session:
        accounts = [a.id for a in await AdsRepository(session).collectable_accounts(limit)]
    semaphore = asyncio.Semaphore(concurrency or settings.ads.metrics_concurrency)

    async def one(account_id: uuid.UUID) -> dict[str, Any]:
        async with semaphore:
            try:
                return await collect_account_metrics(account_id, ads_factory=ads_factory, today=today)
            except Exception as exc:  # noqa: BLE001 (isolation: an unexpected error is this account's alone)
                async with session_scope() as session:
                    await AdsRepository(session).record_collect(account_id, error=f"{type(exc).__name__}: {exc}")
                return {"account_id": str(account_id), "error": f"{type(exc).__name__}: {exc}"}

    results = await asyncio.gather(*(one(a) for a in accounts))
    return {
        "accounts": len(results),
        "failed": sum(1 for r in results if r.get("error")),
        "rows": sum(int(r.get("rows", 0)) for r in results),
        "results": list(results),
    }


# --- reading ---------------------------------------------------------------------------------------------------

_CACHE: dict[tuple[uuid.UUID, str], tuple[float, list[dict[str, Any]]]] = {}


async def platform_entities(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: uuid.UUID, kind: str, *, ads_factory: AdsFactory
) -> list[dict[str, Any]]:
    """Campaigns, ad groups or ads of an account, from the platform, cached briefly."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, account_id)
    ttl = get_settings().ads.platform_cache_ttl_s
    cached = _CACHE.get((account.id, kind))
    if cached and cached[0] > time.monotonic():
        return cached[1]
    platform = await platform_for(repo, account, ads_factory)
    items: Sequence[Any]
    if kind == "campaigns":
        items = await platform.get_campaigns(account.advertiser_id)
    elif kind == "adgroups":
        items = await platform.get_adgroups(account.advertiser_id)
    else:
        items = await platform.get_ads(account.advertiser_id)
    data = [msgspec.to_builtins(i) for i in items]
    _CACHE[(account.id, kind)] = (time.monotonic() + ttl, data)
    return data


def clear_cache() -> None:
    _CACHE.clear()


async def no_revenue(
    session: AsyncSession, workspace_id: uuid.UUID, direction_ids: Sequence[uuid.UUID], first: date, last: date
) -> dict[uuid.UUID, int]:
    """The ROI hook until the leads area records revenue: nothing is known."""
    return {}


def _range(first: date | None, last: date | None) -> tuple[date, date]:
    last = last or datetime.now(UTC).date()
    first = first or last - timedelta(days=6)
    if first > last:
        raise InvalidInput("from must not be after to", field="from")
    if (last - first).days > 366:
        raise InvalidInput("a report covers at most 367 days", field="from")
    return first, last


def _figures(totals: Totals | None, target: int | None) -> dict[str, Any]:
    spend = totals.spend_minor if totals else 0
    leads = totals.leads if totals else 0
    cpl_minor = domain.cpl(spend, leads)
    return {
        "spend_minor": spend,
        "impressions": totals.impressions if totals else 0,
        "clicks": totals.clicks if totals else 0,
        "leads": leads,
        "cpl_minor": cpl_minor,
        "target_cpl_minor": target,
        "cpl_vs_target": domain.cpl_vs_target(cpl_minor, target),
    }


async def direction_report(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    first: date | None,
    last: date | None,
    platform: str | None = None,
    revenue: RevenueSource = no_revenue,
) -> dict[str, Any]:
    first, last = _range(first, last)
    repo = AdsRepository(session)
    directions = await repo.list_directions(workspace_id, platform=platform)
    totals = await repo.totals_by_direction(workspace_id, first, last)
    known = await revenue(session, workspace_id, [d.id for d in directions], first, last)
    rows = []
    for d in directions:
        figures = _figures(totals.get(d.id), d.target_cpl_minor)
        rows.append(
            {
                "direction_id": str(d.id),
                "name": d.name,
                "platform": d.platform,
                "currency": d.currency,
                **figures,
                "revenue_minor": known.get(d.id),
                "roi": domain.roi(known.get(d.id), figures["spend_minor"]),
            }
        )
    return {"from": first.isoformat(), "to": last.isoformat(), "rows": rows}


async def creative_report(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    first: date | None,
    last: date | None,
    direction_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    first, last = _range(first, last)
    repo = AdsRepository(session)
    creatives = await repo.list_creatives(workspace_id, account_id=None, direction_id=direction_id)
    directions = {d.id: d for d in await repo.list_directions(workspace_id)}
    totals = await repo.totals_by_creative(workspace_id, first, last, direction_id)
    rows = []
    for c in creatives:
        direction = directions.get(c.direction_id) if c.direction_id else None
        rows.append(
            {
                "creative_id": str(c.id),
                "name": c.name,
                "direction_id": str(c.direction_id) if c.direction_id else None,
                **_figures(totals.get(c.id), direction.target_cpl_minor if direction else None),
            }
        )
    return {"from": first.isoformat(), "to": last.isoformat(), "rows": rows}
