"""Monitoring: the poll of one rule (the `monitoring.poll_rule` job's body). The platform
client and the clock are passed in; the rows are upserted by natural key, so a repeated
poll stores nothing twice."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, cast

from reelflow.adapters.protocols import Clock, MonitoringPlatform
from reelflow.adapters.records import Video
from reelflow.adapters.tiktok import research
from reelflow.domain import monitoring as domain
from reelflow.errors import ReelflowError
from reelflow.logs import get_logger
from reelflow.services.monitoring_engagement import tier_policy
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.monitoring import (
    CreatorRow,
    MonitoringRepository,
    VideoRow,
)

log = get_logger(__name__)
PLATFORM = "tiktok"
RECENT_POINTS = domain.VELOCITY_WINDOW
Heartbeat = Callable[[], Awaitable[None]]


async def _no_heartbeat() -> None:
    return None


# --- platform time and queries ----------------------------------------------------------------


def research_query(spec: domain.RuleSpec, start: date, end: date) -> research.VideoQuery:
    """The rule's query (domain) in the Research adapter's terms, over [start, end]."""
    query = domain.build_query(spec)

    def conditions(items: tuple[domain.Condition, ...]) -> tuple[research.Condition, ...]:
        return tuple(
            research.Condition(c.field_name, cast(research.Operation, c.operation), c.field_values) for c in items
        )

    return research.VideoQuery(
        start=start, end=end, and_=conditions(query.and_), or_=conditions(query.or_), not_=conditions(query.not_)
    )


# --- polling --------------------------------------------------------------------------------


def _video_row(video: Video) -> VideoRow:
    stats = video.stats
    username = video.author_handle or (video.author.handle if video.author else None)
    return VideoRow(
        platform_video_id=str(video.id),
        username=username,
        description=video.caption,
        hashtags=list(video.hashtags or []),
        region=video.region,
        duration_s=int(video.duration_s) if video.duration_s is not None else None,
        url=video.url,
        posted_at=video.created_at,
        views=(stats.views or 0) if stats else 0,
        likes=(stats.likes or 0) if stats else 0,
        comments=(stats.comments or 0) if stats else 0,
        shares=(stats.shares or 0) if stats else 0,
        saves=(stats.saves or 0) if stats else 0,
    )


def _creator_row(video: Video) -> CreatorRow | None:
    author = video.author
    handle = video.author_handle or (author.handle if author else None)
    if not handle:
        return None
    if author is None:  # the Research API's region_code is the account's registration region
        return CreatorRow(handle, region=video.region)
    return CreatorRow(
        username=handle,
        display_name=author.display_name,
        follower_count=author.followers,
        avatar_url=author.avatar_url,
        is_verified=author.verified,
        region=author.region or video.region,
    )


@dataclass
class PollResult:
    rule_id: str
    fetched: int = 0
    new: int = 0
    duplicates: int = 0
    creators_created: int = 0
    profiles: int = 0
    pages: int = 0
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


async def poll_rule(
    rule_id: str,
    *,
    platform: MonitoringPlatform,
    clock: Clock,
    workspace_id: uuid.UUID | None = None,
    heartbeat: Heartbeat = _no_heartbeat,
) -> dict[str, Any]:
    """Page the platform's results for one rule since its last poll and store them in bulk.

    A platform failure is recorded on the rule (last_error, next poll on its schedule) and
    raised again, so a job shows it failed and the runtime's retry policy applies.
    """
    settings = get_settings()
    rid = uuid.UUID(rule_id)
    async with session_scope() as session:
        rule = await MonitoringRepository(session).get_rule_any(rid)
        if rule is None:
            return PollResult(rule_id, error="rule deleted").as_dict()
        if workspace_id is not None and rule.workspace_id != workspace_id:
            return PollResult(rule_id, error="rule belongs to another workspace").as_dict()
        workspace_id = rule.workspace_id
        spec = domain.spec_from_definition(rule.definition, rule.region, rule.language)
        since = rule.polled_until or utcnow() - timedelta(days=settings.monitoring.first_poll_lookback_days)
        interval = timedelta(minutes=rule.interval_minutes)

    started = utcnow()
    result = PollResult(rule_id)
    try:
        until = await clock.now()
        query = research_query(spec, since.date(), until.date())
        served: list[Video] = []
        async for page in platform.iter_pages(query):
            result.pages += 1
            served.extend(page.videos)
            await heartbeat()
            if result.pages >= settings.monitoring.poll_max_pages:
                break
    except ReelflowError as exc:
        async with session_scope() as session:
            await MonitoringRepository(session).record_poll_failure(
                rid, error=f"{type(exc).__name__}: {exc.detail}", at=utcnow(), next_poll_at=utcnow() + interval
            )
        log.warning("monitoring.poll_failed", rule_id=rule_id, error_type=type(exc).__name__, detail=exc.detail)
        raise

    if spec.language:
        served = [v for v in served if getattr(v, "language", None) in (None, spec.language)]
    result.fetched = len(served)
    unique: dict[str, Any] = {}
    for video in served:
        unique.setdefault(str(video.id), video)
    videos = [_video_row(v) for v in unique.values()]
    creators: dict[str, CreatorRow] = {}
    for video in unique.values():
        row = _creator_row(video)
        if row is not None:
            creators.setdefault(row.username, row)
    observed_at = until
    policy = tier_policy(settings)
    async with session_scope() as session:
        repo = MonitoringRepository(session)
        creator_ids, created_creators = await repo.upsert_creators(workspace_id, PLATFORM, list(creators.values()))
        rows = await repo.upsert_videos(
            workspace_id,
            PLATFORM,
            videos,
            creator_ids,
            next_check_at=started + timedelta(seconds=policy.cadence_seconds("hot") or 1800),
            observed_at=observed_at,
        )
        await repo.link_rule_videos(workspace_id, rid, [r[0] for r in rows])
        by_id = {v.platform_video_id: v for v in videos}
        new_rows = [r for r in rows if r[2]]
        # The poll's counters are each new video's first snapshot (velocity needs two).
        await repo.insert_snapshots(
            [workspace_id] * len(new_rows),
            [r[0] for r in new_rows],
            [observed_at] * len(new_rows),
            [_counters(by_id[r[1]]) for r in new_rows],
        )
        result.new = len(new_rows)
        result.creators_created = len(created_creators)
        result.duplicates = result.fetched - result.new
        await repo.record_poll(
            rid,
            polled_at=started,
            polled_until=until,
            next_poll_at=started + interval,
            fetched=result.fetched,
            new=result.new,
            duplicates=result.duplicates,
            creators_created=result.creators_created,
        )
    result.profiles = await _fetch_profiles(
        platform, workspace_id, created_creators[: settings.monitoring.profiles_per_poll]
    )
    log.info("monitoring.polled", **result.as_dict())
    return result.as_dict()


async def _fetch_profiles(platform: MonitoringPlatform, workspace_id: uuid.UUID, usernames: Sequence[str]) -> int:
    """Profiles (followers, name, avatar) of newly found creators, a few at a time; best effort.

    A missing or private profile, or a quota hit, leaves the creator with its handle only:
    the poll itself has succeeded and is not failed for it.
    """
    if not usernames:
        return 0
    semaphore = asyncio.Semaphore(get_settings().monitoring.poll_concurrency)

    async def one(username: str) -> CreatorRow | None:
        async with semaphore:
            try:
                creator = await platform.user_info(username)
            except ReelflowError as exc:
                log.info("monitoring.profile_skipped", username=username, error_type=type(exc).__name__)
                return None
        return CreatorRow(
            username=username,
            display_name=creator.display_name,
            follower_count=creator.followers,
            avatar_url=creator.avatar_url,
            is_verified=creator.verified,
            region=creator.region,
        )

    rows = [row for row in await asyncio.gather(*(one(u) for u in usernames)) if row is not None]
    async with session_scope() as session:
        await MonitoringRepository(session).upsert_creators(workspace_id, PLATFORM, rows)
    return len(rows)


def _counters(v: VideoRow) -> tuple[int, int, int, int, int]:
    return (v.views, v.likes, v.comments, v.shares, v.saves)
