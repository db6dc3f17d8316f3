"""Clipper programmes: submissions (clippers submit clip URLs) and their review (owners/admins)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import ShortLinkResolver, StatsByIds, StatsByUrls
from reelflow.adapters.records import VideoStats
from reelflow.domain import clippers as domain
from reelflow.errors import Conflict, Forbidden, InvalidInput, NotFound
from reelflow.services.clippers_base import is_manager, require_manager
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clippers import ClipperSubmission
from reelflow.storage.repositories.clippers import ClippersRepository
from reelflow.storage.repositories.identity import Principal


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
    if sub is None or (not is_manager(principal) and sub.clipper_id != principal.user_id):
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
    clipper = None if is_manager(principal) else principal.user_id
    return await ClippersRepository(session).list_submissions(
        principal.workspace_id, clipper_id=clipper, campaign_id=campaign_id, status=status
    )


async def current_stats(sub: ClipperSubmission, *, stats: StatsByUrls, youtube: StatsByIds) -> VideoStats | None:
    """The clip's stats now: TikTok through the scraper (by URL), a YouTube Short through the
    Data API (by id, 1 quota unit); None when the video is not public."""
    if sub.platform == "youtube":
        found = [s for s in await youtube.fetch_stats([sub.video_id]) if s.video_id == sub.video_id]
        return found[0] if found else None
    return (await stats.fetch_stats([sub.url])).get(sub.url)


async def approve_submission(
    session: AsyncSession,
    principal: Principal,
    submission_id: uuid.UUID,
    *,
    stats: StatsByUrls,
    youtube: StatsByIds,
) -> ClipperSubmission:
    """Approve a pending submission; its current views become the baseline (unless the
    campaign pays views from before approval). TikTok views come from the scraper, YouTube
    Shorts' from the YouTube Data API."""
    require_manager(principal)
    repo = ClippersRepository(session)
    sub = await repo.get_submission(principal.workspace_id, submission_id, for_update=True)
    if sub is None:
        raise NotFound("no such submission in this workspace")
    if sub.status != "pending":
        raise Conflict(f"the submission is already {sub.status}")
    campaign = await repo.get_campaign(principal.workspace_id, sub.campaign_id)
    assert campaign is not None
    current = await current_stats(sub, stats=stats, youtube=youtube)
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
    require_manager(principal)
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
