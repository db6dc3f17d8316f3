"""Discovery: the search job (`run_search`), which pages the provider and commits after every
page (see `reelflow.services.discovery` for the resume and fencing guarantees)."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from reelflow.adapters.protocols import CreatorDiscovery
from reelflow.adapters.records import Creator, Video
from reelflow.domain import discovery as rules
from reelflow.errors import LimitExceeded, NotFound, Permanent, ReelflowError
from reelflow.logs import get_logger
from reelflow.services.discovery_searches import _close
from reelflow.settings import DiscoverySettings, get_settings
from reelflow.storage.db import get_engine, session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.discovery import DiscoveryRepository, KnownLink, PageLost, SearchPageWriter

log = get_logger(__name__)


EMPTY_PAGES_IN_A_ROW = 3  # a keyword whose provider keeps answering empty pages is done


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
    writer: SearchPageWriter | None = None
    # This attempt's own record of the search's links (loaded once when it starts; only the
    # attempt that holds the page fence writes them), so a page needs no read.
    ids: dict[str, uuid.UUID] = field(default_factory=dict)  # external id → creator id
    links: dict[uuid.UUID, KnownLink] = field(default_factory=dict)
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
    """Pages, one transaction of two statements: creators new to this search (and profile
    details), then links, cursors and counts, fenced on the page count."""
    if run.outcome in ("lost", "cancelled"):
        return False
    assert run.writer is not None
    rows: dict[str, dict[str, Any]] = {}
    wanted: dict[str, tuple[set[str], list[dict[str, Any]]]] = {}
    cursors = dict(run.cursors)
    items = credits = 0
    credits_remaining = run.credits_remaining
    for page in batch:
        for row, keyword, videos in page.creators:
            ext = row["external_id"]
            if ext not in run.ids:  # a creator this search linked already is not written again
                rows.setdefault(ext, row)
            keywords, vids = wanted.setdefault(ext, (set(), []))
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
    now = utcnow()
    pages = run.pages + len(batch)
    try:
        async with run.writer.transaction():
            ids = dict(run.ids)
            ids.update(await run.writer.upsert_creators(run.workspace_id, list(rows.values()), now))
            links: list[dict[str, Any]] = []
            written: dict[uuid.UUID, KnownLink] = {}
            found = run.found
            for ext, (keywords, vids) in wanted.items():
                creator_id = ids[ext]
                link = run.links.get(creator_id) or written.get(creator_id)
                if link is None:
                    found += 1
                    known = KnownLink(found, sorted(keywords), rules.merge_videos([], vids, videos_cap))
                elif not keywords <= set(link.keywords) or vids:
                    merged = rules.merge_videos(link.videos, vids, videos_cap)
                    all_keywords = sorted(set(link.keywords) | keywords)
                    if merged == link.videos and all_keywords == link.keywords:
                        continue
                    known = KnownLink(link.position, all_keywords, merged)
                else:
                    continue
                written[creator_id] = known
                avg_views, rate = rules.video_summary(known.videos)
                links.append(
                    {
                        "creator_id": creator_id,
                        "position": known.position,
                        "keywords": known.keywords,
                        "videos": known.videos,
                        "avg_views": avg_views,
                        "engagement_rate": rate,
                    }
                )
            await run.writer.record_page(
                run.search_id,
                expected_pages=run.pages,
                workspace_id=run.workspace_id,
                campaign_id=run.campaign_id,
                links=links,
                pages=pages,
                found=found,
                items_seen=run.items_seen + items,
                credits_used=run.credits_used + credits,
                credits_remaining=credits_remaining,
                cursors=cursors,
                at=now,
                expanded=[page.expanded for page in batch if page.expanded is not None],
            )
    except PageLost:  # rolled back
        run.outcome = "lost" if run.outcome is None else run.outcome
        run.stop.set()
        return False
    run.ids = ids
    run.links.update(written)
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

    async with session_scope() as session:
        run.ids, run.links = await DiscoveryRepository(session).known_links(search_id)

    last_report = [0.0]

    async def progress() -> None:
        now = time.monotonic()
        if report is not None and now - last_report[0] >= settings.progress_every_s:
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
        async with get_engine().connect() as conn:  # held for the run: one connection per search
            try:
                run.writer = await SearchPageWriter.open(conn)
                if search.kind == "keyword":
                    await _page_keywords(run, list(search.keywords), source, settings, should_stop, progress)
                else:
                    await _expand_similar(run, search.handle or "", source, settings, should_stop, progress)
            except BaseException:
                # A page write may have been cut short (cancelled, connection lost): the driver
                # connection's state is unknown, so it is closed rather than pooled again.
                await conn.invalidate()
                raise
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
