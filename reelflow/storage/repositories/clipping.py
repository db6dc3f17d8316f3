"""Queries for projects, uploads, clips and monthly usage."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, NamedTuple

from sqlalchemy import Integer, bindparam, delete, func, or_, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Clip, Project, Upload, UsageCounter
from reelflow.storage.models.identity import Workspace
from reelflow.storage.models.runtime import JobRun

# Clip ids are derived from their project and rank, so re-running detection (a recovered
# job) upserts the same rows and blob names.
CLIP_NAMESPACE = uuid.UUID("6f1d1c5e-2f37-4c55-9a8e-2b3f6c0f4a11")


def clip_id_for(project_id: uuid.UUID, rank: int) -> uuid.UUID:
    return uuid.uuid5(CLIP_NAMESPACE, f"{project_id}:{rank}")


@dataclass(frozen=True)
class ClipSpec:
    """A detected highlight to store as a clip."""

    rank: int
    start_s: float
    end_s: float
    score: float
    reasons: list[str]
    text: str


class ProjectListRow(NamedTuple):
    """A project as the projects list reads it: its columns (Core, no ORM object), named like
    Project's attributes."""

    id: uuid.UUID
    title: str
    status: str
    stage: str | None
    progress: int
    failure_reason: str | None
    source_kind: str
    source_url: str | None
    source_bytes: int | None
    duration_s: float | None
    width: int | None
    height: int | None
    rotation: int | None
    fps: float | None
    has_audio: bool | None
    video_codec: str | None
    audio_codec: str | None
    options: dict[str, Any]
    timings: dict[str, Any]
    run_id: uuid.UUID | None
    language: str | None
    transcript_key: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    language_probability: float | None
    warnings: list[str]


_projects = Project.__table__
_PROJECT_LIST_COLUMNS = tuple(_projects.c[name] for name in ProjectListRow._fields)
# The projects page, built once (bound parameters): the first page, and the pages after a cursor.
_PROJECTS_PAGE = (
    select(*_PROJECT_LIST_COLUMNS)
    .where(_projects.c.workspace_id == bindparam("workspace_id"))
    .order_by(_projects.c.created_at.desc(), _projects.c.id.desc())
    .limit(bindparam("limit", type_=Integer))
)
_PROJECTS_PAGE_AFTER = _PROJECTS_PAGE.where(
    or_(
        _projects.c.created_at < bindparam("after_at"),
        (_projects.c.created_at == bindparam("after_at")) & (_projects.c.id < bindparam("after_id")),
    )
)


class ClippingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- workspaces ---------------------------------------------------------------------
    async def workspace_plan(self, workspace_id: uuid.UUID) -> str:
        result = await self.session.execute(select(Workspace.plan).where(Workspace.id == workspace_id))
        return str(result.scalar_one())

    # --- projects -----------------------------------------------------------------------
    async def create_project(
        self,
        *,
        workspace_id: uuid.UUID,
        created_by: uuid.UUID | None,
        title: str,
        status: str,
        source_kind: str,
        source_url: str | None,
        options: dict[str, Any],
    ) -> Project:
        project = Project(
            workspace_id=workspace_id,
            created_by=created_by,
            title=title,
            status=status,
            source_kind=source_kind,
            source_url=source_url,
            options=options,
            timings={},
            progress=0,
        )
        self.session.add(project)
        await self.session.flush()
        return project

    async def get_project(self, workspace_id: uuid.UUID, project_id: uuid.UUID) -> Project | None:
        result = await self.session.execute(
            select(Project).where(Project.id == project_id, Project.workspace_id == workspace_id)
        )
        return result.scalar_one_or_none()

    async def project_by_id(self, project_id: uuid.UUID, *, lock: bool = False) -> Project | None:
        """A project whatever its workspace (jobs carry ids they were given by the API)."""
        query = select(Project).where(Project.id == project_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def list_projects(
        self, workspace_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
    ) -> list[ProjectListRow]:
        """A page of projects, newest first, as plain rows (no ORM objects to build)."""
        params: dict[str, Any] = {"workspace_id": workspace_id, "limit": limit}
        if after is None:
            result = await self.session.execute(_PROJECTS_PAGE, params)
        else:
            result = await self.session.execute(
                _PROJECTS_PAGE_AFTER, {**params, "after_at": after[0], "after_id": after[1]}
            )
        return [ProjectListRow._make(row) for row in result]

    async def projects_to_reconcile(self, now: datetime, limit: int) -> list[Project]:
        """Projects whose work may have ended elsewhere: active with a run that ended, or
        uploading with an open upload whose link expired (the reconciliation sweep)."""
        ended_run = (
            select(Project)
            .join(JobRun, JobRun.id == Project.run_id)
            .where(Project.status.in_(("queued", "processing")), JobRun.status.in_(("failed", "cancelled")))
        )
        expired_upload = (
            select(Project)
            .join(Upload, Upload.project_id == Project.id)
            .where(Project.status == "uploading", Upload.status == "open", Upload.expires_at < now)
        )
        found = list((await self.session.execute(ended_run.limit(limit))).scalars())
        found += (await self.session.execute(expired_upload.limit(limit))).scalars()
        return found[:limit]

    async def update_project(self, project_id: uuid.UUID, **values: Any) -> None:
        values.setdefault("updated_at", utcnow())
        await self.session.execute(update(Project).where(Project.id == project_id).values(**values))

    async def record_timing(self, project_id: uuid.UUID, stage: str, seconds: float) -> None:
        """Merge one stage's wall time into the project's timings (JSONB ||)."""
        await self.session.execute(
            update(Project)
            .where(Project.id == project_id)
            .values(timings=Project.timings.op("||")(func.jsonb_build_object(stage, round(seconds, 3))))
        )

    async def fail_project(self, project_id: uuid.UUID, reason: str) -> None:
        """Mark a project failed with a reason (never a finished one)."""
        await self.session.execute(
            update(Project)
            .where(Project.id == project_id, Project.status != "clips_ready")
            .values(status="failed", failure_reason=reason[:2000], finished_at=utcnow(), updated_at=utcnow())
        )

    async def delete_project(self, project: Project) -> None:
        await self.session.delete(project)
        await self.session.flush()

    # --- uploads ------------------------------------------------------------------------
    async def create_upload(
        self,
        *,
        workspace_id: uuid.UUID,
        project_id: uuid.UUID,
        filename: str,
        content_type: str,
        total_bytes: int,
        expires_at: datetime,
    ) -> Upload:
        upload = Upload(
            workspace_id=workspace_id,
            project_id=project_id,
            filename=filename,
            content_type=content_type,
            total_bytes=total_bytes,
            received_bytes=0,
            status="open",
            expires_at=expires_at,
        )
        self.session.add(upload)
        await self.session.flush()
        return upload

    async def upload_by_id(self, upload_id: uuid.UUID, *, lock: bool = False) -> Upload | None:
        query = select(Upload).where(Upload.id == upload_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def get_upload(self, workspace_id: uuid.UUID, upload_id: uuid.UUID) -> Upload | None:
        result = await self.session.execute(
            select(Upload).where(Upload.id == upload_id, Upload.workspace_id == workspace_id)
        )
        return result.scalar_one_or_none()

    async def upload_for_project(self, project_id: uuid.UUID) -> Upload | None:
        return (await self.session.execute(select(Upload).where(Upload.project_id == project_id))).scalar_one_or_none()

    # --- clips --------------------------------------------------------------------------
    async def upsert_clips(
        self, project: Project, specs: list[ClipSpec], *, caption_style: str, preset: str
    ) -> list[uuid.UUID]:
        """Insert the project's clips, or leave rows from an earlier attempt as they are."""
        if not specs:
            return []
        rows = [
            {
                "id": clip_id_for(project.id, spec.rank),
                "workspace_id": project.workspace_id,
                "project_id": project.id,
                "rank": spec.rank,
                "start_s": spec.start_s,
                "end_s": spec.end_s,
                "score": spec.score,
                "reasons": spec.reasons,
                "text": spec.text,
                "caption_style": caption_style,
                "preset": preset,
                "status": "pending",
            }
            for spec in specs
        ]
        await self.session.execute(insert(Clip).values(rows).on_conflict_do_nothing(index_elements=["id"]))
        return [clip_id_for(project.id, spec.rank) for spec in specs]

    async def list_clips(self, workspace_id: uuid.UUID, project_id: uuid.UUID) -> list[Clip]:
        result = await self.session.execute(
            select(Clip).where(Clip.workspace_id == workspace_id, Clip.project_id == project_id).order_by(Clip.rank)
        )
        return list(result.scalars())

    async def clips_of_project(self, project_id: uuid.UUID) -> list[Clip]:
        result = await self.session.execute(select(Clip).where(Clip.project_id == project_id).order_by(Clip.rank))
        return list(result.scalars())

    async def get_clip(self, workspace_id: uuid.UUID, clip_id: uuid.UUID) -> Clip | None:
        result = await self.session.execute(select(Clip).where(Clip.id == clip_id, Clip.workspace_id == workspace_id))
        return result.scalar_one_or_none()

    async def clip_by_id(self, clip_id: uuid.UUID, *, lock: bool = False) -> Clip | None:
        query = select(Clip).where(Clip.id == clip_id)
        if lock:
            query = query.with_for_update()
        return (await self.session.execute(query)).scalar_one_or_none()

    async def update_clip(self, clip_id: uuid.UUID, **values: Any) -> None:
        values.setdefault("updated_at", utcnow())
        await self.session.execute(update(Clip).where(Clip.id == clip_id).values(**values))

    async def delete_clip(self, clip: Clip) -> None:
        await self.session.execute(delete(Clip).where(Clip.id == clip.id))

    # --- usage --------------------------------------------------------------------------
    async def charge(self, workspace_id: uuid.UUID, period: date, metric: str, units: int, limit: int) -> int | None:
        """Add `units` to the metric's counter if the result stays within `limit`; the new
        total, or None if it would not. One conditional UPDATE: concurrent charges cannot
        overshoot the limit."""
        await self.session.execute(
            insert(UsageCounter)
            .values(workspace_id=workspace_id, period_start=period, metric=metric, used=0)
            .on_conflict_do_nothing()
        )
        result = await self.session.execute(
            update(UsageCounter)
            .where(
                UsageCounter.workspace_id == workspace_id,
                UsageCounter.period_start == period,
                UsageCounter.metric == metric,
                UsageCounter.used + units <= limit,
            )
            .values(used=UsageCounter.used + units)
            .returning(UsageCounter.used)
        )
        used = result.scalar_one_or_none()
        return None if used is None else int(used)

    async def refund(self, workspace_id: uuid.UUID, period: date, metric: str, units: int) -> None:
        await self.session.execute(
            update(UsageCounter)
            .where(
                UsageCounter.workspace_id == workspace_id,
                UsageCounter.period_start == period,
                UsageCounter.metric == metric,
            )
            .values(used=func.greatest(UsageCounter.used - units, 0))
        )

    async def refund_usage(self, workspace_id: uuid.UUID, period: date, units: dict[str, int]) -> None:
        for metric, count in units.items():
            if count > 0:
                await self.refund(workspace_id, period, metric, count)

    async def expired_uploads(self, now: datetime, limit: int) -> list[tuple[Upload, Project]]:
        """Open uploads past their expiry whose project still waits for the bytes (locked)."""
        stmt = (
            select(Upload, Project)
            .join(Project, Project.id == Upload.project_id)
            .where(Upload.status == "open", Upload.expires_at < now, Project.status == "uploading")
            .order_by(Upload.expires_at)
            .limit(limit)
            .with_for_update(of=Project, skip_locked=True)
        )
        return [(upload, project) for upload, project in (await self.session.execute(stmt)).tuples()]

    async def usage(self, workspace_id: uuid.UUID, period: date) -> dict[str, int]:
        result = await self.session.execute(
            select(UsageCounter.metric, UsageCounter.used).where(
                UsageCounter.workspace_id == workspace_id, UsageCounter.period_start == period
            )
        )
        return {metric: int(used) for metric, used in result.tuples()}

    async def set_usage(self, workspace_id: uuid.UUID, period: date, metric: str, used: int) -> None:
        """Set a counter outright (admin corrections, tests)."""
        await self.session.execute(
            insert(UsageCounter)
            .values(workspace_id=workspace_id, period_start=period, metric=metric, used=used)
            .on_conflict_do_update(index_elements=["workspace_id", "period_start", "metric"], set_={"used": used})
        )
