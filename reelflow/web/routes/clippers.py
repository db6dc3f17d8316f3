"""Clipper programmes API: campaigns (owners/admins), submissions (clippers submit, admins
review), a tracking round on demand, payouts, analytics and the ledger as CSV.

A clipper sees only their own submissions, payouts and balance; another workspace's id is a 404.
"""

from __future__ import annotations

import uuid
from typing import Any

import msgspec
from litestar import Controller, Request, Response, get, patch, post
from litestar.di import Provide
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow import composition
from reelflow.composition import ClipperPlatforms
from reelflow.domain.identity import MANAGERS
from reelflow.services import clippers as service
from reelflow.storage.models.clippers import ClipperCampaign, ClipperSubmission, Payout
from reelflow.storage.repositories.clippers import ClippersRepository
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.jobs import idempotency_key, job_response
from reelflow.web.openapi import download
from reelflow.web.schemas.clippers import (
    CampaignIn,
    CampaignOut,
    CampaignPatch,
    DailyViews,
    PaidIn,
    PayoutIn,
    PayoutOut,
    Reading,
    ReasonIn,
    SubmissionIn,
    SubmissionOut,
    SubmissionViewsOut,
)
from reelflow.web.schemas.jobs import JobOut

MEMBERS = (*MANAGERS, "clipper")


def campaign_out(c: ClipperCampaign) -> CampaignOut:
    return CampaignOut(
        id=c.id,
        name=c.name,
        brief=c.brief,
        platforms=list(c.platforms),
        currency=c.currency,
        budget_minor=c.budget_minor,
        rate_per_1000_minor=c.rate_per_1000_minor,
        min_views=c.min_views,
        max_per_submission_minor=c.max_per_submission_minor,
        pay_views_before_approval=c.pay_views_before_approval,
        starts_at=c.starts_at,
        ends_at=c.ends_at,
        status=c.status,
        spent_minor=c.spent_minor,
        remaining_minor=c.budget_minor - c.spent_minor,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def submission_out(s: ClipperSubmission) -> SubmissionOut:
    return SubmissionOut(
        id=s.id,
        campaign_id=s.campaign_id,
        clipper_id=s.clipper_id,
        platform=s.platform,
        url=s.url,
        submitted_url=s.submitted_url,
        video_id=s.video_id,
        status=s.status,
        reason=s.reason,
        baseline_views=s.baseline_views,
        peak_views=s.peak_views,
        last_views=s.last_views,
        approved_at=s.approved_at,
        last_tracked_at=s.last_tracked_at,
        created_at=s.created_at,
    )


def payout_out(p: Payout) -> PayoutOut:
    return PayoutOut(
        id=p.id,
        clipper_id=p.clipper_id,
        amount_minor=p.amount_minor,
        currency=p.currency,
        status=p.status,
        external_reference=p.external_reference,
        reason=p.reason,
        paid_at=p.paid_at,
        created_at=p.created_at,
    )


class ClippersController(Controller):
    path = "/clippers"
    tags = ["clippers"]
    dependencies = {
        "principal": Provide(provide_principal, sync_to_thread=False),
        # Apify (TikTok) and the YouTube Data API, chosen at the composition point.
        "clip_platforms": Provide(composition.clipper_platforms, sync_to_thread=False),
    }

    # --- campaigns ----------------------------------------------------------------------
    @post("/campaigns", guards=[requires_role(*MANAGERS)])
    async def create_campaign(self, db_session: AsyncSession, principal: Principal, data: CampaignIn) -> CampaignOut:
        campaign = await service.create_campaign(
            db_session, principal, service.CampaignInput(**msgspec.structs.asdict(data))
        )
        await db_session.refresh(campaign)
        return campaign_out(campaign)

    @get("/campaigns", guards=[requires_role(*MEMBERS)])
    async def list_campaigns(self, db_session: AsyncSession, principal: Principal) -> list[CampaignOut]:
        """Managers see every campaign; clippers those that are not drafts."""
        return [campaign_out(c) for c in await service.list_campaigns(db_session, principal)]

    @get("/campaigns/{campaign_id:uuid}", guards=[requires_role(*MEMBERS)])
    async def get_campaign(self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> CampaignOut:
        return campaign_out(await service.get_campaign(db_session, principal, campaign_id))

    @patch("/campaigns/{campaign_id:uuid}", guards=[requires_role(*MANAGERS)])
    async def update_campaign(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, data: CampaignPatch
    ) -> CampaignOut:
        """Change a campaign; status moves: draft→active, active⇄paused, any→ended."""
        changes = {k: v for k, v in msgspec.structs.asdict(data).items() if v is not msgspec.UNSET}
        campaign = await service.update_campaign(db_session, principal, campaign_id, changes)
        await db_session.refresh(campaign)
        return campaign_out(campaign)

    @get("/campaigns/{campaign_id:uuid}/analytics", guards=[requires_role(*MANAGERS)])
    async def campaign_analytics(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID
    ) -> dict[str, Any]:
        """Views above baselines, spend, remaining budget, cost per 1,000 views, top clippers, daily views."""
        return await service.campaign_analytics(db_session, principal, campaign_id)

    # --- submissions --------------------------------------------------------------------
    @post("/submissions", guards=[requires_role("clipper")])
    async def submit(
        self, db_session: AsyncSession, principal: Principal, data: SubmissionIn, clip_platforms: ClipperPlatforms
    ) -> SubmissionOut:
        """Submit a clip URL (TikTok, short links resolved, or a YouTube Short); 409 names an
        earlier submission of the same clip in this workspace."""
        sub = await service.submit_clip(
            db_session, principal, data.campaign_id, data.url, resolver=clip_platforms.tiktok
        )
        return submission_out(sub)

    @get("/submissions", guards=[requires_role(*MEMBERS)])
    async def list_submissions(
        self,
        db_session: AsyncSession,
        principal: Principal,
        campaign_id: uuid.UUID | None = None,
        status: str | None = None,
    ) -> list[SubmissionOut]:
        rows = await service.list_submissions(db_session, principal, campaign_id=campaign_id, status=status)
        return [submission_out(s) for s in rows]

    @get("/submissions/{submission_id:uuid}", guards=[requires_role(*MEMBERS)])
    async def get_submission(
        self, db_session: AsyncSession, principal: Principal, submission_id: uuid.UUID
    ) -> SubmissionOut:
        return submission_out(await service.get_submission(db_session, principal, submission_id))

    @get("/submissions/{submission_id:uuid}/views", guards=[requires_role(*MEMBERS)])
    async def submission_views(
        self, db_session: AsyncSession, principal: Principal, submission_id: uuid.UUID
    ) -> SubmissionViewsOut:
        """The daily rows (latest reading of each day) and every reading, for charts."""
        sub = await service.get_submission(db_session, principal, submission_id)
        repo = ClippersRepository(db_session)
        daily = await repo.daily_rows(principal.workspace_id, sub.id)
        readings = await repo.readings(principal.workspace_id, sub.id)
        return SubmissionViewsOut(
            submission_id=sub.id,
            daily=[DailyViews(date=d.date.isoformat(), views=d.views) for d in daily],
            readings=[Reading(read_at=r.read_at, views=r.views) for r in readings],
        )

    @post("/submissions/{submission_id:uuid}/approve", guards=[requires_role(*MANAGERS)], status_code=200)
    async def approve(
        self,
        db_session: AsyncSession,
        principal: Principal,
        submission_id: uuid.UUID,
        clip_platforms: ClipperPlatforms,
    ) -> SubmissionOut:
        """Approve; the clip's current views (TikTok or YouTube) become its baseline."""
        sub = await service.approve_submission(
            db_session, principal, submission_id, stats=clip_platforms.tiktok, youtube=clip_platforms.youtube
        )
        return submission_out(sub)

    @post("/submissions/{submission_id:uuid}/reject", guards=[requires_role(*MANAGERS)], status_code=200)
    async def reject(
        self, db_session: AsyncSession, principal: Principal, submission_id: uuid.UUID, data: ReasonIn
    ) -> SubmissionOut:
        return submission_out(await service.reject_submission(db_session, principal, submission_id, data.reason))

    # --- tracking -----------------------------------------------------------------------
    @post("/tracking/run", guards=[requires_role(*MANAGERS)])
    async def run_tracking(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal
    ) -> Response[JobOut]:
        """Enqueue one tracking round for this workspace (202 with the job)."""
        return job_response(
            await service.start_tracking(db_session, principal.workspace_id, key=idempotency_key(request))
        )

    # --- payouts ------------------------------------------------------------------------
    @post("/payouts", guards=[requires_role("clipper")])
    async def request_payout(self, db_session: AsyncSession, principal: Principal, data: PayoutIn) -> PayoutOut:
        """Request a payout from the available balance (at least the minimum)."""
        return payout_out(await service.request_payout(db_session, principal, data.amount_minor, data.currency))

    @get("/payouts", guards=[requires_role(*MEMBERS)])
    async def list_payouts(self, db_session: AsyncSession, principal: Principal) -> list[PayoutOut]:
        return [payout_out(p) for p in await service.list_payouts(db_session, principal)]

    @post("/payouts/{payout_id:uuid}/approve", guards=[requires_role(*MANAGERS)], status_code=200)
    async def approve_payout(self, db_session: AsyncSession, principal: Principal, payout_id: uuid.UUID) -> PayoutOut:
        return payout_out(await service.approve_payout(db_session, principal, payout_id))

    @post("/payouts/{payout_id:uuid}/paid", guards=[requires_role(*MANAGERS)], status_code=200)
    async def mark_paid(
        self, db_session: AsyncSession, principal: Principal, payout_id: uuid.UUID, data: PaidIn
    ) -> PayoutOut:
        """Record the payment with its external reference (the same reference again is a no-op)."""
        return payout_out(await service.mark_payout_paid(db_session, principal, payout_id, data.external_reference))

    @post("/payouts/{payout_id:uuid}/reject", guards=[requires_role(*MANAGERS)], status_code=200)
    async def reject_payout(
        self, db_session: AsyncSession, principal: Principal, payout_id: uuid.UUID, data: ReasonIn
    ) -> PayoutOut:
        return payout_out(await service.reject_payout(db_session, principal, payout_id, data.reason))

    # --- balances, analytics, ledger ----------------------------------------------------
    @get("/balance", guards=[requires_role(*MEMBERS)])
    async def my_balance(self, db_session: AsyncSession, principal: Principal, currency: str = "USD") -> dict[str, Any]:
        """The caller's views, earnings, pending and paid payouts, and available balance."""
        return await service.clipper_analytics(db_session, principal, principal.user_id, currency)

    @get("/clippers/{clipper_id:uuid}/analytics", guards=[requires_role(*MEMBERS)])
    async def clipper_analytics(
        self, db_session: AsyncSession, principal: Principal, clipper_id: uuid.UUID, currency: str = "USD"
    ) -> dict[str, Any]:
        return await service.clipper_analytics(db_session, principal, clipper_id, currency)

    @get(
        "/ledger.csv",
        guards=[requires_role(*MANAGERS)],
        media_type="text/csv",
        responses=download("text/csv", "Every credit and paid payout as CSV (amounts in minor units)"),
    )
    async def ledger_csv(
        self, db_session: AsyncSession, principal: Principal, campaign_id: uuid.UUID | None = None
    ) -> Response[str]:
        """Every credit and paid payout as CSV (amounts in minor units)."""
        body = await service.ledger_csv(db_session, principal, campaign_id)
        return Response(
            body,
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="clipper-ledger.csv"'},
        )


route_handlers = [ClippersController]
