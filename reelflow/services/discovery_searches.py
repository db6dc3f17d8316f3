"""Discovery: starting, reading, closing and cancelling a creator search, and the sweep that
closes searches past their deadline. The search job itself is in `discovery_run`."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import discovery as rules
from reelflow.domain import plans
from reelflow.errors import Conflict, LimitExceeded, NotFound
from reelflow.queue import cancel_run, enqueue
from reelflow.settings import DiscoverySettings, get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.discovery import DiscoverySearch
from reelflow.storage.repositories.clipping import ClippingRepository
from reelflow.storage.repositories.discovery import DiscoveryRepository
from reelflow.storage.repositories.runtime import RuntimeRepository

SEARCH_TASK = "discovery.run_search"


@dataclass(frozen=True)
class StartedSearch:
    search: DiscoverySearch
    created: bool  # False: an Idempotency-Key replay


def _same_request(search: DiscoverySearch, campaign_id: uuid.UUID, spec: rules.SearchSpec) -> bool:
    return (
        search.campaign_id == campaign_id
        and search.platform == spec.platform
        and list(search.keywords or []) == spec.keywords
        and search.handle == spec.handle
        and search.target == spec.target
    )


async def start_search(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    platform: str,
    target: int,
    keywords: Sequence[Any] | None = None,
    handle: str | None = None,
    idempotency_key: str | None = None,
    settings: DiscoverySettings | None = None,
) -> StartedSearch:
    """Validate, check the plan's limits (searches at once; creators this month: the target
    is reserved now and what is not found is given back when the search ends), create the
    search and its one runtime job (pushed after commit). The same `Idempotency-Key` with
    the same request returns the same search; with a different one, 409."""
    settings = settings or get_settings().discovery
    repo = DiscoveryRepository(session)
    campaign = await repo.get_campaign(workspace_id, campaign_id, lock=True)
    if campaign is None:
        raise NotFound("no such campaign in this workspace")
    spec = rules.validate_search(
        campaign_type=campaign.search_type, platform=platform, target=target, keywords=keywords, handle=handle
    )
    if idempotency_key:
        run = await RuntimeRepository(session).find_by_key(workspace_id, idempotency_key, explicit=True)
        if run is not None:
            existing = await repo.search_by_run(workspace_id, run.id)
            if existing is None or not _same_request(existing, campaign.id, spec):
                raise Conflict("this Idempotency-Key was already used for a different request")
            return StartedSearch(existing, created=False)
    if campaign.status == "archived":
        raise Conflict("the campaign is archived; unarchive it to search")

    clipping = ClippingRepository(session)
    plan = plans.get_plan(await clipping.workspace_plan(workspace_id))
    await repo.lock_workspace(workspace_id)  # two requests at once cannot both take the last slot
    running = await repo.count_open_searches(workspace_id)
    if running >= plan.discovery_concurrent_searches:
        raise LimitExceeded(
            f"the {plan.name} plan runs {plan.discovery_concurrent_searches} searches at once; "
            f"{running} are running — wait for one to finish or cancel one",
            limit="discovery_concurrent_searches",
            retry_after=30,
        )
    now = utcnow()
    period = plans.period_start(now)
    metric = plans.DISCOVERY_CREATORS
    if await clipping.charge(workspace_id, period, metric, spec.target, plan.limit(metric)) is None:
        used = (await clipping.usage(workspace_id, period)).get(metric, 0)
        raise plans.limit_exceeded(plan, metric, wanted=spec.target, used=used, start=period)

    search = await repo.create_search(
        workspace_id=workspace_id,
        campaign_id=campaign.id,
        platform=spec.platform,
        kind=spec.kind,
        keywords=spec.keywords,
        handle=spec.handle,
        target=spec.target,
        status="pending",
        cursors={},
        reserved=spec.target,
        deadline_at=now + timedelta(seconds=settings.search_timeout_s),
    )
    result = await enqueue(
        session,
        SEARCH_TASK,
        {"search_id": str(search.id)},
        key=idempotency_key or f"{SEARCH_TASK}:{search.id}",
        workspace_id=workspace_id,
    )
    await repo.set_search(search.id, run_id=result.run.id)
    await repo.activate_campaign(campaign.id, now)
    await session.refresh(search)
    return StartedSearch(search, created=True)


async def get_search(
    session: AsyncSession, workspace_id: uuid.UUID, search_id: uuid.UUID, *, campaign_id: uuid.UUID | None = None
) -> DiscoverySearch:
    search = await DiscoveryRepository(session).get_search(workspace_id, search_id, campaign_id=campaign_id)
    if search is None:
        raise NotFound("no such search in this workspace")
    return search


async def _close(
    session: AsyncSession, search_id: uuid.UUID, status: str, *, error: str | None = None
) -> DiscoverySearch | None:
    """Move an open search to a terminal status (once) and give back the monthly creators
    it reserved but did not find; the campaign completes when it has nothing running."""
    repo = DiscoveryRepository(session)
    now = utcnow()
    finished = await repo.finish_search(search_id, status, now, error=error)
    if finished is None:
        return None
    unused = max(0, finished.reserved - min(finished.found, finished.reserved))
    if unused:
        period = plans.period_start(finished.created_at)  # where the reservation was charged
        await ClippingRepository(session).refund(finished.workspace_id, period, plans.DISCOVERY_CREATORS, unused)
        await repo.set_search(search_id, reserved=finished.reserved - unused)
    return await repo.load_search(search_id)


async def cancel_search(
    session: AsyncSession, workspace_id: uuid.UUID, search_id: uuid.UUID, *, campaign_id: uuid.UUID | None = None
) -> DiscoverySearch:
    """Cancel a pending or processing search (results so far are kept); its job is
    cancelled or asked to stop. A finished search: 409."""
    search = await get_search(session, workspace_id, search_id, campaign_id=campaign_id)
    closed = await _close(session, search.id, "cancelled", error=None)
    if closed is None:
        raise Conflict(f"the search has already ended ({search.status})", search_status=search.status)
    if search.run_id is not None:
        try:
            await cancel_run(session, search.run_id, workspace_id=workspace_id)
        except (Conflict, NotFound):
            pass  # the run had already ended (it will find the search cancelled)
    return closed


async def sweep_timeouts(*, limit: int = 500, settings: DiscoverySettings | None = None) -> dict[str, int]:
    """Close open searches past their deadline (plus a grace for the job to do it itself) as
    `timeout`, and those whose job ended for good without closing them as `error`."""
    settings = settings or get_settings().discovery
    before = utcnow() - timedelta(seconds=settings.sweep_grace_s)
    counts = {"timeout": 0, "error": 0}
    async with session_scope() as session:
        overdue = await DiscoveryRepository(session).overdue_searches(before, limit)
    for search_id, reason in overdue:
        async with session_scope() as session:
            if reason == "timeout":
                closed = await _close(session, search_id, "timeout", error="the search ran past its time limit")
            else:
                closed = await _close(session, search_id, "error", error=f"the search job stopped: {reason}")
            if closed is not None:
                counts[closed.status] += 1
                if closed.run_id is not None and reason == "timeout":
                    try:
                        await cancel_run(session, closed.run_id)
                    except (Conflict, NotFound):
                        pass
    return counts
