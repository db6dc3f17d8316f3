"""Clipper programmes: campaigns, submissions, view tracking, earnings, payouts, analytics.

Money rules live in `reelflow.domain.clippers` (docs/clippers.md); this module applies them
to the database. Adapters are handed in: a `ShortLinkResolver` and `StatsByUrls` for
submissions and approvals, `AsyncScraperRuns` for tracking rounds.
"""

from __future__ import annotations

import asyncio
import csv
import io
import time
import uuid
from collections.abc import Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import AsyncScraperRuns, ShortLinkResolver, StatsByUrls
from reelflow.domain import clippers as domain
from reelflow.domain.identity import MANAGERS
from reelflow.errors import Conflict, Forbidden, InvalidInput, NotFound, Permanent
from reelflow.logs import get_logger
from reelflow.queue import EnqueueResult, enqueue
from reelflow.settings import get_settings
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clippers import (
    ApifyRun,
    ClipperCampaign,
    ClipperSubmission,
    LedgerEntry,
    Payout,
)
from reelflow.storage.repositories.clippers import ClippersRepository
from reelflow.storage.repositories.identity import Principal

log = get_logger(__name__)
SessionScope = Callable[[], AbstractAsyncContextManager[AsyncSession]]
DONE_STATUSES = {"SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT"}


def _is_manager(principal: Principal) -> bool:
    return principal.role in MANAGERS


def _require_manager(principal: Principal) -> None:
    if not _is_manager(principal):
        raise Forbidden("only owners and admins manage clipper programmes")


# --- campaigns --------------------------------------------------------------------------


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
    _require_manager(principal)
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
    if not _is_manager(principal) and campaign.status == "draft":
        raise NotFound("no such campaign in this workspace")
    return campaign


async def list_campaigns(session: AsyncSession, principal: Principal) -> list[ClipperCampaign]:
    rows = await ClippersRepository(session).list_campaigns(principal.workspace_id)
    return rows if _is_manager(principal) else [c for c in rows if c.status != "draft"]


async def update_campaign(
    session: AsyncSession, principal: Principal, campaign_id: uuid.UUID, changes: dict[str, Any]
) -> ClipperCampaign:
    _require_manager(principal)
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


# --- submissions ------------------------------------------------------------------------


async def submit_clip(
    session: AsyncSession,
    principal: Principal,
    campaign_id: uuid.UUID,
    url: str,
    *,
    resolver: ShortLinkResolver,
) -> ClipperSubmission:
    if principal.role != "clipper":
        raise Forbidden("only clippers submit clips")
    repo = ClippersRepository(session)
    campaign = await repo.get_campaign(principal.workspace_id, campaign_id)
    if campaign is None or campaign.status == "draft":
        raise NotFound("no such campaign in this workspace")
    if campaign.status != "active":
        raise Conflict(f"the campaign is {campaign.status}; it takes no submissions")
    raw = url.strip()
    if not raw or len(raw) > 1000:
        raise InvalidInput("a clip URL of at most 1000 characters", field="url")
    if domain.is_short_link(raw):
        resolved = await resolver.resolve_short_link(domain.canonical_short_link(raw))
        clip = domain.normalise_clip_url(resolved)
    else:
        clip = domain.normalise_clip_url(raw)
    if clip.platform not in campaign.platforms:
        raise InvalidInput(f"this campaign takes {', '.join(campaign.platforms)} clips", field="url")
    created = await repo.insert_submission(
        {
            "workspace_id": principal.workspace_id,
            "campaign_id": campaign.id,
            "clipper_id": principal.user_id,
            "platform": clip.platform,
            "url": clip.url,
            "submitted_url": raw,
            "video_id": clip.video_id,
            "status": "pending",
            "peak_views": 0,
        }
    )
    if created is None:
        first = await repo.submission_by_url(principal.workspace_id, clip.url)
        raise Conflict(
            f"this clip was already submitted (submission {first.id if first else '?'})",
            first_submission_id=str(first.id) if first else None,
            url=clip.url,
        )
    return created


async def get_submission(session: AsyncSession, principal: Principal, submission_id: uuid.UUID) -> ClipperSubmission:
    sub = await ClippersRepository(session).get_submission(principal.workspace_id, submission_id)
    if sub is None or (not _is_manager(principal) and sub.clipper_id != principal.user_id):
        raise NotFound("no such submission in this workspace")
    return sub


async def list_submissions(
    session: AsyncSession,
    principal: Principal,
    *,
    campaign_id: uuid.UUID | None = None,
    status: str | None = None,
) -> list[ClipperSubmission]:
    """Managers see every submission; a clipper only their own."""
    if status is not None and status not in domain.SUBMISSION_STATUSES:
        raise InvalidInput(f"status is one of {', '.join(domain.SUBMISSION_STATUSES)}", field="status")
    clipper = None if _is_manager(principal) else principal.user_id
    return await ClippersRepository(session).list_submissions(
        principal.workspace_id, clipper_id=clipper, campaign_id=campaign_id, status=status
    )


async def approve_submission(
    session: AsyncSession, principal: Principal, submission_id: uuid.UUID, *, stats: StatsByUrls
) -> ClipperSubmission:
    """Approve a pending submission; its current views become the baseline (unless the
    campaign pays views from before approval)."""
    _require_manager(principal)
    repo = ClippersRepository(session)
    sub = await repo.get_submission(principal.workspace_id, submission_id, for_update=True)
    if sub is None:
        raise NotFound("no such submission in this workspace")
    if sub.status != "pending":
        raise Conflict(f"the submission is already {sub.status}")
    campaign = await repo.get_campaign(principal.workspace_id, sub.campaign_id)
    assert campaign is not None
    found = await stats.fetch_stats([sub.url])
    current = found.get(sub.url)
    if current is None or current.views is None:
        raise Conflict("the video is not public (deleted or private); it cannot be approved")
    views = int(current.views)
    sub.baseline_views = 0 if campaign.pay_views_before_approval else views
    sub.peak_views = max(sub.peak_views, views)
    sub.last_views = views
    sub.status = "approved"
    sub.approved_at = utcnow()
    sub.reviewed_by = principal.user_id
    sub.reason = None
    sub.updated_at = utcnow()
    await session.flush()
    return sub


async def reject_submission(
    session: AsyncSession, principal: Principal, submission_id: uuid.UUID, reason: str
) -> ClipperSubmission:
    _require_manager(principal)
    if not reason.strip():
        raise InvalidInput("a reason", field="reason")
    sub = await ClippersRepository(session).get_submission(principal.workspace_id, submission_id, for_update=True)
    if sub is None:
        raise NotFound("no such submission in this workspace")
    if sub.status != "pending":
        raise Conflict(f"the submission is already {sub.status}")
    sub.status = "rejected"
    sub.reason = reason.strip()
    sub.reviewed_by = principal.user_id
    sub.updated_at = utcnow()
    await session.flush()
    return sub


# --- view tracking ----------------------------------------------------------------------


@dataclass
class TrackingResult:
    submissions: int = 0
    batches: int = 0
    runs_started: int = 0
    runs_reused: int = 0
    runs_failed: int = 0
    readings: int = 0
    stopped: int = 0
    credited_minor: int = 0
    campaigns_exhausted: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _item_key(item: dict[str, Any]) -> tuple[str | None, str | None]:
    return (str(item.get("submittedVideoUrl") or item.get("url") or "") or None, str(item.get("id") or "") or None)


async def track_views(
    scope: SessionScope,
    workspace_id: uuid.UUID,
    job_key: str,
    *,
    runs: AsyncScraperRuns,
    batch_size: int | None = None,
    concurrency: int | None = None,
    heartbeat: Callable[[], Any] | None = None,
) -> TrackingResult:
    """One tracking round for a workspace: Apify runs in batches (asynchronous), readings,
    then earnings per campaign. Every run is recorded under (job_key, batch) before it is
    waited for, so a retried job reads the same run instead of paying for another."""
    settings = get_settings().clippers
    batch_size = batch_size or settings.tracking_batch_size
    result = TrackingResult()
    async with scope() as session:
        repo = ClippersRepository(session)
        subs = [s for s in await repo.trackable_submissions(workspace_id) if s.platform == "tiktok"]
        result.submissions = len(subs)
        planned = await _plan_batches(session, workspace_id, job_key, [s.url for s in subs], batch_size)
    result.batches = len(planned)
    sem = asyncio.Semaphore(concurrency or settings.tracking_concurrency)
    # Runs wait on Apify with no connection held; database work is bounded below the pool size.
    db = asyncio.Semaphore(settings.tracking_db_concurrency)

    async def one(batch: int) -> None:
        async with sem:
            await _run_batch(scope, job_key, batch, runs=runs, result=result, heartbeat=heartbeat, db=db)

    outcomes = await asyncio.gather(*(one(b) for b in planned), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    if errors:  # every batch got its chance; runs started are recorded for the retry
        raise errors[0]
    async with scope() as session:
        campaigns = await ClippersRepository(session).list_campaigns(workspace_id, statuses=("active",))
    for campaign in campaigns:
        async with scope() as session:
            credited, exhausted = await credit_earnings(session, campaign.id)
        result.credited_minor += credited
        if exhausted:
            result.campaigns_exhausted.append(str(campaign.id))
    return result


async def _plan_batches(
    session: AsyncSession, workspace_id: uuid.UUID, job_key: str, urls: list[str], batch_size: int
) -> list[int]:
    """Batches of this job: those recorded by an earlier attempt (same URLs), then new ones
    for URLs no recorded batch covers. Committed by the caller's scope."""
    repo = ClippersRepository(session)
    rows = await repo.apify_runs_of(job_key)
    covered = {u for r in rows for u in r.urls}
    todo = [u for u in dict.fromkeys(urls) if u not in covered]
    next_batch = max((r.batch for r in rows), default=-1) + 1
    for i in range(0, len(todo), batch_size):
        session.add(
            ApifyRun(
                workspace_id=workspace_id,
                job_key=job_key,
                batch=next_batch,
                urls=todo[i : i + batch_size],
                status="planned",
                processed=False,
                detail={},
            )
        )
        next_batch += 1
    await session.flush()
    rows = await repo.apify_runs_of(job_key)
    return sorted(r.batch for r in rows)


async def _run_batch(
    scope: SessionScope,
    job_key: str,
    batch: int,
    *,
    runs: AsyncScraperRuns,
    result: TrackingResult,
    heartbeat: Callable[[], Any] | None,
    db: asyncio.Semaphore,
) -> None:
    settings = get_settings().clippers
    async with db, scope() as session:
        row = await ClippersRepository(session).apify_run(job_key, batch)
        assert row is not None
        if row.processed:
            return
        run_id, dataset_id, urls = row.run_id, row.dataset_id, list(row.urls)
    if run_id is None or dataset_id is None:
        run_id, dataset_id = await runs.start_post_run(urls)
        result.runs_started += 1
        async with db, scope() as session:  # recorded before waiting: a retry reads this run
            row = await ClippersRepository(session).apify_run(job_key, batch)
            assert row is not None
            row.run_id, row.dataset_id, row.status = run_id, dataset_id, "RUNNING"
    else:
        result.runs_reused += 1
    deadline = time.monotonic() + settings.run_wait_seconds
    status = await runs.run_status(run_id)
    while status not in DONE_STATUSES:
        if time.monotonic() > deadline:
            raise Permanent(f"Apify run {run_id} did not finish within {settings.run_wait_seconds} s")
        if heartbeat is not None:
            await heartbeat()
        await asyncio.sleep(settings.run_poll_seconds)
        # long poll (waitForFinish): one request per run in the usual case, not one per poll
        status = await runs.run_status(run_id, wait_s=settings.run_long_poll_seconds)
    if status != "SUCCEEDED":
        result.runs_failed += 1
        async with db, scope() as session:
            row = await ClippersRepository(session).apify_run(job_key, batch)
            assert row is not None
            row.status, row.processed = status, True
            row.detail = {"error": f"run ended {status}; its URLs are read again next round"}
        return
    items = await runs.dataset_items(dataset_id)
    async with db, scope() as session:
        repo = ClippersRepository(session)
        row = await repo.apify_run(job_key, batch)
        assert row is not None
        if row.processed:
            return
        readings, stopped = await _apply_items(session, row.workspace_id, urls, items, run_id)
        row.status, row.processed = status, True
        row.detail = {"items": len(items), "readings": readings, "stopped": stopped}
    result.readings += readings
    result.stopped += stopped


async def _apply_items(
    session: AsyncSession, workspace_id: uuid.UUID, urls: list[str], items: list[dict[str, Any]], run_id: str
) -> tuple[int, int]:
    repo = ClippersRepository(session)
    subs = await repo.submissions_by_urls_for_update(workspace_id, urls)
    by_url = {s.url: s for s in subs}
    by_video = {s.video_id: s for s in subs}
    now = utcnow()
    readings = stopped = 0
    seen: set[uuid.UUID] = set()
    daily: list[tuple[ClipperSubmission, int]] = []
    for item in items:
        url, video_id = _item_key(item)
        sub = by_url.get(url or "") or by_video.get(video_id or "")
        if sub is None or sub.id in seen or sub.status != "approved":
            continue
        seen.add(sub.id)
        if item.get("error") or item.get("playCount") is None:
            sub.status = "stopped"
            sub.reason = f"video unavailable: {item.get('error') or 'no view count'}"
            sub.last_tracked_at = now
            stopped += 1
            continue
        views = int(item["playCount"])
        sub.last_views = views
        sub.peak_views = max(sub.peak_views, views)  # a falling count never lowers earnings
        sub.last_tracked_at = now
        daily.append((sub, views))
        readings += 1
    await repo.upsert_daily_many(daily, now.date(), now)
    await repo.add_readings(daily, now, run_id)
    await session.flush()
    return readings, stopped


# --- earnings ---------------------------------------------------------------------------


async def credit_earnings(session: AsyncSession, campaign_id: uuid.UUID) -> tuple[int, bool]:
    """Credit what the campaign's submissions earned since the last run, in this one
    transaction (campaign row locked): ledger credits, `spent`, `budget_exhausted`.
    Returns (credited now, exhausted now)."""
    repo = ClippersRepository(session)
    campaign = await repo.lock_campaign(campaign_id)
    if campaign is None or campaign.status != "active":
        return 0, False
    terms = domain.PayTerms(
        rate_per_1000=campaign.rate_per_1000_minor,
        min_views=campaign.min_views,
        max_per_submission=campaign.max_per_submission_minor,
    )
    subs = await repo.approved_in_campaign(campaign.id)
    credited = await repo.credited_by_submission(campaign.id)
    claims = [
        domain.Claim(
            submission_id=s.id,
            approved_at=s.approved_at or s.created_at,
            entitled=domain.entitlement(s.peak_views, s.baseline_views or 0, terms),
            credited=credited.get(s.id, 0),
        )
        for s in subs
    ]
    spent = sum(credited.values())
    allocation = domain.allocate(claims, budget=campaign.budget_minor, spent=spent)
    by_id = {s.id: s for s in subs}
    for sid, amount in allocation.credits.items():
        session.add(
            LedgerEntry(
                workspace_id=campaign.workspace_id,
                campaign_id=campaign.id,
                clipper_id=by_id[sid].clipper_id,
                submission_id=sid,
                kind="credit",
                amount_minor=amount,
                currency=campaign.currency,
                views=by_id[sid].peak_views,
            )
        )
    exhausted = allocation.spent_after >= campaign.budget_minor
    campaign.spent_minor = allocation.spent_after
    if exhausted:
        campaign.status = "budget_exhausted"
    campaign.updated_at = utcnow()
    await session.flush()
    return sum(allocation.credits.values()), exhausted


# --- payouts ----------------------------------------------------------------------------


async def balance(
    session: AsyncSession, workspace_id: uuid.UUID, clipper_id: uuid.UUID, currency: str = "USD"
) -> domain.Balance:
    row = await ClippersRepository(session).balance(workspace_id, clipper_id, currency)
    return domain.Balance(credited=row.credited, paid=row.paid, pending=row.pending)


async def request_payout(session: AsyncSession, principal: Principal, amount_minor: int, currency: str) -> Payout:
    if principal.role != "clipper":
        raise Forbidden("only clippers request payouts")
    currency = domain.check_currency(currency)
    repo = ClippersRepository(session)
    # Serialise this clipper's payout requests: a concurrent one waits here and then sees
    # the first one's pending amount.
    if await repo.lock_member(principal.workspace_id, principal.user_id) is None:
        raise NotFound("not a member of this workspace")
    current = await balance(session, principal.workspace_id, principal.user_id, currency)
    domain.check_payout_request(amount_minor, current, get_settings().clippers.payout_minimum_minor)
    return await repo.add(
        Payout(
            workspace_id=principal.workspace_id,
            clipper_id=principal.user_id,
            amount_minor=amount_minor,
            currency=currency,
            status="requested",
        )
    )


async def _payout_for_update(session: AsyncSession, principal: Principal, payout_id: uuid.UUID) -> Payout:
    _require_manager(principal)
    payout = await ClippersRepository(session).get_payout(principal.workspace_id, payout_id, for_update=True)
    if payout is None:
        raise NotFound("no such payout in this workspace")
    return payout


async def approve_payout(session: AsyncSession, principal: Principal, payout_id: uuid.UUID) -> Payout:
    payout = await _payout_for_update(session, principal, payout_id)
    if payout.status != "requested":
        raise Conflict(f"the payout is {payout.status}")
    payout.status, payout.decided_by, payout.updated_at = "approved", principal.user_id, utcnow()
    await session.flush()
    return payout


async def mark_payout_paid(
    session: AsyncSession, principal: Principal, payout_id: uuid.UUID, external_reference: str
) -> Payout:
    payout = await _payout_for_update(session, principal, payout_id)
    if not external_reference.strip():
        raise InvalidInput("the payment's external reference", field="external_reference")
    if payout.status == "paid":
        if payout.external_reference == external_reference.strip():
            return payout  # the same request again: nothing paid twice
        raise Conflict("the payout is already paid")
    if payout.status != "approved":
        raise Conflict(f"the payout is {payout.status}; approve it first")
    payout.status, payout.external_reference = "paid", external_reference.strip()
    payout.paid_at = payout.updated_at = utcnow()
    payout.decided_by = principal.user_id
    session.add(
        LedgerEntry(
            workspace_id=payout.workspace_id,
            campaign_id=None,
            clipper_id=payout.clipper_id,
            payout_id=payout.id,
            kind="payout",
            amount_minor=payout.amount_minor,
            currency=payout.currency,
        )
    )
    await session.flush()
    return payout


async def reject_payout(session: AsyncSession, principal: Principal, payout_id: uuid.UUID, reason: str) -> Payout:
    payout = await _payout_for_update(session, principal, payout_id)
    if not reason.strip():
        raise InvalidInput("a reason", field="reason")
    if payout.status not in ("requested", "approved"):
        raise Conflict(f"the payout is {payout.status}")
    payout.status, payout.reason, payout.decided_by, payout.updated_at = (
        "rejected",
        reason.strip(),
        principal.user_id,
        utcnow(),
    )
    await session.flush()
    return payout


async def list_payouts(session: AsyncSession, principal: Principal) -> list[Payout]:
    clipper = None if _is_manager(principal) else principal.user_id
    return await ClippersRepository(session).list_payouts(principal.workspace_id, clipper)


# --- analytics --------------------------------------------------------------------------


async def campaign_analytics(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID) -> dict[str, Any]:
    _require_manager(principal)
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


async def clipper_analytics(
    session: AsyncSession, principal: Principal, clipper_id: uuid.UUID, currency: str = "USD"
) -> dict[str, Any]:
    if not _is_manager(principal) and clipper_id != principal.user_id:
        raise NotFound("no such clipper in this workspace")
    currency = domain.check_currency(currency)
    bal = await balance(session, principal.workspace_id, clipper_id, currency)
    views = await ClippersRepository(session).clipper_views(principal.workspace_id, clipper_id)
    return {
        "clipper_id": str(clipper_id),
        "currency": currency,
        "views": views,
        "earned_minor": bal.credited,
        "pending_minor": bal.pending,
        "paid_minor": bal.paid,
        "available_minor": bal.available,
    }


LEDGER_COLUMNS = (
    "created_at",
    "kind",
    "campaign_id",
    "clipper_id",
    "submission_id",
    "payout_id",
    "amount_minor",
    "currency",
    "views",
)


async def ledger_csv(session: AsyncSession, principal: Principal, campaign_id: uuid.UUID | None = None) -> str:
    _require_manager(principal)
    rows = await ClippersRepository(session).ledger(principal.workspace_id, campaign_id)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(LEDGER_COLUMNS)
    for r in rows:
        writer.writerow(
            [
                r.created_at.isoformat(),
                r.kind,
                r.campaign_id or "",
                r.clipper_id,
                r.submission_id or "",
                r.payout_id or "",
                r.amount_minor,
                r.currency,
                "" if r.views is None else r.views,
            ]
        )
    return out.getvalue()


async def workspaces_to_track(session: AsyncSession) -> list[uuid.UUID]:
    return await ClippersRepository(session).workspaces_with_active_campaigns()


async def start_tracking(session: AsyncSession, workspace_id: uuid.UUID, *, key: str | None) -> EnqueueResult:
    """One tracking round for this workspace now (the same job the schedule runs)."""
    return await enqueue(
        session, "clippers.track_views", {"workspace_id": str(workspace_id)}, key=key, workspace_id=workspace_id
    )
