"""Monitoring use cases: rules, the poll of one rule, the engagement refresh, and what the
schedules find due. The API (`web/routes/monitoring.py`), the jobs (`tasks/monitoring.py`)
and the flows (`flows/monitoring.py`) call these; the platform client and the clock are
passed in (`reelflow.adapters.protocols`), chosen in `reelflow.composition`.

The poll and the refresh are idempotent: videos, creators and links are upserted by
natural key, snapshots are unique per (video, taken_at) and forecasts per (video, made_at,
horizon).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import monitoring as domain
from reelflow.domain.retry import NO_RETRY
from reelflow.errors import NotFound
from reelflow.logs import get_logger
from reelflow.queue import EnqueueResult, enqueue
from reelflow.services import audit
from reelflow.settings import get_settings
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.monitoring import MonitoredVideo, MonitoringRule, VideoForecast, VideoSnapshot
from reelflow.storage.repositories.monitoring import (
    DueRule,
    MonitoringRepository,
    RuleListRow,
    VideoFilters,
    VideoListRow,
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
) -> list[RuleListRow]:
    """A page of the workspace's rules, as rows named like MonitoringRule's attributes."""
    return await MonitoringRepository(session).list_rules(workspace_id, after=after, limit=limit)


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


async def delete_rule(
    session: AsyncSession, workspace_id: uuid.UUID, rule_id: uuid.UUID, *, actor: audit.Actor | None = None
) -> None:
    """Delete a rule and its links; the videos it found stay (other rules may share them).
    Recorded in the audit log."""
    rule = await get_rule(session, workspace_id, rule_id)
    details = {"name": rule.name, "kind": rule.kind}
    if not await MonitoringRepository(session).delete_rule(workspace_id, rule_id):
        raise NotFound("no such rule in this workspace")
    await audit.record(
        session,
        "monitoring.rule.deleted",
        actor=actor,
        workspace_id=workspace_id,
        target_type="monitoring_rule",
        target_id=rule_id,
        details=details,
    )


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
) -> list[VideoListRow]:
    """A page of videos, as rows named like MonitoredVideo's attributes plus `sort_key`."""
    if filters.rule_id is not None:
        await get_rule(session, workspace_id, filters.rule_id)
    return await MonitoringRepository(session).list_videos(workspace_id, filters, sort=sort, after=after, limit=limit)


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
