"""Monitoring use cases: rules, the poll of one rule, the engagement refresh, and what the
schedules find due. The API (`web/routes/monitoring.py`), the jobs (`tasks/monitoring.py`)
and the flows (`flows/monitoring.py`) call these; the platform client and the clock are
passed in (`reelflow.adapters.protocols`), chosen in `reelflow.composition`.

The poll and the refresh are idempotent: videos, creators and links are upserted by
natural key, snapshots are unique per (video, taken_at) and forecasts per (video, made_at,
horizon).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, cast

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import Clock, MonitoringPlatform
from reelflow.adapters.records import Video, VideoStats
from reelflow.adapters.tiktok import research
from reelflow.domain import monitoring as domain
from reelflow.domain.retry import NO_RETRY
from reelflow.errors import NotFound, ReelflowError
from reelflow.logs import get_logger
from reelflow.queue import EnqueueResult, enqueue
from reelflow.settings import Settings, get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.monitoring import MonitoredVideo, MonitoringRule, VideoForecast, VideoSnapshot
from reelflow.storage.repositories.monitoring import (
    CreatorRow,
    DueRule,
    DueVideo,
    MonitoringRepository,
    ResolvedForecast,
    VideoFilters,
    VideoRow,
)

log = get_logger(__name__)
PLATFORM = "tiktok"
RECENT_POINTS = domain.VELOCITY_WINDOW
POLL_TASK = "monitoring.poll_rule"
REFRESH_TASK = "monitoring.refresh_engagement"
Heartbeat = Callable[[], Awaitable[None]]


async def _no_heartbeat() -> None:
    return None


# --- rules ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleInput:
    name: str
    kind: str
    values: list[str] | None = None
    combined: dict[str, list[dict[str, Any]]] | None = None
    region: str | None = None
    language: str | None = None
    interval_minutes: int | None = None
    active: bool = True


@dataclass(frozen=True)
class RuleChanges:
    name: str | None = None
    kind: str | None = None
    values: list[str] | None = None
    combined: dict[str, list[dict[str, Any]]] | None = None
    region: str | None = None
    language: str | None = None
    interval_minutes: int | None = None
    active: bool | None = None


async def create_rule(session: AsyncSession, workspace_id: uuid.UUID, data: RuleInput) -> MonitoringRule:
    """Create a rule; it is polled at once by the next scheduled poll, then every interval."""
    settings = get_settings()
    spec = domain.validate_rule(
        kind=data.kind, values=data.values, combined=data.combined, region=data.region, language=data.language
    )
    interval = domain.check_interval(
        data.interval_minutes or settings.monitoring.poll_interval_default_minutes,
        settings.monitoring.poll_interval_min_minutes,
    )
    rule = await MonitoringRepository(session).create_rule(
        workspace_id=workspace_id,
        name=data.name,
        kind=spec.kind,
        definition=spec.definition(),
        region=spec.region,
        language=spec.language,
        interval_minutes=interval,
        active=data.active,
        next_poll_at=utcnow() if data.active else None,
    )
    await session.refresh(rule)
    return rule


async def get_rule(session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID) -> MonitoringRule:
    rule = await MonitoringRepository(session).get_rule(workspace_id, rule_id)
    if rule is None:
        raise NotFound("no such rule in this workspace")
    return rule


async def list_rules(
    session: AsyncSession, workspace_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[MonitoringRule]:
    return list(await MonitoringRepository(session).list_rules(workspace_id, after=after, limit=limit))


def _set_active(rule: MonitoringRule, active: bool) -> None:
    if active and not rule.active:
        last = rule.last_polled_at
        rule.next_poll_at = max(utcnow(), last + timedelta(minutes=rule.interval_minutes)) if last else utcnow()
    if not active:
        rule.next_poll_at = None
    rule.active = active


async def update_rule(
    session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID, data: RuleChanges
) -> MonitoringRule:
    """Change a rule; a new definition is validated like a new rule."""
    rule = await get_rule(session, workspace_id, rule_id)
    settings = get_settings()
    changes_definition = data.kind is not None or data.values is not None or data.combined is not None
    if changes_definition or data.region is not None or data.language is not None:
        kind = data.kind or rule.kind
        if changes_definition:
            values, combined = data.values, data.combined
            if data.kind is None and kind == "combined" and combined is None:
                combined = rule.definition.get("combined")
            if data.kind is None and kind != "combined" and values is None:
                values = rule.definition.get("values")
        else:
            values, combined = rule.definition.get("values"), rule.definition.get("combined")
        spec = domain.validate_rule(
            kind=kind,
            values=values,
            combined=combined,
            region=data.region if data.region is not None else rule.region,
            language=data.language if data.language is not None else rule.language,
        )
        rule.kind, rule.definition = spec.kind, spec.definition()
        rule.region, rule.language = spec.region, spec.language
    if data.name is not None:
        rule.name = data.name
    if data.interval_minutes is not None:
        rule.interval_minutes = domain.check_interval(
            data.interval_minutes, settings.monitoring.poll_interval_min_minutes
        )
        if rule.last_polled_at is not None and rule.active:
            rule.next_poll_at = rule.last_polled_at + timedelta(minutes=rule.interval_minutes)
    if data.active is not None:
        _set_active(rule, data.active)
    rule.updated_at = utcnow()
    await session.flush()
    return rule


async def set_rule_active(
    session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID, active: bool
) -> MonitoringRule:
    """Pause (its videos keep being tracked) or resume (at once if a poll is overdue)."""
    rule = await get_rule(session, workspace_id, rule_id)
    _set_active(rule, active)
    rule.updated_at = utcnow()
    await session.flush()
    return rule


async def delete_rule(session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID) -> None:
    """Delete a rule and its links; the videos it found stay (other rules may share them)."""
    if not await MonitoringRepository(session).delete_rule(workspace_id, rule_id):
        raise NotFound("no such rule in this workspace")


async def rule_video_stats(session: AsyncSession, rule: MonitoringRule) -> dict[str, Any]:
    return await MonitoringRepository(session).rule_video_stats(rule.id)


# --- starting polls: by hand (API) and on the schedule (flows) -----------------------------


async def start_poll(
    session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID, *, key: str | None
) -> EnqueueResult:
    """Poll the rule now, as a `monitoring.poll_rule` job (the same kind the schedule runs)."""
    await get_rule(session, workspace_id, rule_id)
    return await enqueue(session, POLL_TASK, {"rule_id": str(rule_id)}, key=key, workspace_id=workspace_id)


def poll_key(rule_id: uuid.UUID, slot: datetime | None) -> str:
    """The scheduled poll's idempotency key: rule id + the rule's schedule slot (its due time).
    A flow run retried for the same slot finds the same run instead of polling twice."""
    return f"{POLL_TASK}:{rule_id}:{slot.astimezone(UTC).isoformat() if slot else 'first'}"


@dataclass(frozen=True)
class SubmittedPoll:
    rule: DueRule
    run_id: uuid.UUID
    created: bool


async def submit_due_polls(session: AsyncSession, *, limit: int = 500) -> list[SubmittedPoll]:
    """One `monitoring.poll_rule` run per due rule, keyed by rule and slot, in the caller's
    transaction. Scheduled polls do not retry within the slot: the next slot is the retry (a
    failure is recorded on the rule, which moves its next poll time). A slot whose run ended
    without recording that (killed, cancelled) is recorded here, so the rule moves on."""
    due = await MonitoringRepository(session).due_rules(utcnow(), limit)
    submitted: list[SubmittedPoll] = []
    for rule in due:
        result = await enqueue(
            session,
            POLL_TASK,
            {"rule_id": str(rule.rule_id)},
            key=poll_key(rule.rule_id, rule.due_at),
            policy=NO_RETRY,
            workspace_id=rule.workspace_id,
        )
        if not result.created and result.run.status in ("failed", "cancelled"):
            await _record_failure(session, rule.rule_id, f"the poll run {result.run.status}")
        submitted.append(SubmittedPoll(rule, result.run.id, result.created))
    return submitted


async def _record_failure(session: AsyncSession, rule_id: uuid.UUID, error: str) -> None:
    repo = MonitoringRepository(session)
    rule = await repo.get_rule_any(rule_id)
    if rule is not None:
        now = utcnow()
        await repo.record_poll_failure(
            rule_id, error=error, at=now, next_poll_at=now + timedelta(minutes=rule.interval_minutes)
        )


def refresh_key(workspace_id: uuid.UUID | None, force: bool, slot: str) -> str:
    """The scheduled refresh's idempotency key: scope + the flow run's schedule slot."""
    return f"{REFRESH_TASK}:{workspace_id or 'all'}:{'force' if force else 'due'}:{slot}"


async def start_refresh(
    session: AsyncSession,
    workspace_id: uuid.UUID | None,
    *,
    force: bool = False,
    key: str | None = None,
    retry: bool = True,
) -> EnqueueResult:
    """Refresh the due videos (of one workspace, or all) as a `monitoring.refresh_engagement` job."""
    args: dict[str, Any] = {"force": force}
    if workspace_id is not None:
        args["workspace_id"] = str(workspace_id)
    return await enqueue(
        session, REFRESH_TASK, args, key=key, workspace_id=workspace_id, policy=None if retry else NO_RETRY
    )


# --- reads -----------------------------------------------------------------------------------


async def list_videos(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    filters: VideoFilters,
    *,
    sort: str,
    after: tuple[Any, uuid.UUID] | None,
    limit: int,
) -> list[tuple[MonitoredVideo, Any]]:
    if filters.rule_id is not None:
        await get_rule(session, workspace_id, filters.rule_id)
    rows = await MonitoringRepository(session).list_videos(workspace_id, filters, sort=sort, after=after, limit=limit)
    return list(rows)


@dataclass(frozen=True)
class VideoDetail:
    video: MonitoredVideo
    rule_ids: list[uuid.UUID]
    snapshots: Sequence[VideoSnapshot]
    forecasts: Sequence[VideoForecast]


async def video_detail(
    session: AsyncSession, workspace_id: uuid.UUID, video_id: uuid.UUID, *, snapshots: int, forecasts: int = 10
) -> VideoDetail:
    repo = MonitoringRepository(session)
    video = await repo.get_video(workspace_id, video_id)
    if video is None:
        raise NotFound("no such video in this workspace")
    return VideoDetail(
        video,
        await repo.video_rule_ids(video.id),
        await repo.snapshots(video.id, snapshots),
        await repo.forecasts(video.id, forecasts),
    )


async def trending(session: AsyncSession, workspace_id: uuid.UUID, limit: int) -> Sequence[MonitoredVideo]:
    return await MonitoringRepository(session).trending(workspace_id, limit)


async def list_creators(
    session: AsyncSession, workspace_id: uuid.UUID, *, after: tuple[str, uuid.UUID] | None, limit: int
) -> list[Any]:
    return list(await MonitoringRepository(session).list_creators(workspace_id, after=after, limit=limit))


async def accuracy(session: AsyncSession, workspace_id: uuid.UUID) -> tuple[list[tuple[int, int, float, float]], int]:
    repo = MonitoringRepository(session)
    return await repo.accuracy(workspace_id), await repo.open_forecast_count(workspace_id)


# --- the poll and the refresh (job bodies) ----------------------------------------------------


def tier_policy(settings: Settings | None = None) -> domain.TierPolicy:
    s = settings or get_settings()
    return domain.TierPolicy(
        ultra_hot_velocity=s.monitoring.ultra_hot_velocity,
        hot_velocity=s.monitoring.hot_velocity,
        warm_velocity=s.monitoring.warm_velocity,
        hysteresis=s.monitoring.tier_hysteresis,
        ultra_hot_max_age_hours=s.monitoring.ultra_hot_max_age_hours,
        hot_max_age_hours=s.monitoring.hot_max_age_hours,
        warm_max_age_hours=s.monitoring.warm_max_age_hours,
        archive_after_hours=s.monitoring.archive_after_hours,
        archive_velocity=s.monitoring.archive_velocity,
        cadence_minutes={
            "ultra_hot": s.monitoring.cadence_ultra_hot_minutes,
            "hot": s.monitoring.cadence_hot_minutes,
            "warm": s.monitoring.cadence_warm_minutes,
            "cold": s.monitoring.cadence_cold_minutes,
        },
    )


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


# --- engagement -----------------------------------------------------------------------------


@dataclass
class RefreshStats:
    selected: int = 0
    refreshed: int = 0
    missing: int = 0
    forecasts_made: int = 0
    forecasts_resolved: int = 0
    tier_changes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0
    # Time spent per phase (fetch overlaps write, so they add up to more than `seconds`).
    phases: defaultdict[str, float] = field(default_factory=lambda: defaultdict(float))

    def as_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["tier_changes"] = dict(self.tier_changes)
        out["seconds"] = round(self.seconds, 3)
        out["phases"] = {k: round(v, 3) for k, v in self.phases.items()}
        return out


@dataclass
class ChunkPlan:
    """Everything one chunk writes, computed without I/O from the due rows and the fetched stats."""

    snapshots: tuple[list[uuid.UUID], list[uuid.UUID], list[datetime], list[tuple[int, int, int, int, int]]]
    updates: dict[str, list[Any]]
    forecasts: dict[str, list[Any]]
    missing: list[uuid.UUID]
    new_points: dict[uuid.UUID, tuple[tuple[float, int] | None, tuple[float, int]]]
    tier_changes: Counter[str]


def plan_chunk(
    due: Sequence[DueVideo],
    stats_by_id: dict[str, VideoStats],
    now: datetime,
    policy: domain.TierPolicy,
    *,
    observed_at: datetime,
) -> ChunkPlan:
    """Velocity, tier, schedule and forecasts for each video whose stats came back."""
    snap_ws: list[uuid.UUID] = []
    snap_ids: list[uuid.UUID] = []
    snap_at: list[datetime] = []
    snap_counters: list[tuple[int, int, int, int, int]] = []
    upd: dict[str, list[Any]] = {
        k: []
        for k in (
            "ids",
            "views",
            "likes",
            "comments",
            "shares",
            "saves",
            "velocity",
            "acceleration",
            "tier",
            "next_check_at",
            "checked_at",
            "f1",
            "f2",
            "f3",
            "confidence",
            "times",
            "recent",
        )
    }
    fc: dict[str, list[Any]] = {
        k: [] for k in ("ws", "video_ids", "made_at", "base", "p1", "p2", "p3", "c1", "c2", "c3")
    }
    missing: list[uuid.UUID] = []
    new_points: dict[uuid.UUID, tuple[tuple[float, int] | None, tuple[float, int]]] = {}
    changes: Counter[str] = Counter()
    for video in due:
        stats = stats_by_id.get(video.platform_video_id)
        if stats is None:
            missing.append(video.id)
            continue
        observed = observed_at
        t = observed.timestamp()
        views = int(stats.views or 0)
        previous = list(zip(video.recent_times, video.recent_views, strict=False))
        last = max(previous) if previous else None
        if last is not None and t <= last[0]:
            t = last[0] + 1.0  # a clock that did not move still makes a later observation
            observed = datetime.fromtimestamp(t, UTC)
        points = [*previous, (t, views)][-RECENT_POINTS:]
        points.sort()
        age_h = (t - video.posted_at.timestamp()) / 3600.0 if video.posted_at else 24.0 * 365
        v = domain.velocity(points)
        if v is None:
            v = domain.prior_velocity(views, age_h)
        a = domain.acceleration(points)
        tier = domain.next_tier(video.tier, v, age_h, policy)
        if tier != video.tier:
            changes[f"{video.tier}->{tier}"] += 1
        cadence = policy.cadence_seconds(tier)
        predictions = domain.forecast(views, v, a, age_h, len(points))
        counters = (views, stats.likes or 0, stats.comments or 0, stats.shares or 0, stats.saves or 0)
        snap_ws.append(video.workspace_id)
        snap_ids.append(video.id)
        snap_at.append(observed)
        snap_counters.append(counters)
        upd["ids"].append(video.id)
        for key, value in zip(("views", "likes", "comments", "shares", "saves"), counters, strict=True):
            upd[key].append(value)
        upd["velocity"].append(v)
        upd["acceleration"].append(a)
        upd["tier"].append(tier)
        upd["next_check_at"].append(now + timedelta(seconds=cadence) if cadence else None)
        upd["checked_at"].append(observed)
        upd["f1"].append(predictions[0].views)
        upd["f2"].append(predictions[1].views)
        upd["f3"].append(predictions[2].views)
        upd["confidence"].append(predictions[0].confidence)
        upd["times"].append(" ".join(repr(p[0]) for p in points))
        upd["recent"].append(" ".join(str(p[1]) for p in points))
        fc["ws"].append(video.workspace_id)
        fc["video_ids"].append(video.id)
        fc["made_at"].append(observed)
        fc["base"].append(views)
        for f in predictions:
            fc[f"p{f.horizon_hours}"].append(f.views)
            fc[f"c{f.horizon_hours}"].append(f.confidence)
        new_points[video.id] = (last, (t, views))
    return ChunkPlan((snap_ws, snap_ids, snap_at, snap_counters), upd, fc, missing, new_points, changes)


async def refresh_engagement(
    workspace_id: uuid.UUID | None,
    *,
    platform: MonitoringPlatform,
    clock: Clock,
    force: bool = False,
    limit: int | None = None,
    heartbeat: Heartbeat = _no_heartbeat,
) -> dict[str, Any]:
    """Refresh due videos: batched stats, snapshots, re-tiering, forecasts, forecast errors.

    `force` refreshes every tracked video (of the workspace) now, due or not.
    """
    settings = get_settings()
    policy = tier_policy(settings)
    ws = workspace_id
    stats = RefreshStats()
    started = time.perf_counter()
    now = utcnow()
    due_by = now + timedelta(minutes=settings.monitoring.due_grace_minutes)
    # Observations are stamped with the platform's clock; schedules run on ours.
    clock_offset = (await clock.now()) - now
    after: tuple[datetime, uuid.UUID] | None = None
    remaining = limit
    pending: ChunkPlan | None = None
    while True:
        # Select and fetch chunk k+1 while chunk k is being written: the platform and the
        # database work at the same time.
        size = (
            settings.monitoring.refresh_chunk
            if remaining is None
            else min(remaining, settings.monitoring.refresh_chunk)
        )
        due: list[DueVideo] = []
        if size > 0:
            t0 = time.perf_counter()
            async with session_scope() as session:
                due = await MonitoringRepository(session).select_due(
                    due_by, size, workspace_id=ws, force=force, after=after
                )
            stats.phases["select"] += time.perf_counter() - t0
        fetch = asyncio.create_task(_fetch(platform, due, stats)) if due else None
        if pending is not None:
            await _write(pending, now, policy, stats)
            pending = None
        if fetch is None:
            break
        stats_by_id = await fetch
        after = (due[-1].sort_key, due[-1].id)
        stats.selected += len(due)
        if remaining is not None:
            remaining -= len(due)
        t0 = time.perf_counter()
        pending = plan_chunk(due, stats_by_id, now, policy, observed_at=utcnow() + clock_offset)
        stats.phases["plan"] += time.perf_counter() - t0
        await heartbeat()
        if len(due) < size:
            remaining = 0
    stats.seconds = time.perf_counter() - started
    log.info("monitoring.engagement_refreshed", **stats.as_dict())
    return stats.as_dict()


async def _fetch(platform: MonitoringPlatform, due: Sequence[DueVideo], stats: RefreshStats) -> dict[str, VideoStats]:
    t0 = time.perf_counter()
    fetched = await platform.fetch_stats(sorted({d.platform_video_id for d in due}))
    stats.phases["fetch"] += time.perf_counter() - t0
    return {s.video_id: s for s in fetched}


async def _write(plan: ChunkPlan, now: datetime, policy: domain.TierPolicy, stats: RefreshStats) -> None:
    """One transaction per chunk: snapshots, forecast errors, video rows, new forecasts."""
    t0 = time.perf_counter()
    async with session_scope() as session:
        repo = MonitoringRepository(session)
        t = time.perf_counter()
        await repo.insert_snapshots(*plan.snapshots)
        stats.phases["w_snap"] += time.perf_counter() - t
        t = time.perf_counter()
        resolved = await _resolve_forecasts(repo, plan)
        stats.phases["w_resolve"] += time.perf_counter() - t
        t = time.perf_counter()
        await repo.apply_engagement(plan.updates)
        stats.phases["w_update"] += time.perf_counter() - t
        t = time.perf_counter()
        await repo.insert_forecasts(plan.forecasts, domain.FORECAST_MODEL)
        stats.phases["w_forecast"] += time.perf_counter() - t
        await repo.reschedule(plan.missing, now + timedelta(seconds=policy.cadence_seconds("cold") or 21600))
    stats.refreshed += len(plan.updates["ids"])
    stats.missing += len(plan.missing)
    stats.forecasts_made += len(domain.HORIZONS) * len(plan.forecasts["video_ids"])
    stats.forecasts_resolved += resolved
    stats.tier_changes.update(plan.tier_changes)
    stats.phases["write"] += time.perf_counter() - t0


async def _resolve_forecasts(repo: MonitoringRepository, plan: ChunkPlan) -> int:
    """Record the error of every forecast horizon whose time the new snapshots passed."""
    if not plan.new_points:
        return 0
    newest = max(p[1][0] for p in plan.new_points.values())
    open_ = await repo.open_forecasts(list(plan.new_points), datetime.fromtimestamp(newest, UTC))
    rows: list[ResolvedForecast] = []
    count = 0
    for f in open_:
        before, after = plan.new_points[f.video_id]
        actual: list[int | None] = [None, None, None]
        errors: list[float | None] = [None, None, None]
        for index, hours in enumerate(domain.HORIZONS):
            target = f.made_at.timestamp() + hours * 3600.0
            if f.resolved[index] or target > after[0]:
                continue
            value = domain.views_at(target, before or after, after)
            actual[index] = value
            errors[index] = domain.absolute_percentage_error(f.predicted[index], value)
            count += 1
        if any(a is not None for a in actual):
            rows.append(
                ResolvedForecast(
                    f.video_id, f.made_at, (actual[0], actual[1], actual[2]), (errors[0], errors[1], errors[2])
                )
            )
    await repo.resolve_forecasts(rows)
    return count
