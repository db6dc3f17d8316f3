"""Clipper programmes: campaigns (owners/admins) and their analytics."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import clippers as domain
from reelflow.errors import Conflict, InvalidInput, NotFound
from reelflow.services.clippers_base import is_manager, require_manager
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clippers import ClipperCampaign
from reelflow.storage.repositories.clippers import ClippersRepository
from reelflow.storage.repositories.identity import Principal


@dataclass
class CampaignInput:
    name: str
    budget_minor: int
    rate_per_1000_minor: int
    currency: str = "USD"
    brief: str = ""
    platforms: Sequence[str] = ("tiktok",)
    min_views: int = 0
    max_per_submission_minor: int | None = None
    pay_views_before_approval: bool = False
    starts_at: datetime | None = None
    ends_at: datetime | None = None
    status: str = "draft"


async def create_campaign(session: AsyncSession, principal: Principal, data: CampaignInput) -> ClipperCampaign:
    require_manager(principal)
    if not data.name.strip():
        raise InvalidInput("a name", field="name")
    domain.check_money(data.budget_minor, "budget_minor", positive=True)
    domain.check_money(data.rate_per_1000_minor, "rate_per_1000_minor", positive=True)
    domain.check_money(data.min_views, "min_views")
    if data.max_per_submission_minor is not None:
        domain.check_money(data.max_per_submission_minor, "max_per_submission_minor", positive=True)
    domain.check_window(data.starts_at, data.ends_at)
    if data.status not in ("draft", "active"):
        raise InvalidInput("a new campaign is draft or active", field="status")
    return await ClippersRepository(session).add(
        ClipperCampaign(
            workspace_id=principal.workspace_id,
            created_by=principal.user_id,
            name=data.name.strip(),
            brief=data.brief,
            platforms=domain.check_platforms(data.platforms),
            currency=domain.check_currency(data.currency),
            budget_minor=data.budget_minor,
            rate_per_1000_minor=data.rate_per_1000_minor,
            min_views=data.min_views,
            max_per_submission_minor=data.max_per_submission_minor,
            pay_views_before_approval=data.pay_views_before_approval,
            starts_at=data.starts_at,
            ends_at=data.ends_at,
            status=data.status,
            spent_minor=0,
        )
    )


async def get_campaign(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> ClipperCampaign:
    campaign = await ClippersRepository(session).get_campaign(principal.workspace_id, campaign_id)
    if campaign is None:
        raise NotFound("no such campaign in this workspace")
    if not is_manager(principal) and campaign.status == "draft":
        raise NotFound("no such campaign in this workspace")
    return campaign


async def list_campaigns(session: AsyncSession, principal: Principal) -> list[ClipperCampaign]:
    rows = await ClippersRepository(session).list_campaigns(principal.workspace_id)
    return rows if is_manager(principal) else [c for c in rows if c.status != "draft"]


async def update_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, changes: dict[str, Any]
) -> ClipperCampaign:
    require_manager(principal)
    repo = ClippersRepository(session)
    campaign = await repo.get_campaign(principal.workspace_id, campaign_id, for_update=True)
    if campaign is None:
        raise NotFound("no such campaign in this workspace")
    if "name" in changes:
        if not str(changes["name"]).strip():
            raise InvalidInput("a name", field="name")
        campaign.name = str(changes["name"]).strip()
    if "brief" in changes:
        campaign.brief = str(changes["brief"])
    if "platforms" in changes:
        campaign.platforms = domain.check_platforms(changes["platforms"])
    if "budget_minor" in changes:
        budget = domain.check_money(changes["budget_minor"], "budget_minor", positive=True)
        if budget < campaign.spent_minor:
            raise Conflict(f"the budget cannot go below what is already spent ({campaign.spent_minor})")
        campaign.budget_minor = budget
        if campaign.status == "budget_exhausted" and budget > campaign.spent_minor:
            campaign.status = "active"  # more money: tracking resumes
    for name in ("rate_per_1000_minor", "max_per_submission_minor", "min_views"):
        if name in changes:
            if campaign.status != "draft":
                raise Conflict(f"{name} can change only while the campaign is a draft")
            value = changes[name]
            if value is not None or name != "max_per_submission_minor":
                domain.check_money(value, name, positive=name != "min_views")
            setattr(campaign, name, value)
    if "pay_views_before_approval" in changes:
        if campaign.status != "draft":
            raise Conflict("pay_views_before_approval can change only while the campaign is a draft")
        campaign.pay_views_before_approval = bool(changes["pay_views_before_approval"])
    if "starts_at" in changes:
        campaign.starts_at = changes["starts_at"]
    if "ends_at" in changes:
        campaign.ends_at = changes["ends_at"]
    domain.check_window(campaign.starts_at, campaign.ends_at)
    if "status" in changes and changes["status"] is not None:
        domain.check_transition(campaign.status, str(changes["status"]))
        campaign.status = str(changes["status"])
    campaign.updated_at = utcnow()
    await session.flush()
    return campaign


async def campaign_analytics(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> dict[str, Any]:
    require_manager(principal)
    campaign = await get_campaign(session, principal, campaign_id)
    repo = ClippersRepository(session)
    clippers = await repo.campaign_clipper_totals(campaign.id)
    views = sum(r[2] for r in clippers)
    return {
        "campaign_id": str(campaign.id),
        "currency": campaign.currency,
        "status": campaign.status,
        "views": views,
        "spent_minor": campaign.spent_minor,
        "budget_minor": campaign.budget_minor,
        "remaining_minor": campaign.budget_minor - campaign.spent_minor,
        "cost_per_1000_views_minor": (campaign.spent_minor * 1000 // views) if views else None,
        "top_clippers": [
            {"clipper_id": str(cid), "email": email, "views": v, "earned_minor": earned}
            for cid, email, v, earned in clippers[:10]
        ],
        "daily": [{"date": d.isoformat(), "views": v} for d, v in await repo.campaign_daily(campaign.id)],
    }
