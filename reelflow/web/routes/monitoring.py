"""Monitoring API: rules (CRUD, pause/resume, poll now, stats), videos, creators, trending, accuracy.

Every query is scoped by the caller's workspace; another workspace's id is a 404.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.identity import EDITORS
from reelflow.domain.monitoring import (
    TIERS,
    build_query,
    check_interval,
    spec_from_definition,
    validate_rule,
)
from reelflow.errors import InvalidInput, NotFound
from reelflow.settings import get_settings
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.monitoring import MonitoredVideo, MonitoringRule, VideoForecast
from reelflow.storage.repositories.identity import Principal
from reelflow.storage.repositories.monitoring import VIDEO_SORTS, MonitoringRepository, VideoFilters
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
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


def _totals(rule: MonitoringRule) -> RuleTotals:
    return RuleTotals(
        polls=rule.polls,
        failures=rule.failures,
        fetched=rule.total_fetched,
        new=rule.total_new,
        duplicates=rule.total_duplicates,
        creators_created=rule.total_creators_created,
    )


def rule_out(rule: MonitoringRule) -> RuleOut:
    spec = spec_from_definition(rule.definition, rule.region, rule.language)
    return RuleOut(
        id=rule.id,
        name=rule.name,
        kind=rule.kind,
        definition=rule.definition,
        query=build_query(spec).as_dict(),
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


def video_out(video: MonitoredVideo) -> VideoOut:
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


async def _rule_or_404(repo: MonitoringRepository, principal: Principal, rule_id: uuid.UUID) -> MonitoringRule:
    rule = await repo.get_rule(principal.workspace_id, rule_id)
    if rule is None:
        raise NotFound("no such rule in this workspace")
    return rule


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
        settings = get_settings()
        spec = validate_rule(
            kind=data.kind, values=data.values, combined=data.combined, region=data.region, language=data.language
        )
        interval = check_interval(
            data.interval_minutes or settings.monitoring_poll_interval_default_minutes,
            settings.monitoring_poll_interval_min_minutes,
        )
        rule = await MonitoringRepository(db_session).create_rule(
            workspace_id=principal.workspace_id,
            name=data.name,
            kind=spec.kind,
            definition=spec.definition(),
            region=spec.region,
            language=spec.language,
            interval_minutes=interval,
            active=data.active,
            next_poll_at=utcnow() if data.active else None,
        )
        await db_session.refresh(rule)
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
        rows = await MonitoringRepository(db_session).list_rules(
            principal.workspace_id, after=decode_time_id_cursor(cursor), limit=limit + 1
        )
        items, next_cursor = page_of(rows, limit, lambda r: encode_cursor(r.created_at, r.id))
        return Page(items=[rule_out(r) for r in items], next_cursor=next_cursor)

    @get("/rules/{rule_id:uuid}", guards=[requires_role(*READERS)])
    async def get_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleOut:
        return rule_out(await _rule_or_404(MonitoringRepository(db_session), principal, rule_id))

    @patch("/rules/{rule_id:uuid}", guards=[requires_role(*EDITORS)])
    async def update_rule(
        self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID, data: RulePatch
    ) -> RuleOut:
        """Change a rule; a new definition is validated like a new rule."""
        rule = await _rule_or_404(MonitoringRepository(db_session), principal, rule_id)
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
            spec = validate_rule(
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
            rule.interval_minutes = check_interval(data.interval_minutes, settings.monitoring_poll_interval_min_minutes)
            if rule.last_polled_at is not None and rule.active:
                rule.next_poll_at = rule.last_polled_at + timedelta(minutes=rule.interval_minutes)
        if data.active is not None:
            self._set_active(rule, data.active)
        rule.updated_at = utcnow()
        await db_session.flush()
        return rule_out(rule)

    @staticmethod
    def _set_active(rule: MonitoringRule, active: bool) -> None:
        if active and not rule.active:
            last = rule.last_polled_at
            rule.next_poll_at = max(utcnow(), last + timedelta(minutes=rule.interval_minutes)) if last else utcnow()
        if not active:
            rule.next_poll_at = None
        rule.active = active

    @post("/rules/{rule_id:uuid}/pause", guards=[requires_role(*EDITORS)], status_code=200)
    async def pause_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleOut:
        """Stop polling the rule (its videos keep being tracked)."""
        rule = await _rule_or_404(MonitoringRepository(db_session), principal, rule_id)
        self._set_active(rule, False)
        rule.updated_at = utcnow()
        await db_session.flush()
        return rule_out(rule)

    @post("/rules/{rule_id:uuid}/resume", guards=[requires_role(*EDITORS)], status_code=200)
    async def resume_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleOut:
        """Poll the rule again on its interval (at once if a poll is overdue)."""
        rule = await _rule_or_404(MonitoringRepository(db_session), principal, rule_id)
        self._set_active(rule, True)
        rule.updated_at = utcnow()
        await db_session.flush()
        return rule_out(rule)

    @delete("/rules/{rule_id:uuid}", guards=[requires_role(*EDITORS)], status_code=204)
    async def delete_rule(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> None:
        """Delete a rule and its links; the videos it found stay (other rules may share them)."""
        if not await MonitoringRepository(db_session).delete_rule(principal.workspace_id, rule_id):
            raise NotFound("no such rule in this workspace")

    @post("/rules/{rule_id:uuid}/poll", guards=[requires_role(*EDITORS)])
    async def poll_rule(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID
    ) -> Response[Any]:
        """Poll the rule now, as a job (`monitoring.poll_rule`); send an Idempotency-Key to retry safely."""
        from reelflow.web.jobs import start_job

        await _rule_or_404(MonitoringRepository(db_session), principal, rule_id)
        return await start_job(request, db_session, principal, "monitoring.poll_rule", {"rule_id": str(rule_id)})

    @get("/rules/{rule_id:uuid}/stats", guards=[requires_role(*READERS)])
    async def rule_stats(self, db_session: AsyncSession, principal: Principal, rule_id: uuid.UUID) -> RuleStatsOut:
        """What a rule found: poll totals, linked videos (by tier), their views and creators."""
        repo = MonitoringRepository(db_session)
        rule = await _rule_or_404(repo, principal, rule_id)
        stats = await repo.rule_video_stats(rule.id)
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
        from reelflow.web.jobs import start_job

        args = {"workspace_id": str(principal.workspace_id), "force": data.force}
        return await start_job(request, db_session, principal, "monitoring.refresh_engagement", args)

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
        repo = MonitoringRepository(db_session)
        if rule_id is not None:
            await _rule_or_404(repo, principal, rule_id)
        after = _decode_sort_cursor(cursor, sort)
        rows = await repo.list_videos(
            principal.workspace_id,
            VideoFilters(
                rule_id=rule_id, tier=tier, creator_id=creator_id, min_views=min_views, since=_parse_since(since)
            ),
            sort=sort,
            after=after,
            limit=limit + 1,
        )
        items, next_cursor = page_of(rows, limit, lambda row: encode_cursor(row[1], row[0].id))
        return Page(items=[video_out(video) for video, _ in items], next_cursor=next_cursor)

    @get("/videos/{video_id:uuid}", guards=[requires_role(*READERS)])
    async def get_video(
        self,
        db_session: AsyncSession,
        principal: Principal,
        video_id: uuid.UUID,
        snapshots: int = Parameter(default=100, ge=1, le=1000),
    ) -> VideoDetailOut:
        """A video with its latest snapshots (oldest first) and forecasts (newest first)."""
        repo = MonitoringRepository(db_session)
        video = await repo.get_video(principal.workspace_id, video_id)
        if video is None:
            raise NotFound("no such video in this workspace")
        return VideoDetailOut(
            video=video_out(video),
            rule_ids=await repo.video_rule_ids(video.id),
            snapshots=[
                SnapshotOut(s.taken_at, s.views, s.likes, s.comments, s.shares, s.saves)
                for s in await repo.snapshots(video.id, snapshots)
            ],
            forecasts=[item for f in await repo.forecasts(video.id, 10) for item in _forecast_items(f)],
        )

    @get("/trending", guards=[requires_role(*READERS)])
    async def trending(
        self, db_session: AsyncSession, principal: Principal, limit: int = Parameter(default=20, ge=1, le=100)
    ) -> list[VideoOut]:
        """The fastest-growing tracked videos now (views per hour)."""
        check_limit(limit, 100)
        return [video_out(v) for v in await MonitoringRepository(db_session).trending(principal.workspace_id, limit)]

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
        rows = await MonitoringRepository(db_session).list_creators(
            principal.workspace_id, after=after, limit=limit + 1
        )
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
        repo = MonitoringRepository(db_session)
        rows = await repo.accuracy(principal.workspace_id)
        return AccuracyOut(
            horizons=[
                HorizonAccuracy(horizon_hours=h, resolved=n, mape=round(m, 3), bias_pct=round(b, 3))
                for h, n, m, b in rows
            ],
            open_forecasts=await repo.open_forecast_count(principal.workspace_id),
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
