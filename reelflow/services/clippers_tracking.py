"""Clipper programmes: view tracking rounds (asynchronous Apify runs in batches, readings)
and the earnings they credit (one transaction per campaign).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import AsyncScraperRuns, StatsByIds
from reelflow.domain import clippers as domain
from reelflow.errors import Permanent
from reelflow.queue import EnqueueResult, enqueue
from reelflow.services.clippers_base import SessionScope
from reelflow.settings import get_settings
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clippers import ApifyRun, ClipperSubmission, LedgerEntry
from reelflow.storage.repositories.clippers import ClippersRepository

DONE_STATUSES = {"SUCCEEDED", "FAILED", "ABORTED", "TIMED-OUT"}
YOUTUBE = "youtube"  # `detail.source` of a batch read through the YouTube Data API
YOUTUBE_BATCH = 50  # ids per videos.list call (1 quota unit)


@dataclass
class TrackingResult:
    submissions: int = 0
    batches: int = 0
    runs_started: int = 0
    runs_reused: int = 0
    runs_failed: int = 0
    readings: int = 0
    stopped: int = 0
    youtube_batches: int = 0
    youtube_units: int = 0  # videos.list calls (1 quota unit each)
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
    youtube: StatsByIds,
    batch_size: int | None = None,
    concurrency: int | None = None,
    heartbeat: Callable[[], Any] | None = None,
) -> TrackingResult:
    """One tracking round for a workspace: TikTok clips through Apify runs in batches
    (asynchronous), YouTube Shorts through the Data API (50 ids a call), readings, then
    earnings per campaign. Every batch is recorded under (job_key, batch) before it is read,
    and every Apify run id before it is waited for, so a retried job reads the same run
    instead of paying for another, and applies each batch's readings once.

    A batch that fails (a 429 or 5xx past httpclient's retries, YouTube's quota) does not stop
    the others; earnings are credited for what was read, then the first error is raised for
    the job runtime to retry the round (its done batches are skipped)."""
    settings = get_settings().clippers
    batch_size = batch_size or settings.tracking_batch_size
    result = TrackingResult()
    async with scope() as session:
        repo = ClippersRepository(session)
        subs = await repo.trackable_submissions(workspace_id)
        result.submissions = len(subs)
        urls = {p: [s.url for s in subs if s.platform == p] for p in ("tiktok", YOUTUBE)}
        planned = await _plan_batches(session, workspace_id, job_key, urls["tiktok"], batch_size, source="apify")
        planned = await _plan_batches(session, workspace_id, job_key, urls[YOUTUBE], YOUTUBE_BATCH, source=YOUTUBE)
    result.batches = len(planned)
    sem = asyncio.Semaphore(concurrency or settings.tracking_concurrency)
    # Runs wait on Apify with no connection held; database work is bounded below the pool size.
    db = asyncio.Semaphore(settings.tracking_db_concurrency)

    async def one(batch: int) -> None:
        async with sem:
            await _run_batch(
                scope, job_key, batch, runs=runs, youtube=youtube, result=result, heartbeat=heartbeat, db=db
            )

    outcomes = await asyncio.gather(*(one(b) for b in planned), return_exceptions=True)
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    async with scope() as session:
        campaigns = await ClippersRepository(session).list_campaigns(workspace_id, statuses=("active",))
    for campaign in campaigns:  # derived from the ledger: crediting what was read is safe to repeat
        async with scope() as session:
            credited, exhausted = await credit_earnings(session, campaign.id)
        result.credited_minor += credited
        if exhausted:
            result.campaigns_exhausted.append(str(campaign.id))
    if errors:  # every batch got its chance; runs started are recorded for the retry
        raise errors[0]
    return result


async def _plan_batches(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    job_key: str,
    urls: list[str],
    batch_size: int,
    *,
    source: str,
) -> list[int]:
    """Batches of this job: those recorded by an earlier attempt (same URLs), then new ones
    for URLs no recorded batch covers. Committed by the caller's scope. Returns every batch
    of the job (all sources)."""
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
                detail={"source": source},
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
    youtube: StatsByIds,
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
        source = (row.detail or {}).get("source")
    if source == YOUTUBE:
        video_ids = {u: domain.normalise_clip_url(u).video_id for u in urls}  # canonical Shorts URLs
        await _run_youtube_batch(scope, job_key, batch, urls, video_ids, youtube=youtube, result=result, db=db)
        return
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
    # long poll (waitForFinish) from the first read: Apify answers at once when the run is over,
    # else when it ends (≤ 60 s), so a run costs about one status request, not one per poll
    status = await runs.run_status(run_id, wait_s=settings.run_long_poll_seconds)
    while status not in DONE_STATUSES:
        if time.monotonic() > deadline:
            raise Permanent(f"Apify run {run_id} did not finish within {settings.run_wait_seconds} s")
        if heartbeat is not None:
            await heartbeat()
        await asyncio.sleep(settings.run_poll_seconds)
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


async def _run_youtube_batch(
    scope: SessionScope,
    job_key: str,
    batch: int,
    urls: list[str],
    video_ids: dict[str, str],
    *,
    youtube: StatsByIds,
    result: TrackingResult,
    db: asyncio.Semaphore,
) -> None:
    """One videos.list call (≤ 50 ids, 1 quota unit) for a batch of Shorts, applied once. An
    id missing from the answer is a Short that is deleted, private or unknown: it stops."""
    result.youtube_units += 1
    stats = {s.video_id: s for s in await youtube.fetch_stats(list(video_ids.values()))}
    items: list[dict[str, Any]] = []
    for url in urls:
        vid = video_ids.get(url)
        found = stats.get(vid or "")
        if found is None:
            items.append({"url": url, "id": vid, "error": "not public on YouTube (deleted, private or unknown)"})
        else:
            items.append({"url": url, "id": vid, "playCount": found.views})
    async with db, scope() as session:
        row = await ClippersRepository(session).apify_run(job_key, batch)
        assert row is not None
        if row.processed:
            return
        readings, stopped = await _apply_items(session, row.workspace_id, urls, items, f"youtube:{batch}")
        row.status, row.processed = "SUCCEEDED", True
        row.detail = {"source": YOUTUBE, "items": len(items), "readings": readings, "stopped": stopped}
    result.youtube_batches += 1
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


async def workspaces_to_track(session: AsyncSession) -> list[uuid.UUID]:
    return await ClippersRepository(session).workspaces_with_active_campaigns()


async def start_tracking(session: AsyncSession, workspace_id: uuid.UUID, *, key: str | None) -> EnqueueResult:
    """One tracking round for this workspace now (the same job the schedule runs)."""
    return await enqueue(
        session, "clippers.track_views", {"workspace_id": str(workspace_id)}, key=key, workspace_id=workspace_id
    )
