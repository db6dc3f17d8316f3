"""Discovery use cases: campaigns, starting and running creator searches, results, cancel,
the timeout sweep and the image proxy.

The search job (`run_search`) pages the provider with its cursor until the target of
*unique* creators is reached, the provider has no more, or the search's deadline passes.
After every page it commits, in one transaction: the creators (upserted by platform +
external id), their links to the search (keywords, matching videos), and the search's
cursor, counts and credits, fenced on the search still `processing` with the page count
this attempt last saw. So a killed worker's next attempt resumes from the last committed
page (the only page that can be paid twice is one whose answer arrived but whose commit did
not, the moment of the kill), and a cancelled or timed-out search takes no more writes.

This module holds the campaigns and the results; starting, cancelling and sweeping searches
live in `discovery_searches`, the search job in `discovery_run`, the image proxy in
`discovery_images`, all re-exported here.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import discovery as rules
from reelflow.errors import Conflict, NotFound
from reelflow.services import audit
from reelflow.services.discovery_images import ProxiedImage, image_path, image_rules, proxy_image
from reelflow.services.discovery_run import run_search
from reelflow.services.discovery_searches import (
    SEARCH_TASK,
    StartedSearch,
    cancel_search,
    get_search,
    start_search,
    sweep_timeouts,
)
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.discovery import DiscoveryCampaign
from reelflow.storage.repositories.discovery import DiscoveryRepository, ResultFilters, ResultRow

__all__ = [
    "SEARCH_TASK",
    "ProxiedImage",
    "StartedSearch",
    "cancel_search",
    "create_campaign",
    "delete_campaign",
    "get_campaign",
    "get_search",
    "image_path",
    "image_rules",
    "list_results",
    "proxy_image",
    "run_search",
    "start_search",
    "sweep_timeouts",
    "update_campaign",
]


# --- campaigns ---------------------------------------------------------------------------------


async def create_campaign(
    session: AsyncSession, workspace_id: uuid.UUID, *, name: str, description: str | None, search_type: str
) -> DiscoveryCampaign:
    campaign = await DiscoveryRepository(session).create_campaign(
        workspace_id=workspace_id,
        name=rules.clean_name(name),
        description=rules.clean_description(description),
        search_type=rules.check_search_type(search_type),
        status="draft",
    )
    await session.refresh(campaign)
    return campaign


async def get_campaign(session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> DiscoveryCampaign:
    campaign = await DiscoveryRepository(session).get_campaign(workspace_id, campaign_id)
    if campaign is None:
        raise NotFound("no such campaign in this workspace")
    return campaign


async def update_campaign(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    campaign_id: uuid.UUID,
    *,
    name: str | None = None,
    description: str | None = None,
    clear_description: bool = False,
    status: str | None = None,
) -> DiscoveryCampaign:
    repo = DiscoveryRepository(session)
    campaign = await repo.get_campaign(workspace_id, campaign_id, lock=True)
    if campaign is None:
        raise NotFound("no such campaign in this workspace")
    values: dict[str, Any] = {}
    if name is not None:
        values["name"] = rules.clean_name(name)
    if description is not None or clear_description:
        values["description"] = rules.clean_description(description)
    if status is not None and status != campaign.status:
        rules.check_campaign_move(campaign.status, status)
        now = utcnow()
        if status in ("completed", "archived") and await repo.open_searches_of_campaign(campaign.id):
            raise Conflict(f"the campaign has searches running; cancel them before it is {status}")
        values["status"] = status
        if status == "active" and campaign.activated_at is None:
            values["activated_at"] = now
        if status == "completed":
            values["completed_at"] = now
        if status == "archived":
            values["archived_at"] = now
    if values:
        await repo.update_campaign(campaign.id, **values)
        await session.refresh(campaign)
    return campaign


async def delete_campaign(
    session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *, actor: audit.Actor | None = None
) -> None:
    """Delete a campaign with its searches and links (409 while a search runs); recorded in
    the audit log."""
    repo = DiscoveryRepository(session)
    campaign = await repo.get_campaign(workspace_id, campaign_id, lock=True)
    if campaign is None:
        raise NotFound("no such campaign in this workspace")
    if await repo.open_searches_of_campaign(campaign.id):
        raise Conflict("the campaign has searches running; cancel them first")
    details = {"name": campaign.name}
    await repo.delete_campaign(campaign.id)
    await audit.record(
        session,
        "discovery.campaign.deleted",
        actor=actor,
        workspace_id=workspace_id,
        target_type="discovery_campaign",
        target_id=campaign_id,
        details=details,
    )


# --- results -----------------------------------------------------------------------------------


async def list_results(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    campaign_id: uuid.UUID,
    search_id: uuid.UUID | None,
    filters: ResultFilters,
    sort: str,
    after: list[Any] | None,
    limit: int,
) -> list[tuple[ResultRow, list[Any]]]:
    await get_campaign(session, workspace_id, campaign_id)
    if search_id is not None:
        await get_search(session, workspace_id, search_id, campaign_id=campaign_id)
    return await DiscoveryRepository(session).results(
        workspace_id,
        search_id=search_id,
        campaign_id=None if search_id is not None else campaign_id,
        filters=filters,
        sort=sort,
        after=after,
        limit=limit,
    )
