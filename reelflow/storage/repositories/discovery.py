"""Queries for discovery: campaigns, searches (paging state, fenced page writes), creators,
their links to searches, and the filtered, sorted result lists."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, and_, any_, case, delete, func, literal, or_, select, true, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.base import utcnow
from reelflow.storage.models.discovery import (
    DiscoveryCampaign,
    DiscoveryCreator,
    DiscoverySearch,
    DiscoverySearchCreator,
)
from reelflow.storage.models.identity import Workspace
from reelflow.storage.models.runtime import JobRun

OPEN = ("pending", "processing")
RESULT_SORTS = ("followers", "-followers", "engagement", "-engagement", "avg_views", "-avg_views", "found", "handle")


@dataclass(frozen=True)
class ResultFilters:
    min_followers: int | None = None
    max_followers: int | None = None
    min_engagement: float | None = None
    has_email: bool | None = None
    region: str | None = None
    keyword: str | None = None


@dataclass(frozen=True)
class ResultRow:
    creator: DiscoveryCreator
    keywords: list[str]
    videos: list[Any]
    avg_views: int | None
    engagement_rate: float | None
    found_at: datetime
    position: int
    searches: int


@dataclass(frozen=True)
class FinishedSearch:
    id: uuid.UUID
    workspace_id: uuid.UUID
    campaign_id: uuid.UUID
    status: str
    reserved: int
    found: int
    created_at: datetime


class DiscoveryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- campaigns ---------------------------------------------------------------------------
    async def create_campaign(self, **values: Any) -> DiscoveryCampaign:
        campaign = DiscoveryCampaign(**values)
        self.session.add(campaign)
        await self.session.flush()
        return campaign

    async def get_campaign(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *, lock: bool = False
    ) -> DiscoveryCampaign | None:
        stmt = select(DiscoveryCampaign).where(
            DiscoveryCampaign.id == campaign_id, DiscoveryCampaign.workspace_id == workspace_id
        )
        if lock:
            stmt = stmt.with_for_update()
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_campaigns(
        self,
        workspace_id: uuid.UUID,
        *,
        status: str | None,
        after: tuple[datetime, uuid.UUID] | None,
        limit: int,
    ) -> Sequence[DiscoveryCampaign]:
        stmt = select(DiscoveryCampaign).where(DiscoveryCampaign.workspace_id == workspace_id)
        if status:
            stmt = stmt.where(DiscoveryCampaign.status == status)
        if after:
            stmt = stmt.where(
                or_(
                    DiscoveryCampaign.created_at < after[0],
                    and_(DiscoveryCampaign.created_at == after[0], DiscoveryCampaign.id < after[1]),
                )
            )
        stmt = stmt.order_by(DiscoveryCampaign.created_at.desc(), DiscoveryCampaign.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def update_campaign(self, campaign_id: uuid.UUID, **values: Any) -> None:
        values.setdefault("updated_at", utcnow())
        await self.session.execute(
            update(DiscoveryCampaign).where(DiscoveryCampaign.id == campaign_id).values(**values)
        )

    async def activate_campaign(self, campaign_id: uuid.UUID, at: datetime) -> None:
        """draft → active when its first search starts (other statuses stay)."""
        await self.session.execute(
            update(DiscoveryCampaign)
            .where(DiscoveryCampaign.id == campaign_id, DiscoveryCampaign.status == "draft")
            .values(status="active", activated_at=at, updated_at=at)
        )

    async def delete_campaign(self, campaign_id: uuid.UUID) -> None:
        await self.session.execute(delete(DiscoveryCampaign).where(DiscoveryCampaign.id == campaign_id))

    async def campaign_counts(self, campaign_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, tuple[int, int]]:
        """campaign id → (searches, distinct creators found)."""
        if not campaign_ids:
            return {}
        searches = dict(
            (
                await self.session.execute(
                    select(DiscoverySearch.campaign_id, func.count())
                    .where(DiscoverySearch.campaign_id.in_(campaign_ids))
                    .group_by(DiscoverySearch.campaign_id)
                )
            )
            .tuples()
            .all()
        )
        creators = dict(
            (
                await self.session.execute(
                    select(
                        DiscoverySearchCreator.campaign_id, func.count(func.distinct(DiscoverySearchCreator.creator_id))
                    )
                    .where(DiscoverySearchCreator.campaign_id.in_(campaign_ids))
                    .group_by(DiscoverySearchCreator.campaign_id)
                )
            )
            .tuples()
            .all()
        )
        return {cid: (int(searches.get(cid, 0)), int(creators.get(cid, 0))) for cid in campaign_ids}

    # --- searches ----------------------------------------------------------------------------
    async def create_search(self, **values: Any) -> DiscoverySearch:
        search = DiscoverySearch(**values)
        self.session.add(search)
        await self.session.flush()
        return search

    async def get_search(
        self, workspace_id: uuid.UUID, search_id: uuid.UUID, *, campaign_id: uuid.UUID | None = None
    ) -> DiscoverySearch | None:
        stmt = select(DiscoverySearch).where(
            DiscoverySearch.id == search_id, DiscoverySearch.workspace_id == workspace_id
        )
        if campaign_id is not None:
            stmt = stmt.where(DiscoverySearch.campaign_id == campaign_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def load_search(self, search_id: uuid.UUID) -> DiscoverySearch | None:
        """For the job (it takes ids, not a workspace); always a fresh read."""
        stmt = select(DiscoverySearch).where(DiscoverySearch.id == search_id).execution_options(populate_existing=True)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def search_by_run(self, workspace_id: uuid.UUID, run_id: uuid.UUID) -> DiscoverySearch | None:
        stmt = select(DiscoverySearch).where(
            DiscoverySearch.workspace_id == workspace_id, DiscoverySearch.run_id == run_id
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def list_searches(
        self, workspace_id: uuid.UUID, campaign_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> Sequence[DiscoverySearch]:
        stmt = select(DiscoverySearch).where(
            DiscoverySearch.workspace_id == workspace_id, DiscoverySearch.campaign_id == campaign_id
        )
        if after:
            stmt = stmt.where(
                or_(
                    DiscoverySearch.created_at < after[0],
                    and_(DiscoverySearch.created_at == after[0], DiscoverySearch.id < after[1]),
                )
            )
        stmt = stmt.order_by(DiscoverySearch.created_at.desc(), DiscoverySearch.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def lock_workspace(self, workspace_id: uuid.UUID) -> None:
        """Serialise searches starting in one workspace (the concurrent-searches check)."""
        await self.session.execute(select(Workspace.id).where(Workspace.id == workspace_id).with_for_update())

    async def count_open_searches(self, workspace_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(
            DiscoverySearch.workspace_id == workspace_id, DiscoverySearch.status.in_(OPEN)
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def open_searches_of_campaign(self, campaign_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(DiscoverySearch.campaign_id == campaign_id, DiscoverySearch.status.in_(OPEN))
        return int((await self.session.execute(stmt)).scalar_one())

    async def set_search(self, search_id: uuid.UUID, **values: Any) -> None:
        values.setdefault("updated_at", utcnow())
        await self.session.execute(update(DiscoverySearch).where(DiscoverySearch.id == search_id).values(**values))

    async def claim_search(self, search_id: uuid.UUID, at: datetime) -> DiscoverySearch | None:
        """pending/processing → processing (a resumed attempt claims it again); None when it
        ended meanwhile (cancelled, timed out by the sweep)."""
        stmt = (
            update(DiscoverySearch)
            .where(DiscoverySearch.id == search_id, DiscoverySearch.status.in_(OPEN))
            .values(
                status="processing",
                started_at=func.coalesce(DiscoverySearch.started_at, at),
                updated_at=at,
            )
            .returning(DiscoverySearch)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def record_page(self, search_id: uuid.UUID, *, expected_pages: int, **values: Any) -> bool:
        """Save paging state after a page, fenced: only while the search is processing and
        nobody else wrote a page since this attempt read `pages` (a presumed-dead attempt
        still running cannot overwrite a newer one)."""
        values.setdefault("updated_at", utcnow())
        stmt = (
            update(DiscoverySearch)
            .where(
                DiscoverySearch.id == search_id,
                DiscoverySearch.status == "processing",
                DiscoverySearch.pages == expected_pages,
            )
            .values(**values)
            .returning(DiscoverySearch.id)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none() is not None

    async def finish_search(
        self,
        search_id: uuid.UUID,
        status: str,
        at: datetime,
        *,
        error: str | None = None,
        workspace_id: uuid.UUID | None = None,
    ) -> FinishedSearch | None:
        """Open → a terminal status, once (the caller refunds unused reservations)."""
        stmt = update(DiscoverySearch).where(DiscoverySearch.id == search_id, DiscoverySearch.status.in_(OPEN))
        if workspace_id is not None:
            stmt = stmt.where(DiscoverySearch.workspace_id == workspace_id)
        result = await self.session.execute(
            stmt.values(status=status, error=error, finished_at=at, updated_at=at).returning(
                DiscoverySearch.id,
                DiscoverySearch.workspace_id,
                DiscoverySearch.campaign_id,
                DiscoverySearch.status,
                DiscoverySearch.reserved,
                DiscoverySearch.found,
                DiscoverySearch.created_at,
            )
        )
        row = result.one_or_none()
        return None if row is None else FinishedSearch(*row)

    async def overdue_searches(self, before: datetime, limit: int) -> list[tuple[uuid.UUID, str]]:
        """Open searches past their deadline, or whose run ended for good without closing
        them (its attempts used up, cancelled by an operator): (id, reason)."""
        overdue = (
            await self.session.execute(
                select(DiscoverySearch.id)
                .where(DiscoverySearch.status.in_(OPEN), DiscoverySearch.deadline_at < before)
                .order_by(DiscoverySearch.deadline_at)
                .limit(limit)
            )
        ).scalars()
        out = [(sid, "timeout") for sid in overdue]
        dead = (
            await self.session.execute(
                select(DiscoverySearch.id, JobRun.status, JobRun.error)
                .join(JobRun, JobRun.id == DiscoverySearch.run_id)
                .where(DiscoverySearch.status.in_(OPEN), JobRun.status.in_(("failed", "cancelled")))
                .limit(limit)
            )
        ).tuples()
        out += [(sid, f"run {status}: {error or ''}".strip()) for sid, status, error in dead]
        return out

    # --- creators and links ------------------------------------------------------------------
    async def upsert_creators(self, workspace_id: uuid.UUID, rows: Sequence[Mapping[str, Any]]) -> dict[str, uuid.UUID]:
        """Insert or refresh creators by (platform, external id); external id → creator id.
        Known values are never replaced by unknowns (a related-profile node has no follower
        count; a search result often has no bio). Rows are sorted so that concurrent writers
        lock them in one order. One cached statement, executed for many rows (compiling a
        fresh multi-row VALUES per page cost more CPU than the database work)."""
        if not rows:
            return {}
        now = utcnow()
        values = [{**dict(r), "workspace_id": workspace_id, "updated_at": now} for r in rows]
        values.sort(key=lambda r: (r["platform"], r["external_id"]))
        result = await self.session.execute(_UPSERT_CREATOR, values)
        return {str(ext): cid for ext, cid in result.tuples()}

    async def links_for(self, search_id: uuid.UUID, creator_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Any]:
        if not creator_ids:
            return {}
        link = DiscoverySearchCreator.__table__.c
        stmt = select(link.creator_id, link.position, link.keywords, link.videos, link.found_at).where(
            link.search_id == search_id, link.creator_id.in_(creator_ids)
        )
        return {row.creator_id: row for row in (await self.session.execute(stmt))}

    async def upsert_links(self, rows: Sequence[Mapping[str, Any]]) -> None:
        if not rows:
            return
        ordered = sorted((dict(r) for r in rows), key=lambda r: str(r["creator_id"]))
        await self.session.execute(_UPSERT_LINK, ordered)

    async def mark_expanded(self, search_id: uuid.UUID, creator_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            update(DiscoverySearchCreator)
            .where(DiscoverySearchCreator.search_id == search_id, DiscoverySearchCreator.creator_id == creator_id)
            .values(expanded_at=at)
        )

    async def frontier(self, search_id: uuid.UUID, limit: int) -> list[tuple[uuid.UUID, str]]:
        """Found creators whose own related profiles were not fetched yet, in order found."""
        stmt = (
            select(DiscoverySearchCreator.creator_id, DiscoveryCreator.handle)
            .join(DiscoveryCreator, DiscoveryCreator.id == DiscoverySearchCreator.creator_id)
            .where(DiscoverySearchCreator.search_id == search_id, DiscoverySearchCreator.expanded_at.is_(None))
            .order_by(DiscoverySearchCreator.position)
            .limit(limit)
        )
        return [(cid, handle) for cid, handle in (await self.session.execute(stmt)).tuples()]

    async def known_links(self, search_id: uuid.UUID) -> tuple[dict[str, uuid.UUID], dict[uuid.UUID, KnownLink]]:
        """A search's links so far, for an attempt that resumes it: (external id → creator id,
        creator id → position, keywords, videos)."""
        link = DiscoverySearchCreator.__table__.c
        stmt = (
            select(DiscoveryCreator.external_id, link.creator_id, link.position, link.keywords, link.videos)
            .join(DiscoveryCreator, DiscoveryCreator.id == link.creator_id)
            .where(link.search_id == search_id)
        )
        ids: dict[str, uuid.UUID] = {}
        links: dict[uuid.UUID, KnownLink] = {}
        for ext, cid, position, keywords, videos in (await self.session.execute(stmt)).tuples():
            ids[ext] = cid
            links[cid] = KnownLink(position, list(keywords or []), list(videos or []))
        return ids, links

    async def count_links(self, search_id: uuid.UUID) -> int:
        stmt = select(func.count()).where(DiscoverySearchCreator.search_id == search_id)
        return int((await self.session.execute(stmt)).scalar_one())

    # --- results -----------------------------------------------------------------------------
    async def results(
        self,
        workspace_id: uuid.UUID,
        *,
        search_id: uuid.UUID | None = None,
        campaign_id: uuid.UUID | None = None,
        filters: ResultFilters,
        sort: str,
        after: list[Any] | None,
        limit: int,
    ) -> list[tuple[ResultRow, list[Any]]]:
        """Creators found by one search or by any search of a campaign (one row per
        creator), filtered and sorted; keyset-paginated on (sort value, creator id). Each row
        comes with the cursor values that point past it."""
        link = DiscoverySearchCreator
        kw = func.unnest(link.keywords).table_valued("kw").render_derived(with_types=False).lateral("kw")
        grouped = (
            select(
                link.creator_id.label("creator_id"),
                func.coalesce(
                    func.array_agg(func.distinct(kw.c.kw)).filter(kw.c.kw.is_not(None)),
                    literal([], type_=link.keywords.type),
                ).label("keywords"),
                func.coalesce(
                    func.array_agg(func.distinct(func.lower(kw.c.kw))).filter(kw.c.kw.is_not(None)),
                    literal([], type_=link.keywords.type),
                ).label("keywords_lower"),
                (func.array_agg(link.videos))[1].label("videos"),
                func.max(link.avg_views).label("avg_views"),
                func.max(link.engagement_rate).label("engagement_rate"),
                func.min(link.found_at).label("found_at"),
                func.min(link.position).label("position"),
                func.count(func.distinct(link.search_id)).label("searches"),
            )
            .select_from(link)
            .outerjoin(kw, true())
            .where(link.workspace_id == workspace_id)
            .group_by(link.creator_id)
        )
        if search_id is not None:
            grouped = grouped.where(link.search_id == search_id)
        if campaign_id is not None:
            grouped = grouped.where(link.campaign_id == campaign_id)
        sub = grouped.subquery("found")
        c = DiscoveryCreator
        stmt = select(c, sub).join(sub, sub.c.creator_id == c.id).where(c.workspace_id == workspace_id)
        if filters.min_followers is not None:
            stmt = stmt.where(c.followers >= filters.min_followers)
        if filters.max_followers is not None:
            stmt = stmt.where(c.followers <= filters.max_followers)
        if filters.min_engagement is not None:
            stmt = stmt.where(sub.c.engagement_rate >= filters.min_engagement)
        if filters.has_email is True:
            stmt = stmt.where(func.cardinality(c.emails) > 0)
        elif filters.has_email is False:
            stmt = stmt.where(func.cardinality(c.emails) == 0)
        if filters.region:
            stmt = stmt.where(func.upper(c.region) == filters.region.upper())
        if filters.keyword:
            stmt = stmt.where(literal(filters.keyword.casefold()) == any_(sub.c.keywords_lower))

        key, descending = _sort_key(sort, c, sub)
        if after is not None:
            value, last_id = after[0], uuid.UUID(str(after[1]))
            if descending:
                stmt = stmt.where(or_(key < value, and_(key == value, c.id > last_id)))
            else:
                stmt = stmt.where(or_(key > value, and_(key == value, c.id > last_id)))
        stmt = stmt.order_by(key.desc() if descending else key.asc(), c.id.asc()).limit(limit)
        rows = []
        for record in (await self.session.execute(stmt)).all():
            m = record._mapping
            creator: DiscoveryCreator = m[c]
            row = ResultRow(
                creator=creator,
                keywords=list(m["keywords"] or []),
                videos=list(m["videos"] or []),
                avg_views=m["avg_views"],
                engagement_rate=m["engagement_rate"],
                found_at=m["found_at"],
                position=int(m["position"]),
                searches=int(m["searches"]),
            )
            rows.append((row, [_cursor_value(sort, row), str(creator.id)]))
        return rows


# --- a running search's page writes -------------------------------------------------------------
# Raw SQL on the driver (asyncpg) connection a search holds for its whole run: each page is one
# transaction of two statements whose text never changes (prepared once per connection), the
# rows travel as one JSON document (`jsonb_to_recordset`). Through the ORM the same page cost a
# pool checkout with its ping, a read of the links and per-row parameter processing.

_PAGE_CREATORS_SQL = """
INSERT INTO discovery_creators AS t (
    id, workspace_id, platform, external_id, handle, display_name, followers, following, likes,
    video_count, verified, bio, emails, links, region, avatar_url, profile_url,
    created_at, updated_at, first_seen_at
)
SELECT gen_random_uuid(), $1, r.platform, r.external_id, r.handle, r.display_name, r.followers,
       r.following, r.likes, r.video_count, r.verified, r.bio, coalesce(r.emails, '{}'),
       coalesce(r.links, '{}'), r.region, r.avatar_url, r.profile_url, $2, $2, $2
FROM jsonb_to_recordset($3::text::jsonb) AS r(
    platform text, external_id text, handle text, display_name text, followers bigint,
    following bigint, likes bigint, video_count integer, verified boolean, bio text,
    emails text[], links text[], region text, avatar_url text, profile_url text
)
ORDER BY r.platform, r.external_id
ON CONFLICT (workspace_id, platform, external_id) DO UPDATE SET
    handle = excluded.handle,
    display_name = coalesce(excluded.display_name, t.display_name),
    followers = coalesce(excluded.followers, t.followers),
    following = coalesce(excluded.following, t.following),
    likes = coalesce(excluded.likes, t.likes),
    video_count = coalesce(excluded.video_count, t.video_count),
    verified = coalesce(excluded.verified, t.verified),
    bio = coalesce(nullif(excluded.bio, ''), t.bio),
    emails = CASE WHEN cardinality(excluded.emails) > 0 THEN excluded.emails ELSE t.emails END,
    links = CASE WHEN cardinality(excluded.links) > 0 THEN excluded.links ELSE t.links END,
    region = coalesce(excluded.region, t.region),
    avatar_url = coalesce(excluded.avatar_url, t.avatar_url),
    profile_url = coalesce(excluded.profile_url, t.profile_url),
    updated_at = excluded.updated_at
RETURNING external_id, id
"""

_PAGE_LINKS_SQL = """
WITH fence AS (
    UPDATE discovery_searches
    SET pages = $3, found = $4, items_seen = $5, credits_used = $6, credits_remaining = $7,
        cursors = $8::text::jsonb, last_page_at = $9, updated_at = $9
    WHERE id = $1 AND status = 'processing' AND pages = $2
    RETURNING id
), linked AS (
    INSERT INTO discovery_search_creators AS l (
        search_id, creator_id, workspace_id, campaign_id, position, keywords, videos,
        avg_views, engagement_rate, found_at
    )
    SELECT $1, r.creator_id, $10, $11, r.position, coalesce(r.keywords, '{}'),
           coalesce(r.videos, '[]'), r.avg_views, r.engagement_rate, $9
    FROM jsonb_to_recordset($12::text::jsonb) AS r(
        creator_id uuid, position integer, keywords text[], videos jsonb, avg_views bigint,
        engagement_rate double precision
    )
    WHERE EXISTS (SELECT 1 FROM fence)
    ORDER BY r.creator_id
    ON CONFLICT (search_id, creator_id) DO UPDATE SET
        keywords = excluded.keywords,
        videos = excluded.videos,
        avg_views = excluded.avg_views,
        engagement_rate = excluded.engagement_rate
)
SELECT count(*) FROM fence
"""

_PAGE_EXPANDED_SQL = """
UPDATE discovery_search_creators SET expanded_at = $3
WHERE search_id = $1 AND creator_id = ANY($2::uuid[])
"""


class PageLost(Exception):
    """The search is no longer this attempt's to write (cancelled, timed out, taken over)."""


@dataclass
class KnownLink:
    """What a running search has written for one creator (its own cache of its links)."""

    position: int
    keywords: list[str]
    videos: list[Any]


class SearchPageWriter:
    """Page writes of one running search, on a connection it holds for the run.

    writer = await SearchPageWriter.open(conn)      # conn: an AsyncConnection from the engine
    async with writer.transaction():
        ids = await writer.upsert_creators(workspace_id, rows, now)
        await writer.record_page(...)               # raises PageLost when fenced out
    """

    def __init__(self, driver: Any) -> None:
        self._conn = driver  # asyncpg.Connection

    @classmethod
    async def open(cls, conn: Any) -> SearchPageWriter:
        raw = await conn.get_raw_connection()
        return cls(raw.driver_connection)

    def transaction(self) -> Any:
        return self._conn.transaction()

    async def upsert_creators(
        self, workspace_id: uuid.UUID, rows: Sequence[Mapping[str, Any]], at: datetime
    ) -> dict[str, uuid.UUID]:
        """Insert or refresh creators by (platform, external id), as `upsert_creators` does;
        external id → creator id. Known values are never replaced by unknowns."""
        if not rows:
            return {}
        records = await self._conn.fetch(_PAGE_CREATORS_SQL, workspace_id, at, _json(rows))
        return {str(ext): cid for ext, cid in records}

    async def record_page(
        self,
        search_id: uuid.UUID,
        *,
        expected_pages: int,
        workspace_id: uuid.UUID,
        campaign_id: uuid.UUID,
        links: Sequence[Mapping[str, Any]],
        pages: int,
        found: int,
        items_seen: int,
        credits_used: int,
        credits_remaining: int | None,
        cursors: Mapping[str, Any],
        at: datetime,
        expanded: Sequence[uuid.UUID] = (),
    ) -> None:
        """Links (new ones, and new keywords or videos on known ones) and the paging state,
        fenced like `record_page`: raises PageLost (roll the transaction back) when the search
        is not processing or another attempt wrote a page since `expected_pages`."""
        link_rows = [{**link, "creator_id": str(link["creator_id"])} for link in links]
        fenced = await self._conn.fetchval(
            _PAGE_LINKS_SQL,
            search_id,
            expected_pages,
            pages,
            found,
            items_seen,
            credits_used,
            credits_remaining,
            _json(cursors),
            at,
            workspace_id,
            campaign_id,
            _json(link_rows),
        )
        if not fenced:
            raise PageLost(str(search_id))
        if expanded:
            await self._conn.execute(_PAGE_EXPANDED_SQL, search_id, list(expanded), at)


def _json(value: Any) -> str:
    import msgspec

    return msgspec.json.encode(value).decode()


def _upsert_creator_statement() -> Any:
    table = cast(Table, DiscoveryCreator.__table__)
    t = table.c
    stmt = insert(table)
    ex = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["workspace_id", "platform", "external_id"],
        set_={
            "handle": ex.handle,
            "display_name": func.coalesce(ex.display_name, t.display_name),
            "followers": func.coalesce(ex.followers, t.followers),
            "following": func.coalesce(ex.following, t.following),
            "likes": func.coalesce(ex.likes, t.likes),
            "video_count": func.coalesce(ex.video_count, t.video_count),
            "verified": func.coalesce(ex.verified, t.verified),
            "bio": func.coalesce(func.nullif(ex.bio, ""), t.bio),
            "emails": case((func.cardinality(ex.emails) > 0, ex.emails), else_=t.emails),
            "links": case((func.cardinality(ex.links) > 0, ex.links), else_=t.links),
            "region": func.coalesce(ex.region, t.region),
            "avatar_url": func.coalesce(ex.avatar_url, t.avatar_url),
            "profile_url": func.coalesce(ex.profile_url, t.profile_url),
            "updated_at": ex.updated_at,
        },
    ).returning(t.external_id, t.id)


def _upsert_link_statement() -> Any:
    stmt = insert(cast(Table, DiscoverySearchCreator.__table__))
    ex = stmt.excluded
    return stmt.on_conflict_do_update(
        index_elements=["search_id", "creator_id"],
        set_={
            "keywords": ex.keywords,
            "videos": ex.videos,
            "avg_views": ex.avg_views,
            "engagement_rate": ex.engagement_rate,
        },
    )


_UPSERT_CREATOR = _upsert_creator_statement()
_UPSERT_LINK = _upsert_link_statement()


def _sort_key(sort: str, c: Any, sub: Any) -> tuple[Any, bool]:
    name = sort.lstrip("-")
    descending = not sort.startswith("-") if name in ("followers", "engagement", "avg_views") else sort.startswith("-")
    if name == "followers":
        return func.coalesce(c.followers, -1), descending
    if name == "engagement":
        return func.coalesce(sub.c.engagement_rate, -1.0), descending
    if name == "avg_views":
        return func.coalesce(sub.c.avg_views, -1), descending
    if name == "handle":
        return c.handle, descending
    return sub.c.position, descending  # found: the order the search found them


def _cursor_value(sort: str, row: ResultRow) -> Any:
    name = sort.lstrip("-")
    if name == "followers":
        return row.creator.followers if row.creator.followers is not None else -1
    if name == "engagement":
        return row.engagement_rate if row.engagement_rate is not None else -1.0
    if name == "avg_views":
        return row.avg_views if row.avg_views is not None else -1
    if name == "handle":
        return row.creator.handle
    return row.position


__all__ = [
    "RESULT_SORTS",
    "DiscoveryRepository",
    "FinishedSearch",
    "KnownLink",
    "PageLost",
    "ResultFilters",
    "ResultRow",
    "SearchPageWriter",
]
