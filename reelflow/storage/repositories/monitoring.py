"""Queries for monitoring: rules, bulk upserts of videos and creators, engagement writes, reads.

Bulk writes pass whole columns as arrays and `unnest` them in one statement (INSERT ...
ON CONFLICT, UPDATE ... FROM): one round trip for thousands of rows, idempotent when a
job is delivered twice.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import (
    DateTime,
    Integer,
    Uuid,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql import Select

from reelflow.storage.models.base import utcnow
from reelflow.storage.models.monitoring import (
    MonitoredCreator,
    MonitoredVideo,
    MonitoringRule,
    RuleVideo,
    VideoForecast,
    VideoSnapshot,
)

VIDEO_SORTS = ("views", "velocity", "forecast")
SEPARATOR = chr(31)  # unit separator: joins hashtags into one text value for unnest


@dataclass(frozen=True)
class VideoRow:
    """A video as the poll found it (platform-neutral, ids as strings)."""

    platform_video_id: str
    username: str | None
    description: str | None
    hashtags: list[str]
    region: str | None
    duration_s: int | None
    url: str | None
    posted_at: datetime | None
    views: int
    likes: int
    comments: int
    shares: int
    saves: int


@dataclass(frozen=True)
class CreatorRow:
    username: str
    display_name: str | None = None
    follower_count: int | None = None
    avatar_url: str | None = None
    is_verified: bool | None = None
    region: str | None = None


@dataclass(frozen=True)
class DueRule:
    rule_id: uuid.UUID
    workspace_id: uuid.UUID
    due_at: datetime | None  # the rule's schedule slot (None: never scheduled yet)


@dataclass(frozen=True)
class DueVideo:
    id: uuid.UUID
    workspace_id: uuid.UUID
    platform: str
    platform_video_id: str
    tier: str
    posted_at: datetime | None
    views: int
    recent_times: list[float]
    recent_views: list[int]
    snapshot_count: int
    sort_key: datetime  # next_check_at (the keyset cursor of the due selection)


@dataclass(frozen=True)
class OpenForecast:
    video_id: uuid.UUID
    made_at: datetime
    predicted: tuple[int, int, int]  # +1 h, +2 h, +3 h
    resolved: tuple[bool, bool, bool]


@dataclass(frozen=True)
class ResolvedForecast:
    """Horizons resolved now (None where not yet, or already before)."""

    video_id: uuid.UUID
    made_at: datetime
    actual: tuple[int | None, int | None, int | None]
    errors: tuple[float | None, float | None, float | None]


@dataclass
class VideoFilters:
    rule_id: uuid.UUID | None = None
    tier: str | None = None
    creator_id: uuid.UUID | None = None
    min_views: int | None = None
    since: datetime | None = None


class RuleListRow(NamedTuple):
    """A rule as the rules list reads it: its columns (Core, no ORM object), named like
    MonitoringRule's attributes."""

    id: uuid.UUID
    name: str
    kind: str
    definition: dict[str, Any]
    region: str | None
    language: str | None
    interval_minutes: int
    active: bool
    next_poll_at: datetime | None
    last_polled_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    polls: int
    failures: int
    total_fetched: int
    total_new: int
    total_duplicates: int
    total_creators_created: int
    created_at: datetime
    updated_at: datetime


class VideoListRow(NamedTuple):
    """A video as the videos list reads it (named like MonitoredVideo's attributes), with the
    value it is sorted by (for the cursor)."""

    id: uuid.UUID
    platform: str
    platform_video_id: str
    url: str | None
    username: str | None
    creator_id: uuid.UUID | None
    description: str | None
    hashtags: list[str]
    region: str | None
    posted_at: datetime | None
    first_seen_at: datetime
    views: int
    likes: int
    comments: int
    shares: int
    saves: int
    tier: str
    velocity: float
    acceleration: float | None
    next_check_at: datetime | None
    last_checked_at: datetime | None
    forecast_1h: int | None
    forecast_2h: int | None
    forecast_3h: int | None
    forecast_confidence: float | None
    sort_key: Any


_rules = MonitoringRule.__table__
_videos = MonitoredVideo.__table__
_RULE_LIST_COLUMNS = tuple(_rules.c[name] for name in RuleListRow._fields)
# The rules page, built once (bound parameters): the first page, and the pages after a cursor.
_RULES_PAGE = (
    select(*_RULE_LIST_COLUMNS)
    .where(_rules.c.workspace_id == bindparam("workspace_id"))
    .order_by(_rules.c.created_at, _rules.c.id)
    .limit(bindparam("limit", type_=Integer))
)
_RULES_PAGE_AFTER = _RULES_PAGE.where(
    tuple_(_rules.c.created_at, _rules.c.id)
    > tuple_(bindparam("after_at", type_=DateTime(timezone=True)), bindparam("after_id", type_=Uuid))
)
_VIDEO_LIST_COLUMNS = tuple(_videos.c[name] for name in VideoListRow._fields[:-1])


@functools.cache
def _videos_page(sort: str) -> tuple[Any, Select[Any]]:
    """The videos page for a sort (built once, with bound parameters `workspace_id` and
    `limit`; filters and the cursor are added per request), and its sort key."""
    v = _videos.c
    key = MonitoringRepository._sort_key(sort, v)
    query = (
        select(*_VIDEO_LIST_COLUMNS, key.label("sort_key"))
        .where(v.workspace_id == bindparam("workspace_id"))
        .order_by(key.desc(), v.id.desc())
        .limit(bindparam("limit", type_=Integer))
    )
    return key, query


class MonitoringRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- rules ------------------------------------------------------------------------
    async def create_rule(self, **values: Any) -> MonitoringRule:
        rule = MonitoringRule(**values)
        self.session.add(rule)
        await self.session.flush()
        return rule

    async def get_rule(self, workspace_id: uuid.UUID, rule_id: uuid.UUID) -> MonitoringRule | None:
        result = await self.session.execute(
            select(MonitoringRule).where(MonitoringRule.id == rule_id, MonitoringRule.workspace_id == workspace_id)
        )
        return result.scalar_one_or_none()

    async def get_rule_any(self, rule_id: uuid.UUID, *, lock: bool = False) -> MonitoringRule | None:
        """A rule by id for jobs (the job's workspace is checked by the caller)."""
        query = select(MonitoringRule).where(MonitoringRule.id == rule_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_rules(
        self, workspace_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[RuleListRow]:
        """A page of rules, oldest first, as plain rows (no ORM objects to build)."""
        params: dict[str, Any] = {"workspace_id": workspace_id, "limit": limit}
        if after is None:
            result = await self.session.execute(_RULES_PAGE, params)
        else:
            result = await self.session.execute(
                _RULES_PAGE_AFTER, {**params, "after_at": after[0], "after_id": after[1]}
            )
        return [RuleListRow._make(row) for row in result]

    async def delete_rule(self, workspace_id: uuid.UUID, rule_id: uuid.UUID) -> bool:
        result = await self.session.execute(
            delete(MonitoringRule).where(MonitoringRule.id == rule_id, MonitoringRule.workspace_id == workspace_id)
        )
        return bool(cast("CursorResult[Any]", result).rowcount)

    async def due_rules(self, now: datetime, limit: int) -> list[DueRule]:
        """Active rules whose next poll time has come, oldest first, with that time (the slot)."""
        result = await self.session.execute(
            select(MonitoringRule.id, MonitoringRule.workspace_id, MonitoringRule.next_poll_at)
            .where(
                MonitoringRule.active,
                or_(MonitoringRule.next_poll_at.is_(None), MonitoringRule.next_poll_at <= now),
            )
            .order_by(MonitoringRule.next_poll_at.asc().nulls_first())
            .limit(limit)
        )
        return [DueRule(row[0], row[1], row[2]) for row in result]

    async def record_poll(
        self,
        rule_id: uuid.UUID,
        *,
        polled_at: datetime,
        polled_until: datetime,
        next_poll_at: datetime,
        fetched: int,
        new: int,
        duplicates: int,
        creators_created: int,
    ) -> None:
        await self.session.execute(
            update(MonitoringRule)
            .where(MonitoringRule.id == rule_id)
            .values(
                last_polled_at=polled_at,
                polled_until=polled_until,
                next_poll_at=next_poll_at,
                last_error=None,
                polls=MonitoringRule.polls + 1,
                total_fetched=MonitoringRule.total_fetched + fetched,
                total_new=MonitoringRule.total_new + new,
                total_duplicates=MonitoringRule.total_duplicates + duplicates,
                total_creators_created=MonitoringRule.total_creators_created + creators_created,
                updated_at=utcnow(),
            )
        )

    async def record_poll_failure(
        self, rule_id: uuid.UUID, *, error: str, at: datetime, next_poll_at: datetime
    ) -> None:
        await self.session.execute(
            update(MonitoringRule)
            .where(MonitoringRule.id == rule_id)
            .values(
                last_error=error[:2000],
                last_error_at=at,
                next_poll_at=next_poll_at,
                failures=MonitoringRule.failures + 1,
                updated_at=utcnow(),
            )
        )

    # --- poll writes (bulk) -------------------------------------------------------------
    async def upsert_creators(
        self, workspace_id: uuid.UUID, platform: str, creators: Sequence[CreatorRow]
    ) -> tuple[dict[str, uuid.UUID], list[str]]:
        """Insert unknown creators, refresh known ones; (id by username, usernames created)."""
        if not creators:
            return {}, []
        unique = {c.username: c for c in creators}
        rows = list(unique.values())
        result = await self.session.execute(
            text(
                """
                INSERT INTO monitoring_creators
                    (id, workspace_id, platform, username, display_name, follower_count, avatar_url,
                     is_verified, region)
                SELECT gen_random_uuid(), :ws, :platform, u.username, u.display_name, u.follower_count,
                       u.avatar_url, u.is_verified, u.region
                FROM unnest(CAST(:usernames AS text[]), CAST(:names AS text[]), CAST(:followers AS bigint[]),
                            CAST(:avatars AS text[]), CAST(:verified AS boolean[]), CAST(:regions AS text[]))
                     AS u(username, display_name, follower_count, avatar_url, is_verified, region)
                ON CONFLICT (workspace_id, platform, username) DO UPDATE SET
                    display_name = coalesce(EXCLUDED.display_name, monitoring_creators.display_name),
                    follower_count = coalesce(EXCLUDED.follower_count, monitoring_creators.follower_count),
                    avatar_url = coalesce(EXCLUDED.avatar_url, monitoring_creators.avatar_url),
                    is_verified = coalesce(EXCLUDED.is_verified, monitoring_creators.is_verified),
                    region = coalesce(EXCLUDED.region, monitoring_creators.region),
                    updated_at = now()
                RETURNING username, id, (xmax = 0) AS inserted
                """
            ),
            {
                "ws": workspace_id,
                "platform": platform,
                "usernames": [c.username for c in rows],
                "names": [c.display_name for c in rows],
                "followers": [c.follower_count for c in rows],
                "avatars": [c.avatar_url for c in rows],
                "verified": [c.is_verified for c in rows],
                "regions": [c.region for c in rows],
            },
        )
        ids: dict[str, uuid.UUID] = {}
        created: list[str] = []
        for username, creator_id, inserted in result:
            ids[username] = creator_id
            if inserted:
                created.append(username)
        return ids, created

    async def upsert_videos(
        self,
        workspace_id: uuid.UUID,
        platform: str,
        videos: Sequence[VideoRow],
        creator_ids: dict[str, uuid.UUID],
        *,
        next_check_at: datetime,
        observed_at: datetime,
    ) -> list[tuple[uuid.UUID, str, bool]]:
        """Insert new videos, refresh counters of known ones: (id, platform id, inserted) per video.

        `videos` must not repeat a platform id (ON CONFLICT cannot touch a row twice).
        """
        if not videos:
            return []
        epoch = observed_at.timestamp()
        result = await self.session.execute(
            text(
                """
                INSERT INTO monitoring_videos
                    (id, workspace_id, platform, platform_video_id, creator_id, username, description, hashtags,
                     region, duration_s, url, posted_at, views, likes, comments, shares, saves, tier,
                     tier_changed_at, next_check_at, last_checked_at, recent_times, recent_views, snapshot_count)
                SELECT gen_random_uuid(), :ws, :platform, u.vid, u.creator_id, u.username, u.description,
                       CASE WHEN u.hashtags = '' THEN '{}'::varchar[]
                            ELSE string_to_array(u.hashtags, chr(31))::varchar[] END,
                       u.region, u.duration_s, u.url, u.posted_at, u.views, u.likes, u.comments, u.shares,
                       u.saves, 'hot', :observed, :next_check, :observed, ARRAY[CAST(:epoch AS float8)],
                       ARRAY[u.views], 1
                FROM unnest(CAST(:vids AS text[]), CAST(:creator_ids AS uuid[]), CAST(:usernames AS text[]),
                            CAST(:descriptions AS text[]), CAST(:hashtags AS text[]), CAST(:regions AS text[]),
                            CAST(:durations AS int[]), CAST(:urls AS text[]), CAST(:posted AS timestamptz[]),
                            CAST(:views AS bigint[]), CAST(:likes AS bigint[]), CAST(:comments AS bigint[]),
                            CAST(:shares AS bigint[]), CAST(:saves AS bigint[]))
                     AS u(vid, creator_id, username, description, hashtags, region, duration_s, url, posted_at,
                          views, likes, comments, shares, saves)
                ON CONFLICT (workspace_id, platform, platform_video_id) DO UPDATE SET
                    creator_id = coalesce(monitoring_videos.creator_id, EXCLUDED.creator_id),
                    description = EXCLUDED.description,
                    hashtags = EXCLUDED.hashtags
                RETURNING id, platform_video_id, (xmax = 0) AS inserted
                """
            ),
            {
                "ws": workspace_id,
                "platform": platform,
                "observed": observed_at,
                "next_check": next_check_at,
                "epoch": epoch,
                "vids": [v.platform_video_id for v in videos],
                "creator_ids": [creator_ids.get(v.username or "") for v in videos],
                "usernames": [v.username for v in videos],
                "descriptions": [v.description for v in videos],
                "hashtags": [SEPARATOR.join(v.hashtags) for v in videos],
                "regions": [v.region for v in videos],
                "durations": [v.duration_s for v in videos],
                "urls": [v.url for v in videos],
                "posted": [v.posted_at for v in videos],
                "views": [v.views for v in videos],
                "likes": [v.likes for v in videos],
                "comments": [v.comments for v in videos],
                "shares": [v.shares for v in videos],
                "saves": [v.saves for v in videos],
            },
        )
        return [(row[0], row[1], bool(row[2])) for row in result]

    async def link_rule_videos(
        self, workspace_id: uuid.UUID, rule_id: uuid.UUID, video_ids: Sequence[uuid.UUID]
    ) -> int:
        if not video_ids:
            return 0
        result = await self.session.execute(
            text(
                """
                INSERT INTO monitoring_rule_videos (rule_id, video_id, workspace_id)
                SELECT :rule, v, :ws FROM unnest(CAST(:ids AS uuid[])) AS v
                ON CONFLICT DO NOTHING
                """
            ),
            {"rule": rule_id, "ws": workspace_id, "ids": list(video_ids)},
        )
        return int(cast("CursorResult[Any]", result).rowcount or 0)

    async def insert_snapshots(
        self,
        workspace_ids: Sequence[uuid.UUID],
        video_ids: Sequence[uuid.UUID],
        taken_at: Sequence[datetime],
        counters: Sequence[tuple[int, int, int, int, int]],
    ) -> None:
        """One snapshot per video (views, likes, comments, shares, saves); repeats are ignored."""
        if not video_ids:
            return
        await self.session.execute(
            text(
                """
                INSERT INTO monitoring_snapshots (video_id, taken_at, workspace_id, views, likes, comments, shares,
                                                  saves)
                SELECT * FROM unnest(CAST(:vids AS uuid[]), CAST(:taken AS timestamptz[]), CAST(:ws AS uuid[]),
                                     CAST(:views AS bigint[]), CAST(:likes AS bigint[]), CAST(:comments AS bigint[]),
                                     CAST(:shares AS bigint[]), CAST(:saves AS bigint[]))
                ON CONFLICT DO NOTHING
                """
            ),
            {
                "vids": list(video_ids),
                "taken": list(taken_at),
                "ws": list(workspace_ids),
                "views": [c[0] for c in counters],
                "likes": [c[1] for c in counters],
                "comments": [c[2] for c in counters],
                "shares": [c[3] for c in counters],
                "saves": [c[4] for c in counters],
            },
        )

    # --- reading ----------------------------------------------------------------------
    @staticmethod
    def _sort_key(sort: str, v: Any = None) -> Any:
        v = MonitoredVideo if v is None else v
        if sort == "views":
            return v.views
        if sort == "velocity":
            return v.velocity
        return func.coalesce(v.forecast_1h, -1)

    async def list_videos(
        self,
        workspace_id: uuid.UUID,
        filters: VideoFilters,
        *,
        sort: str,
        after: tuple[Any, uuid.UUID] | None,
        limit: int,
    ) -> list[VideoListRow]:
        """A page of videos, highest sort key first, as plain rows (no ORM objects to build)."""
        v = _videos.c
        key, query = _videos_page(sort)
        if filters.rule_id is not None:
            links = RuleVideo.__table__.c
            query = query.where(
                select(links.video_id).where(links.rule_id == filters.rule_id, links.video_id == v.id).exists()
            )
        if filters.tier is not None:
            query = query.where(v.tier == filters.tier)
        if filters.creator_id is not None:
            query = query.where(v.creator_id == filters.creator_id)
        if filters.min_views is not None:
            query = query.where(v.views >= filters.min_views)
        if filters.since is not None:
            query = query.where(v.posted_at >= filters.since)
        if after is not None:
            query = query.where(tuple_(key, v.id) < tuple_(literal(after[0]), literal(after[1])))
        result = await self.session.execute(query, {"workspace_id": workspace_id, "limit": limit})
        return [VideoListRow._make(row) for row in result]

    async def get_video(self, workspace_id: uuid.UUID, video_id: uuid.UUID) -> MonitoredVideo | None:
        result = await self.session.execute(
            select(MonitoredVideo).where(MonitoredVideo.id == video_id, MonitoredVideo.workspace_id == workspace_id)
        )
        return result.scalar_one_or_none()

    async def video_rule_ids(self, video_id: uuid.UUID) -> list[uuid.UUID]:
        result = await self.session.execute(select(RuleVideo.rule_id).where(RuleVideo.video_id == video_id))
        return list(result.scalars())

    async def snapshots(self, video_id: uuid.UUID, limit: int) -> Sequence[VideoSnapshot]:
        result = await self.session.execute(
            select(VideoSnapshot)
            .where(VideoSnapshot.video_id == video_id)
            .order_by(VideoSnapshot.taken_at.desc())
            .limit(limit)
        )
        return list(reversed(result.scalars().all()))

    async def forecasts(self, video_id: uuid.UUID, limit: int) -> Sequence[VideoForecast]:
        result = await self.session.execute(
            select(VideoForecast)
            .where(VideoForecast.video_id == video_id)
            .order_by(VideoForecast.made_at.desc())
            .limit(limit)
        )
        return result.scalars().all()

    async def get_creator(self, workspace_id: uuid.UUID, creator_id: uuid.UUID) -> MonitoredCreator | None:
        result = await self.session.execute(
            select(MonitoredCreator).where(
                MonitoredCreator.id == creator_id, MonitoredCreator.workspace_id == workspace_id
            )
        )
        return result.scalar_one_or_none()

    async def list_creators(
        self, workspace_id: uuid.UUID, *, after: tuple[str, uuid.UUID] | None, limit: int
    ) -> list[tuple[MonitoredCreator, int, int]]:
        """Creators by username with their video count and total views (one grouped query)."""
        c, v = MonitoredCreator, MonitoredVideo
        stats = (
            select(
                v.creator_id.label("creator_id"),
                func.count().label("videos"),
                func.coalesce(func.sum(v.views), 0).label("views"),
            )
            .where(v.workspace_id == workspace_id, v.creator_id.is_not(None))
            .group_by(v.creator_id)
            .subquery()
        )
        query = (
            select(c, func.coalesce(stats.c.videos, 0), func.coalesce(stats.c.views, 0))
            .outerjoin(stats, stats.c.creator_id == c.id)
            .where(c.workspace_id == workspace_id)
            .order_by(c.username, c.id)
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(c.username, c.id) > tuple_(literal(after[0]), literal(after[1])))
        return [(r[0], int(r[1]), int(r[2])) for r in (await self.session.execute(query)).all()]

    async def rule_video_stats(self, rule_id: uuid.UUID) -> dict[str, Any]:
        """Videos linked to a rule: count, views, and how many per tier."""
        v, rv = MonitoredVideo, RuleVideo
        result = await self.session.execute(
            select(v.tier, func.count(), func.coalesce(func.sum(v.views), 0))
            .join(rv, and_(rv.video_id == v.id, rv.rule_id == rule_id))
            .group_by(v.tier)
        )
        by_tier: dict[str, int] = {}
        videos = views = 0
        for tier, count, total in result:
            by_tier[tier] = int(count)
            videos += int(count)
            views += int(total)
        creators = await self.session.execute(
            select(func.count(func.distinct(v.creator_id))).join(rv, and_(rv.video_id == v.id, rv.rule_id == rule_id))
        )
        return {"videos": videos, "views": views, "by_tier": by_tier, "creators": int(creators.scalar_one())}

    async def trending(self, workspace_id: uuid.UUID, limit: int) -> Sequence[MonitoredVideo]:
        v = MonitoredVideo
        result = await self.session.execute(
            select(v)
            .where(v.workspace_id == workspace_id, v.tier != "archived")
            .order_by(v.velocity.desc(), v.id.desc())
            .limit(limit)
        )
        return result.scalars().all()

    async def accuracy(self, workspace_id: uuid.UUID) -> list[tuple[int, int, float, float]]:
        """Per horizon: resolved forecasts, mean absolute percentage error (%), mean signed error (%)."""
        f = VideoForecast
        out = []
        for h, predicted, actual, error in (
            (1, f.predicted_1h, f.actual_1h, f.error_1h),
            (2, f.predicted_2h, f.actual_2h, f.error_2h),
            (3, f.predicted_3h, f.actual_3h, f.error_3h),
        ):
            signed = (predicted - actual) * 100.0 / func.greatest(actual, 1)
            row = (
                await self.session.execute(
                    select(func.count(), func.avg(error) * 100.0, func.avg(signed)).where(
                        f.workspace_id == workspace_id, f.error_1h.is_not(None), error.is_not(None)
                    )
                )
            ).one()
            if row[0]:
                out.append((h, int(row[0]), float(row[1] or 0.0), float(row[2] or 0.0)))
        return out

    async def open_forecast_count(self, workspace_id: uuid.UUID) -> int:
        """Horizons not yet resolved, over all forecasts of the workspace."""
        f = VideoForecast
        unresolved = (
            case((f.error_1h.is_(None), 1), else_=0)
            + case((f.error_2h.is_(None), 1), else_=0)
            + case((f.error_3h.is_(None), 1), else_=0)
        )
        result = await self.session.execute(
            select(func.coalesce(func.sum(unresolved), 0)).where(f.workspace_id == workspace_id, f.error_3h.is_(None))
        )
        return int(result.scalar_one())
