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
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import CreatorDiscovery, ImageFetcher
from reelflow.adapters.records import Creator, Video
from reelflow.domain import discovery as rules
from reelflow.domain import ingest, plans
from reelflow.errors import Conflict, Forbidden, LimitExceeded, NotFound, Permanent, ReelflowError
from reelflow.logs import get_logger
from reelflow.queue import cancel_run, enqueue
from reelflow.settings import DiscoverySettings, get_settings
from reelflow.storage.blobs import BlobStore
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.discovery import DiscoveryCampaign, DiscoverySearch
from reelflow.storage.repositories.clipping import ClippingRepository
from reelflow.storage.repositories.discovery import DiscoveryRepository, ResultFilters, ResultRow
from reelflow.storage.repositories.runtime import RuntimeRepository

log = get_logger(__name__)
SEARCH_TASK = "discovery.run_search"
EMPTY_PAGES_IN_A_ROW = 3  # a keyword whose provider keeps answering empty pages is done


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


async def delete_campaign(session: AsyncSession, workspace_id: uuid.UUID, campaign_id: uuid.UUID) -> None:
    repo = DiscoveryRepository(session)
    campaign = await repo.get_campaign(workspace_id, campaign_id, lock=True)
    if campaign is None:
        raise NotFound("no such campaign in this workspace")
    if await repo.open_searches_of_campaign(campaign.id):
        raise Conflict("the campaign has searches running; cancel them first")
    await repo.delete_campaign(campaign.id)


# --- starting a search -------------------------------------------------------------------------


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


# --- the search job ----------------------------------------------------------------------------


@dataclass
class _Run:
    search_id: uuid.UUID
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    target: int
    deadline: datetime
    pages: int
    found: int
    items_seen: int
    credits_used: int
    credits_remaining: int | None
    cursors: dict[str, Any]
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    pending: list[Any] = field(default_factory=list)
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    outcome: str | None = None  # timeout | lost | cancelled
    error: str | None = None


def _creator_row(creator: Creator, *, fallback_id: str | None = None) -> dict[str, Any] | None:
    external_id = creator.id or fallback_id
    if not external_id or not creator.handle:
        return None
    bio = creator.bio or None
    links = rules.extract_links(bio)
    if creator.external_url:
        links = list(dict.fromkeys([creator.external_url, *links]))
    return {
        "platform": creator.platform,
        "external_id": external_id,
        "handle": creator.handle,
        "display_name": creator.display_name,
        "followers": creator.followers,
        "following": creator.following,
        "likes": creator.likes,
        "video_count": creator.video_count,
        "verified": creator.verified,
        "bio": bio,
        "emails": rules.extract_emails(bio),
        "links": links,
        "region": (creator.region or None) and str(creator.region)[:8],
        "avatar_url": creator.avatar_url,
        "profile_url": creator.url,
    }


def _video_row(video: Video) -> dict[str, Any]:
    stats = video.stats
    return {
        "id": video.id,
        "url": video.url,
        "caption": (video.caption or "")[:300],
        "created_at": video.created_at.isoformat() if video.created_at else None,
        "views": stats.views if stats else None,
        "likes": stats.likes if stats else None,
        "comments": stats.comments if stats else None,
        "shares": stats.shares if stats else None,
        "cover_url": video.cover_url,
    }


@dataclass
class _Page:
    """One provider answer, waiting to be committed."""

    creators: Sequence[tuple[dict[str, Any], str | None, Sequence[dict[str, Any]]]]
    cursor: dict[str, Any]  # merged into the search's cursors (keyword → state, or seed state)
    items: int
    credits: int
    credits_remaining: int | None
    expanded: uuid.UUID | None = None
    enrich: dict[str, Any] | None = None
    done: asyncio.Future[bool] | None = None


async def _submit(run: _Run, page: _Page, videos_cap: int) -> bool:
    """Commit `page` (group commit: whoever holds the lock commits every page that arrived
    meanwhile, in one transaction, each with its own cursor). False when the search is no
    longer this attempt's to write (cancelled, timed out, taken over)."""
    page.done = asyncio.get_running_loop().create_future()
    run.pending.append(page)
    async with run.lock:
        if not page.done.done():
            batch, run.pending = run.pending, []
            try:
                ok = await _commit_pages(run, batch, videos_cap)
            except BaseException as exc:
                for item in batch:
                    if item.done is not None and not item.done.done() and item is not page:
                        item.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("stopped"))
                raise
            for item in batch:
                if item.done is not None and not item.done.done():
                    item.done.set_result(ok)
    return page.done.result()


async def _commit_pages(run: _Run, batch: Sequence[_Page], videos_cap: int) -> bool:
    """Pages, one transaction: creators, links, cursors and counts."""
    if run.outcome in ("lost", "cancelled"):
        return False
    async with session_scope() as session:
        repo = DiscoveryRepository(session)
        rows: dict[str, dict[str, Any]] = {}
        wanted: dict[str, tuple[set[str], list[dict[str, Any]]]] = {}
        cursors = dict(run.cursors)
        items = credits = 0
        credits_remaining = run.credits_remaining
        for page in batch:
            for row, keyword, videos in page.creators:
                rows.setdefault(row["external_id"], row)
                keywords, vids = wanted.setdefault(row["external_id"], (set(), []))
                if keyword:
                    keywords.add(keyword)
                vids.extend(videos)
            if page.enrich is not None:
                ext = page.enrich["external_id"]
                rows[ext] = {**rows.get(ext, {}), **page.enrich}
            cursors.update(page.cursor)
            items += page.items
            credits += page.credits
            if page.credits_remaining is not None:
                credits_remaining = page.credits_remaining
        ids = await repo.upsert_creators(run.workspace_id, list(rows.values()))
        by_id = {ids[ext]: value for ext, value in wanted.items()}
        existing = await repo.links_for(run.search_id, list(by_id))
        links = []
        found = run.found
        now = utcnow()
        for creator_id, (keywords, vids) in by_id.items():
            link = existing.get(creator_id)
            if link is None:
                found += 1
                merged = rules.merge_videos([], vids, videos_cap)
                position, old_keywords, found_at = found, set(), now
            elif not keywords <= set(link.keywords or []) or vids:
                merged = rules.merge_videos(link.videos or [], vids, videos_cap)
                position, old_keywords, found_at = link.position, set(link.keywords or []), link.found_at
            else:
                continue
            avg_views, rate = rules.video_summary(merged)
            links.append(
                {
                    "search_id": run.search_id,
                    "creator_id": creator_id,
                    "workspace_id": run.workspace_id,
                    "campaign_id": run.campaign_id,
                    "position": position,
                    "keywords": sorted(old_keywords | keywords),
                    "videos": merged,
                    "avg_views": avg_views,
                    "engagement_rate": rate,
                    "found_at": found_at,
                }
            )
        await repo.upsert_links(links)
        for page in batch:
            if page.expanded is not None:
                await repo.mark_expanded(run.search_id, page.expanded, now)
        pages = run.pages + len(batch)
        ok = await repo.record_page(
            run.search_id,
            expected_pages=run.pages,
            pages=pages,
            found=found,
            items_seen=run.items_seen + items,
            credits_used=run.credits_used + credits,
            credits_remaining=credits_remaining,
            cursors=cursors,
            last_page_at=now,
        )
        if not ok:
            await session.rollback()
            run.outcome = "lost" if run.outcome is None else run.outcome
            run.stop.set()
            return False
    run.pages, run.found = pages, found
    run.items_seen += items
    run.credits_used += credits
    run.credits_remaining = credits_remaining
    run.cursors = cursors
    return True


async def _fail_or_raise(exc: ReelflowError) -> str | None:
    """The error text that ends a search for good, or None to let the runtime retry."""
    if isinstance(exc, LimitExceeded) and (exc.limit or "").startswith("scrapecreators.credits"):
        return f"the provider's credits are exhausted ({exc.detail})"
    if isinstance(exc, NotFound):
        return f"not found at the provider ({exc.detail})"
    if isinstance(exc, Permanent) or (400 <= exc.status < 500 and not isinstance(exc, LimitExceeded)):
        return f"the provider refused the search ({exc.detail})"
    return None


async def run_search(
    search_id: uuid.UUID,
    *,
    source: CreatorDiscovery,
    is_cancelled: Callable[[], bool] = lambda: False,
    report: Callable[[int, str], Awaitable[None]] | None = None,
    settings: DiscoverySettings | None = None,
) -> dict[str, Any]:
    """The body of the search job: resume from the saved cursor, page until done, close."""
    settings = settings or get_settings().discovery
    async with session_scope() as session:
        search = await DiscoveryRepository(session).claim_search(search_id, utcnow())
    if search is None:
        async with session_scope() as session:
            current = await DiscoveryRepository(session).load_search(search_id)
        if current is None:
            raise NotFound(f"search {search_id} is gone")
        return {"search_id": str(search_id), "status": current.status, "found": current.found}
    run = _Run(
        search_id=search.id,
        workspace_id=search.workspace_id,
        campaign_id=search.campaign_id,
        target=search.target,
        deadline=search.deadline_at,
        pages=search.pages,
        found=search.found,
        items_seen=search.items_seen,
        credits_used=search.credits_used,
        credits_remaining=search.credits_remaining,
        cursors=dict(search.cursors or {}),
    )

    last_report = [0.0]

    async def progress() -> None:
        now = time.monotonic()
        if report is not None and now - last_report[0] >= 0.5:
            last_report[0] = now
            await report(rules.progress(run.found, run.target, "processing"), f"{run.found}/{run.target} creators")

    def should_stop() -> bool:
        if run.stop.is_set():
            return True
        if is_cancelled():
            run.outcome = run.outcome or "cancelled"
            run.stop.set()
        elif utcnow() >= run.deadline:
            run.outcome = run.outcome or "timeout"
            run.stop.set()
        elif run.found >= run.target:
            run.stop.set()
        return run.stop.is_set()

    try:
        if search.kind == "keyword":
            await _page_keywords(run, list(search.keywords), source, settings, should_stop, progress)
        else:
            await _expand_similar(run, search.handle or "", source, settings, should_stop, progress)
    except ReelflowError as exc:
        reason = await _fail_or_raise(exc)
        if reason is None:
            raise  # 429 / 5xx after the HTTP layer's own retries: the runtime retries, resuming here
        async with session_scope() as session:
            await _close(session, search_id, "error", error=reason)
        log.warning("discovery.search_failed", search_id=str(search_id), reason=reason)
        return {"search_id": str(search_id), "status": "error", "found": run.found, "error": reason}

    if run.outcome == "cancelled":  # the job itself was cancelled (the search may still be open)
        async with session_scope() as session:
            await _close(session, search_id, "cancelled")
    if run.outcome in ("lost", "cancelled"):
        return {"search_id": str(search_id), "status": run.outcome, "found": run.found}
    status = "timeout" if run.outcome == "timeout" else "completed"
    error = "the search ran past its time limit; the creators found so far are kept" if status == "timeout" else None
    async with session_scope() as session:
        closed = await _close(session, search_id, status, error=error)
    final = closed.status if closed is not None else status
    return {"search_id": str(search_id), "status": final, "found": run.found, "pages": run.pages}


async def _all_or_none(coros: Sequence[Coroutine[Any, Any, None]]) -> None:
    """Run `coros` concurrently; the first failure cancels the others (no page is fetched
    after the search has failed) and is raised as it is."""
    tasks = [asyncio.ensure_future(c) for c in coros]
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for t in pending:
        t.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    for t in tasks:
        if t.done() and not t.cancelled():
            error = t.exception()
            if error is not None:
                raise error


async def _page_keywords(
    run: _Run,
    keywords: list[str],
    source: CreatorDiscovery,
    settings: DiscoverySettings,
    should_stop: Callable[[], bool],
    progress: Callable[[], Awaitable[None]],
) -> None:
    """Each keyword pages by its own cursor; up to `keyword_concurrency` pages in flight;
    pages are committed one at a time."""
    semaphore = asyncio.Semaphore(settings.keyword_concurrency)

    async def one_keyword(keyword: str) -> None:
        state = dict(run.cursors.get(keyword) or {"cursor": 0, "pages": 0, "empty": 0, "done": False})
        while not should_stop():
            if state.get("done") or state["pages"] >= settings.max_pages_per_keyword:
                return
            async with semaphore:
                if should_stop():
                    return
                page = await source.search_keyword(keyword, cursor=int(state["cursor"]))
            creators = []
            for video in page.videos:
                if video.author is None:
                    continue
                row = _creator_row(video.author)
                if row is not None:
                    creators.append((row, keyword, [_video_row(video)]))
            empty = 0 if page.videos else int(state.get("empty", 0)) + 1
            done = (
                not page.has_more
                or page.cursor <= int(state["cursor"])
                or empty >= EMPTY_PAGES_IN_A_ROW
                or state["pages"] + 1 >= settings.max_pages_per_keyword
            )
            state = {"cursor": page.cursor, "pages": state["pages"] + 1, "empty": empty, "done": done}
            ok = await _submit(
                run,
                _Page(
                    creators=creators,
                    cursor={keyword: state},
                    items=page.items or len(page.videos),
                    credits=settings.credits_per_search_page,
                    credits_remaining=page.credits_remaining,
                ),
                settings.videos_per_creator,
            )
            if not ok:
                return
            await progress()

    await _all_or_none([one_keyword(k) for k in keywords])


async def _expand_similar(
    run: _Run,
    handle: str,
    source: CreatorDiscovery,
    settings: DiscoverySettings,
    should_stop: Callable[[], bool],
    progress: Callable[[], Awaitable[None]],
) -> None:
    """Instagram similar creators: the seed's related profiles first; then, breadth first,
    each found creator's own profile (its follower count, bio and contact) and its related
    profiles, `similar_concurrency` profiles at a time, each committed as it arrives (the
    link's `expanded_at` is the cursor)."""
    seed_key = handle.lower()
    if not run.cursors.get("seed_done"):
        if should_stop():
            return
        profile = await source.instagram_profile(handle)
        seed_id = profile.creator.id or profile.creator.handle
        rows: list[tuple[dict[str, Any], str | None, list[dict[str, Any]]]] = [
            (row, None, [])
            for c in profile.related
            if c.handle.lower() != seed_key and (row := _creator_row(c, fallback_id=c.handle)) is not None
        ]
        ok = await _submit(
            run,
            _Page(
                creators=rows,
                cursor={"seed_done": True, "seed_id": seed_id},
                items=len(profile.related),
                credits=settings.credits_per_profile,
                credits_remaining=profile.credits_remaining,
            ),
            settings.videos_per_creator,
        )
        if not ok:
            return
        await progress()
    seed_id = str(run.cursors.get("seed_id") or "")

    while not should_stop():
        # Each profile brings up to ~80 related profiles, fewer new ones as the circle closes:
        # fetch only about as many at once as the creators still missing call for.
        wanted = max(1, min(settings.similar_concurrency, -(-(run.target - run.found) // 40)))
        async with session_scope() as session:
            batch = await DiscoveryRepository(session).frontier(run.search_id, wanted)
        if not batch:
            return

        async def expand(creator_id: uuid.UUID, node_handle: str) -> None:
            if should_stop():
                return
            try:
                profile = await source.instagram_profile(node_handle)
            except NotFound:
                profile = None
            related: list[tuple[dict[str, Any], str | None, list[dict[str, Any]]]] = []
            enrich = None
            if profile is not None:
                enrich = _creator_row(profile.creator, fallback_id=profile.creator.handle)
                for c in profile.related:
                    if c.handle.lower() == seed_key or (c.id and c.id == seed_id):
                        continue
                    row = _creator_row(c, fallback_id=c.handle)
                    if row is not None:
                        related.append((row, None, []))
            ok = await _submit(
                run,
                _Page(
                    creators=related,
                    cursor={},
                    items=len(profile.related) if profile else 0,
                    credits=settings.credits_per_profile,
                    credits_remaining=profile.credits_remaining if profile else None,
                    expanded=creator_id,
                    enrich=enrich,
                ),
                settings.videos_per_creator,
            )
            if not ok:
                return
            await progress()

        await _all_or_none([expand(cid, h) for cid, h in batch])


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


# --- image proxy -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProxiedImage:
    data: bytes
    content_type: str
    etag: str
    cached: bool


def image_rules(
    settings: DiscoverySettings, *, production: bool, sandbox_url: str | None
) -> tuple[Callable[[str], None], Callable[[str, Sequence[str]], None]]:
    """The proxy's rules for every hop: https (http only for allowed dev origins), a host
    in the allow-list, and only public addresses (outside production the sandbox origin,
    which is on 127.0.0.1, is allowed)."""
    hosts = rules.parse_host_patterns(settings.image_hosts)
    dev_origins = ingest.allowed_import_origins(production=production, sandbox_url=sandbox_url, extra=None)
    dev_hosts = {o.split("://", 1)[1].rsplit(":", 1)[0].strip("[]") for o in dev_origins}

    def allow(url: str) -> None:
        try:
            source = ingest.parse_source_url(url)
        except ReelflowError:
            raise Forbidden("the image URL is not a valid http(s) URL") from None
        if source.origin in dev_origins:
            return
        if source.scheme != "https":
            raise Forbidden("only https image hosts are fetched")
        if not rules.host_allowed(source.host, hosts) and source.host not in dev_hosts:
            raise Forbidden(f"the host {source.host} is not an allowed image host")

    def addresses_ok(url: str, addresses: Sequence[str]) -> None:
        source = ingest.parse_source_url(url)
        try:
            ingest.check_addresses(source, list(addresses), dev_origins)
        except ReelflowError as exc:
            raise Forbidden(f"refused: {exc.detail}") from None

    return allow, addresses_ok


def image_path(secret: bytes, url: str | None) -> str | None:
    if not url:
        return None
    return f"/api/v1/discovery/images/{rules.sign_image_url(secret, url)}"


async def proxy_image(
    token: str,
    *,
    secret: bytes,
    fetcher: ImageFetcher,
    blobs: BlobStore,
    allow: Callable[[str], None],
    addresses_ok: Callable[[str, Sequence[str]], None],
) -> ProxiedImage:
    """A signed avatar URL → the image bytes, from the blob cache or fetched once."""
    url = rules.verify_image_token(secret, token)
    allow(url)
    key = rules.image_cache_key(url)
    meta_key = key + ".type"
    if await blobs.size(key) is not None:
        data = await blobs.read_bytes(key)
        content_type = (await blobs.read_bytes(meta_key)).decode() if await blobs.size(meta_key) else "image/jpeg"
        return ProxiedImage(data, content_type, _etag(key), cached=True)
    started = time.monotonic()
    image = await fetcher.fetch(url, allow=allow, addresses_ok=addresses_ok)
    await blobs.write_bytes(meta_key, image.content_type.encode())
    await blobs.write_bytes(key, image.data)
    log.info("discovery.image_fetched", bytes=len(image.data), seconds=round(time.monotonic() - started, 3))
    return ProxiedImage(image.data, image.content_type, _etag(key), cached=False)


def _etag(key: str) -> str:
    return '"' + key.rsplit("/", 1)[-1][:32] + '"'
