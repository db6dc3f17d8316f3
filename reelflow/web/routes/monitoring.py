"""Monitoring API: rules (CRUD, pause/resume, poll now, stats), videos, creators, trending, accuracy.

Every query is scoped by the caller's workspace; another workspace's id is a 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.identity import EDITORS
from reelflow.domain.monitoring import TIERS, query_of_definition
from reelflow.errors import InvalidInput
from reelflow.services import monitoring
from reelflow.storage.models.monitoring import MonitoredVideo, MonitoringRule, VideoForecast
from reelflow.storage.repositories.identity import Principal
from reelflow.storage.repositories.monitoring import VIDEO_SORTS, RuleListRow, VideoFilters, VideoListRow
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.jobs import idempotency_key, job_response
from reelflow.web.pagination import Page, check_limit, decode_cursor, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.monitoring import (
    AccuracyOut,
    CreatorOut,
    ForecastOut,
    HorizonAccuracy,
    RefreshIn,
    RuleIn,
    RuleOut,
    RulePatch,
    RuleStatsOut,
    RuleTotals,
    SnapshotOut,
    VideoDetailOut,
    VideoOut,
)

READERS = ("owner", "admin", "editor")


def _totals(rule: MonitoringRule | RuleListRow) -> RuleTotals:
    return RuleTotals(
        polls=rule.polls,
        failures=rule.failures,
        fetched=rule.total_fetched,
        new=rule.total_new,
        duplicates=rule.total_duplicates,
        creators_created=rule.total_creators_created,
    )


def rule_out(rule: MonitoringRule | RuleListRow) -> RuleOut:
    """A rule (an ORM object, or a list row with the same attribute names) as the API shows it."""
    return RuleOut(
        id=rule.id,
        name=rule.name,
        kind=rule.kind,
        definition=rule.definition,
        query=query_of_definition(rule.definition, rule.region, rule.language),
        region=rule.region,
        language=rule.language,
        interval_minutes=rule.interval_minutes,
        active=rule.active,
        next_poll_at=rule.next_poll_at,
        last_polled_at=rule.last_polled_at,
        last_error=rule.last_error,
        last_error_at=rule.last_error_at,
        totals=_totals(rule),
        created_at=rule.created_at,
        updated_at=rule.updated_at,
    )


def video_out(video: MonitoredVideo | VideoListRow) -> VideoOut:
    """A video (an ORM object, or a list row with the same attribute names) as the API shows it."""
    return VideoOut(
        id=video.id,
        platform=video.platform,
        platform_video_id=video.platform_video_id,
        url=video.url,
        username=video.username,
        creator_id=video.creator_id,
        description=video.description,
        hashtags=list(video.hashtags or []),
        region=video.region,
        posted_at=video.posted_at,
        first_seen_at=video.first_seen_at,
        views=video.views,
        likes=video.likes,
        comments=video.comments,
        shares=video.shares,
        saves=video.saves,
        tier=video.tier,
        velocity=round(video.velocity, 3),
        acceleration=None if video.acceleration is None else round(video.acceleration, 3),
        next_check_at=video.next_check_at,
        last_checked_at=video.last_checked_at,
        forecast_1h=video.forecast_1h,
        forecast_2h=video.forecast_2h,
        forecast_3h=video.forecast_3h,
        forecast_confidence=video.forecast_confidence,
    )


def _parse_since(since: str | None) -> datetime | None:
    if since is None:
        return None
    try:
        value = datetime.fromisoformat(since.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput("an ISO 8601 date or time", field="since") from None
    if value.tzinfo is None:
        from datetime import UTC

        value = value.replace(tzinfo=UTC)
    return value


class MonitoringController(Controller):
    path = "/monitoring"
    tags = ["monitoring"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    # --- rules --------------------------------------------------------------------------
    @post("/rules", guards=[requires_role(*EDITORS)])
    async def create_rule(self, db_session: AsyncSession, principal: Principal, data: RuleIn) -> RuleOut:
        """Create a rule; it is polled at once by the next scheduled poll, then every interval."""
        rule = await monitoring.create_rule(
            db_session, principal.workspace_id, monitoring.RuleInput(**msgspec.structs.asdict(data))
        )
        return rule_out(rule)

    @get("/rules", guards=[requires_role(*READERS)])
    async def list_rules(
        self,
        db_session: AsyncSession,
        principal: Principal,
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[RuleOut]:
        """The workspace's rules, oldest first."""
        check_limit(limit, 200)
        rows = await monitoring.list_rules(
            db_session, principal.workspace_id, after=decode_time_id_cursor(cursor), limit=limit + 1
        )
        items, next_cursor = page_of(rows, limit, lambda r: encode_cursor(r.created_at, r.id))
        return Page(items=[rule_out(r) for r in items], next_cursor=next_cursor)

    @get("/rules/{rule_id:uuid}", guards=[requires_role(*READERS)])
    async def get_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleOut:
        return rule_out(await monitoring.get_rule(db_session, principal.workspace_id, rule_id))

    @patch("/rules/{rule_id:uuid}", guards=[requires_role(*EDITORS)])
    async def update_rule(
        self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: RulePatch
    ) -> RuleOut:
        """Change a rule; a new definition is validated like a new rule."""
        changes = monitoring.RuleChanges(**msgspec.structs.asdict(data))
        return rule_out(await monitoring.update_rule(db_session, principal.workspace_id, rule_id, changes))

    @post("/rules/{rule_id:uuid}/pause", guards=[requires_role(*EDITORS)], status_code=200)
    async def pause_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleOut:
        """Stop polling the rule (its videos keep being tracked)."""
        return rule_out(await monitoring.set_rule_active(db_session, principal.workspace_id, rule_id, False))

    @post("/rules/{rule_id:uuid}/resume", guards=[requires_role(*EDITORS)], status_code=200)
    async def resume_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleOut:
        """Poll the rule again on its interval (at once if a poll is overdue)."""
        return rule_out(await monitoring.set_rule_active(db_session, principal.workspace_id, rule_id, True))

    @delete("/rules/{rule_id:uuid}", guards=[requires_role(*EDITORS)], status_code=204)
    async def delete_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
        """Delete a rule and its links; the videos it found stay (other rules may share them)."""
        await monitoring.delete_rule(db_session, principal.workspace_id, rule_id, actor=principal)

    @post("/rules/{rule_id:uuid}/poll", guards=[requires_role(*EDITORS)])
    async def poll_rule(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID
    ) -> Response[Any]:
        """Poll the rule now, as a job (`monitoring.poll_rule`); send an Idempotency-Key to retry safely."""
        result = await monitoring.start_poll(db_session, principal.workspace_id, rule_id, key=idempotency_key(request))
        return job_response(result)

    @get("/rules/{rule_id:uuid}/stats", guards=[requires_role(*READERS)])
    async def rule_stats(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleStatsOut:
        """What a rule found: poll totals, linked videos (by tier), their views and creators."""
        rule = await monitoring.get_rule(db_session, principal.workspace_id, rule_id)
        stats = await monitoring.rule_video_stats(db_session, rule)
        return RuleStatsOut(
            rule_id=rule.id,
            totals=_totals(rule),
            videos=stats["videos"],
            views=stats["views"],
            creators=stats["creators"],
            videos_by_tier=stats["by_tier"],
            last_polled_at=rule.last_polled_at,
            last_error=rule.last_error,
        )

    # --- engagement -------------------------------------------------------------------
    @post("/engagement/refresh", guards=[requires_role(*EDITORS)])
    async def refresh_engagement(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: RefreshIn
    ) -> Response[Any]:
        """Refresh the workspace's due videos now (all tracked ones with `force`), as a job."""
        result = await monitoring.start_refresh(
            db_session, principal.workspace_id, force=data.force, key=idempotency_key(request)
        )
        return job_response(result)

    # --- videos -------------------------------------------------------------------------
    @get("/videos", guards=[requires_role(*READERS)])
    async def list_videos(
        self,
        db_session: AsyncSession,
        principal: Principal,
        rule_id: uuid.UUID | None = None,
        tier: str | None = None,
        creator_id: uuid.UUID | None = None,
        min_views: int | None = Parameter(default=None, ge=0),
        since: str | None = None,
        sort: str = "views",
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[VideoOut]:
        """Videos found by the workspace's rules; sort by views, velocity or forecast (1 h)."""
        check_limit(limit, 200)
        if sort not in VIDEO_SORTS:
            raise InvalidInput(f"one of {', '.join(VIDEO_SORTS)}", field="sort")
        if tier is not None and tier not in TIERS:
            raise InvalidInput(f"one of {', '.join(TIERS)}", field="tier")
        after = _decode_sort_cursor(cursor, sort)
        rows = await monitoring.list_videos(
            db_session,
            principal.workspace_id,
            VideoFilters(
                rule_id=rule_id, tier=tier, creator_id=creator_id, min_views=min_views, since=_parse_since(since)
            ),
            sort=sort,
            after=after,
            limit=limit + 1,
        )
        items, next_cursor = page_of(rows, limit, lambda row: encode_cursor(row.sort_key, row.id))
        return Page(items=[video_out(row) for row in items], next_cursor=next_cursor)

    @get("/videos/{video_id:uuid}", guards=[requires_role(*READERS)])
    async def get_video(
        self,
        db_session: AsyncSession,
        principal: Principal,
        video_id: uuid.UUID,
        snapshots: int = Parameter(default=100, ge=1, le=1000),
    ) -> VideoDetailOut:
        """A video with its latest snapshots (oldest first) and forecasts (newest first)."""
        detail = await monitoring.video_detail(db_session, principal.workspace_id, video_id, snapshots=snapshots)
        return VideoDetailOut(
            video=video_out(detail.video),
            rule_ids=detail.rule_ids,
            snapshots=[
                SnapshotOut(s.taken_at, s.views, s.likes, s.comments, s.shares, s.saves) for s in detail.snapshots
            ],
            forecasts=[item for f in detail.forecasts for item in _forecast_items(f)],
        )

    @get("/trending", guards=[requires_role(*READERS)])
    async def trending(
        self, db_session: AsyncSession, principal: Principal, limit: int = Parameter(default=20, ge=1, le=100)
    ) -> list[VideoOut]:
        """The fastest-growing tracked videos now (views per hour)."""
        check_limit(limit, 100)
        return [video_out(v) for v in await monitoring.trending(db_session, principal.workspace_id, limit)]

    # --- creators ---------------------------------------------------------------------
    @get("/creators", guards=[requires_role(*READERS)])
    async def list_creators(
        self,
        db_session: AsyncSession,
        principal: Principal,
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[CreatorOut]:
        """Creators of the videos found, by username, with their video count and views."""
        check_limit(limit, 200)
        after = None
        values = decode_cursor(cursor)
        if values is not None:
            try:
                after = (str(values[0]), uuid.UUID(values[1]))
            except (ValueError, IndexError, TypeError):
                raise InvalidInput("not a cursor this API returned", field="cursor") from None
        rows = await monitoring.list_creators(db_session, principal.workspace_id, after=after, limit=limit + 1)
        items, next_cursor = page_of(rows, limit, lambda row: encode_cursor(row[0].username, row[0].id))
        return Page(
            items=[
                CreatorOut(
                    id=c.id,
                    platform=c.platform,
                    username=c.username,
                    display_name=c.display_name,
                    follower_count=c.follower_count,
                    avatar_url=c.avatar_url,
                    is_verified=c.is_verified,
                    region=c.region,
                    first_seen_at=c.first_seen_at,
                    videos=videos,
                    total_views=views,
                )
                for c, videos, views in items
            ],
            next_cursor=next_cursor,
        )

    # --- forecast accuracy ------------------------------------------------------------
    @get("/accuracy", guards=[requires_role(*READERS)])
    async def accuracy(self, db_session: AsyncSession, principal: Principal) -> AccuracyOut:
        """Forecast accuracy per horizon over resolved forecasts (MAPE, %), for this workspace."""
        rows, open_forecasts = await monitoring.accuracy(db_session, principal.workspace_id)
        return AccuracyOut(
            horizons=[
                HorizonAccuracy(horizon_hours=h, resolved=n, mape=round(m, 3), bias_pct=round(b, 3))
                for h, n, m, b in rows
            ],
            open_forecasts=open_forecasts,
        )


def _forecast_items(f: VideoForecast) -> list[ForecastOut]:
    """A stored forecast (three horizons in one row) as one item per horizon."""
    rows = (
        (1, f.predicted_1h, f.confidence_1h, f.actual_1h, f.error_1h),
        (2, f.predicted_2h, f.confidence_2h, f.actual_2h, f.error_2h),
        (3, f.predicted_3h, f.confidence_3h, f.actual_3h, f.error_3h),
    )
    return [
        ForecastOut(
            made_at=f.made_at,
            horizon_hours=h,
            target_at=f.made_at + timedelta(hours=h),
            base_views=f.base_views,
            predicted_views=predicted,
            confidence=confidence,
            model=f.model,
            actual_views=actual,
            abs_pct_error=error,
        )
        for h, predicted, confidence, actual, error in rows
    ]


def _decode_sort_cursor(cursor: str | None, sort: str) -> tuple[Any, uuid.UUID] | None:
    values = decode_cursor(cursor)
    if values is None:
        return None
    try:
        raw, video_id = values[0], uuid.UUID(values[1])
        key: Any
        key = float(raw) if sort == "velocity" else int(raw)
    except (ValueError, IndexError, TypeError):
        raise InvalidInput("not a cursor this API returned", field="cursor") from None
    return key, video_id


route_handlers = [MonitoringController]
