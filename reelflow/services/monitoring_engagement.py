"""Monitoring: the engagement refresh (the `monitoring.refresh_engagement` job's body):
batched stats, snapshots, tiers, forecasts and forecast errors, chunk by chunk."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from reelflow.adapters.protocols import Clock, MonitoringPlatform
from reelflow.adapters.records import VideoStats
from reelflow.domain import monitoring as domain
from reelflow.logs import get_logger
from reelflow.settings import Settings, get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.monitoring import (
    DueVideo,
    ResolvedForecast,
)
from reelflow.storage.repositories.monitoring_engagement import EngagementRepository

log = get_logger(__name__)
PLATFORM = "tiktok"
RECENT_POINTS = domain.VELOCITY_WINDOW
Heartbeat = Callable[[], Awaitable[None]]


async def _no_heartbeat() -> None:
    return None


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
                due = await EngagementRepository(session).select_due(
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
        repo = EngagementRepository(session)
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


async def _resolve_forecasts(repo: EngagementRepository, plan: ChunkPlan) -> int:
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
