"""Engagement writes for monitoring: select due videos (keyset order), and per chunk the
bulk snapshot/video/forecast writes (`unnest` of whole columns, one round trip each)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, literal, select, text, tuple_, update

from reelflow.storage.models.monitoring import (
    MonitoredVideo,
)
from reelflow.storage.repositories.monitoring import DueVideo, MonitoringRepository, OpenForecast, ResolvedForecast


class EngagementRepository(MonitoringRepository):
    """The refresh's queries (and, inherited, the snapshot inserts it shares with the poll)."""

    # --- engagement ---------------------------------------------------------------------
    async def select_due(
        self,
        due_by: datetime,
        limit: int,
        *,
        workspace_id: uuid.UUID | None = None,
        force: bool = False,
        after: tuple[datetime, uuid.UUID] | None = None,
    ) -> list[DueVideo]:
        """Tracked videos whose next check is at or before `due_by`, soonest first, after `after`.

        With `force`, every tracked video (of the workspace), due or not.
        """
        v = MonitoredVideo
        key = func.coalesce(v.next_check_at, literal(due_by))
        query = select(
            v.id,
            v.workspace_id,
            v.platform,
            v.platform_video_id,
            v.tier,
            v.posted_at,
            v.views,
            v.recent_times,
            v.recent_views,
            v.snapshot_count,
            key,
        ).where(v.tier != "archived")
        if workspace_id is not None:
            query = query.where(v.workspace_id == workspace_id)
        if force:
            # id order: rows written meanwhile get a later next_check_at and must not come back
            if after is not None:
                query = query.where(v.id > after[1])
            query = query.order_by(v.id)
        else:
            query = query.where(v.next_check_at <= due_by)
            if after is not None:
                query = query.where(tuple_(v.next_check_at, v.id) > tuple_(literal(after[0]), literal(after[1])))
            query = query.order_by(v.next_check_at, v.id)
        rows = (await self.session.execute(query.limit(limit))).all()
        return [
            DueVideo(
                id=r[0],
                workspace_id=r[1],
                platform=r[2],
                platform_video_id=r[3],
                tier=r[4],
                posted_at=r[5],
                views=r[6],
                recent_times=list(r[7] or []),
                recent_views=list(r[8] or []),
                snapshot_count=r[9],
                sort_key=r[10],
            )
            for r in rows
        ]

    async def reschedule(self, video_ids: Sequence[uuid.UUID], next_check_at: datetime) -> None:
        """Push the next check of videos the platform did not return (deleted or private)."""
        if video_ids:
            await self.session.execute(
                update(MonitoredVideo).where(MonitoredVideo.id.in_(list(video_ids))).values(next_check_at=next_check_at)
            )

    async def apply_engagement(self, columns: dict[str, list[Any]]) -> None:
        """Write counters, velocity, tier, schedule and latest forecast for many videos at once."""
        if not columns["ids"]:
            return
        await self.session.execute(
            text(
                """
                UPDATE monitoring_videos AS v SET
                    views = u.views, likes = u.likes, comments = u.comments, shares = u.shares, saves = u.saves,
                    velocity = u.velocity, acceleration = u.acceleration,
                    tier_changed_at = CASE WHEN v.tier <> u.tier THEN u.checked_at ELSE v.tier_changed_at END,
                    tier = u.tier, next_check_at = u.next_check_at, last_checked_at = u.checked_at,
                    forecast_1h = u.f1, forecast_2h = u.f2, forecast_3h = u.f3, forecast_confidence = u.confidence,
                    recent_times = CAST(string_to_array(u.times, ' ') AS float8[]),
                    recent_views = CAST(string_to_array(u.recent, ' ') AS bigint[]),
                    snapshot_count = v.snapshot_count + 1
                FROM unnest(CAST(:ids AS uuid[]), CAST(:views AS bigint[]), CAST(:likes AS bigint[]),
                            CAST(:comments AS bigint[]), CAST(:shares AS bigint[]), CAST(:saves AS bigint[]),
                            CAST(:velocity AS float8[]), CAST(:acceleration AS float8[]), CAST(:tier AS text[]),
                            CAST(:next_check_at AS timestamptz[]), CAST(:checked_at AS timestamptz[]),
                            CAST(:f1 AS bigint[]), CAST(:f2 AS bigint[]), CAST(:f3 AS bigint[]),
                            CAST(:confidence AS float8[]), CAST(:times AS text[]), CAST(:recent AS text[]))
                     AS u(id, views, likes, comments, shares, saves, velocity, acceleration, tier, next_check_at,
                          checked_at, f1, f2, f3, confidence, times, recent)
                WHERE v.id = u.id
                """
            ),
            columns,
        )

    async def insert_forecasts(self, columns: dict[str, list[Any]], model: str) -> None:
        """One row per video and check: predictions for +1, +2, +3 h; repeats are ignored."""
        if not columns["video_ids"]:
            return
        await self.session.execute(
            text(
                """
                INSERT INTO monitoring_forecasts (video_id, made_at, workspace_id, model, base_views, predicted_1h,
                                                  predicted_2h, predicted_3h, confidence_1h, confidence_2h,
                                                  confidence_3h)
                SELECT u.vid, u.made_at, u.ws, :model, u.base, u.p1, u.p2, u.p3, u.c1, u.c2, u.c3
                FROM unnest(CAST(:video_ids AS uuid[]), CAST(:made_at AS timestamptz[]), CAST(:ws AS uuid[]),
                            CAST(:base AS bigint[]), CAST(:p1 AS bigint[]), CAST(:p2 AS bigint[]),
                            CAST(:p3 AS bigint[]), CAST(:c1 AS float8[]), CAST(:c2 AS float8[]),
                            CAST(:c3 AS float8[]))
                     AS u(vid, made_at, ws, base, p1, p2, p3, c1, c2, c3)
                ON CONFLICT (video_id, made_at) DO NOTHING
                """
            ),
            {**columns, "model": model},
        )

    async def open_forecasts(self, video_ids: Sequence[uuid.UUID], until: datetime) -> list[OpenForecast]:
        """Forecasts of these videos with a horizon still unresolved whose +1 h time is at or before `until`."""
        if not video_ids:
            return []
        result = await self.session.execute(
            text(
                """
                SELECT f.video_id, f.made_at, f.predicted_1h, f.predicted_2h, f.predicted_3h,
                       f.error_1h IS NOT NULL, f.error_2h IS NOT NULL
                FROM monitoring_forecasts f
                WHERE f.video_id = ANY(CAST(:ids AS uuid[])) AND f.error_3h IS NULL
                  AND f.made_at <= CAST(:until AS timestamptz) - interval '1 hour'
                """
            ),
            {"ids": list(video_ids), "until": until},
        )
        return [OpenForecast(r[0], r[1], (r[2], r[3], r[4]), (bool(r[5]), bool(r[6]), False)) for r in result]

    async def resolve_forecasts(self, rows: Sequence[ResolvedForecast]) -> None:
        """Store actual views and errors for the horizons resolved now (others are left as they are)."""
        if not rows:
            return

        def col(index: int, attr: str) -> list[Any]:
            return [getattr(r, attr)[index] for r in rows]

        await self.session.execute(
            text(
                """
                UPDATE monitoring_forecasts AS f SET
                    actual_1h = coalesce(f.actual_1h, u.a1), error_1h = coalesce(f.error_1h, u.e1),
                    actual_2h = coalesce(f.actual_2h, u.a2), error_2h = coalesce(f.error_2h, u.e2),
                    actual_3h = coalesce(f.actual_3h, u.a3), error_3h = coalesce(f.error_3h, u.e3)
                FROM unnest(CAST(:vids AS uuid[]), CAST(:made_at AS timestamptz[]),
                            CAST(:a1 AS bigint[]), CAST(:a2 AS bigint[]), CAST(:a3 AS bigint[]),
                            CAST(:e1 AS float8[]), CAST(:e2 AS float8[]), CAST(:e3 AS float8[]))
                     AS u(vid, made_at, a1, a2, a3, e1, e2, e3)
                WHERE f.video_id = u.vid AND f.made_at = u.made_at
                """
            ),
            {
                "vids": [r.video_id for r in rows],
                "made_at": [r.made_at for r in rows],
                "a1": col(0, "actual"),
                "a2": col(1, "actual"),
                "a3": col(2, "actual"),
                "e1": col(0, "errors"),
                "e2": col(1, "errors"),
                "e3": col(2, "errors"),
            },
        )
