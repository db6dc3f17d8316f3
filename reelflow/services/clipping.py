"""Clipping use cases: projects (URL or upload), clip edits, usage, and the reconciliation
sweep; the uploads themselves are in `clipping_uploads`. Shared by the API
(`web/routes/clipping*.py`) and the pipeline's steps (`clipping_pipeline`, `clipping_render`,
run by `tasks/clipping.py`); the blob store is passed in.
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import clip_jobs, ingest, plans
from reelflow.domain.clipping import get_caption_style, get_preset
from reelflow.errors import Conflict, InvalidInput, NotFound
from reelflow.logs import get_logger
from reelflow.queue import enqueue
from reelflow.services import audit
from reelflow.settings import get_settings
from reelflow.storage.blobs import BlobStore, DirectUploadStore
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Clip, Project, Upload
from reelflow.storage.repositories.clipping import ClippingRepository, ProjectListRow
from reelflow.storage.repositories.discovery import DiscoveryRepository
from reelflow.storage.repositories.runtime import RuntimeRepository

log = get_logger(__name__)

PIPELINE_TASK = "clipping.process_project"
RENDER_TASK = "clipping.render_clip"
ACTIVE = ("queued", "processing")


# --- plan limits and usage ---------------------------------------------------------------


async def charge(repo: ClippingRepository, workspace_id: uuid.UUID, metric: str, units: int) -> None:
    """Charge usage in the caller's transaction (a rollback refunds it); LimitExceeded if over."""
    plan = plans.get_plan(await repo.workspace_plan(workspace_id))
    period = plans.period_start(utcnow())
    if await repo.charge(workspace_id, period, metric, units, plan.limit(metric)) is None:
        used = (await repo.usage(workspace_id, period)).get(metric, 0)
        raise plans.limit_exceeded(plan, metric, wanted=units, used=used, start=period)


async def check_minutes_left(repo: ClippingRepository, workspace_id: uuid.UUID) -> None:
    """Refuse a new project when no source minutes are left this period."""
    plan = plans.get_plan(await repo.workspace_plan(workspace_id))
    period = plans.period_start(utcnow())
    used = (await repo.usage(workspace_id, period)).get(plans.SOURCE_MINUTES, 0)
    if used >= plan.source_minutes_per_month:
        raise plans.limit_exceeded(plan, plans.SOURCE_MINUTES, wanted=1, used=used, start=period)


async def check_source_length(session: AsyncSession, workspace_id: uuid.UUID, duration_s: float) -> None:
    """The plan's per-source length limit (LimitExceeded), checked before any work or charge."""
    plan = plans.get_plan(await ClippingRepository(session).workspace_plan(workspace_id))
    plans.check_source_length(plan, duration_s)


async def charge_source_minutes(session: AsyncSession, project_id: uuid.UUID, duration_s: float) -> None:
    """Check the per-source length and charge source minutes once per project (locks the project)."""
    repo = ClippingRepository(session)
    locked = await repo.project_by_id(project_id, lock=True)
    assert locked is not None
    if locked.minutes_charged is not None:
        return
    plan = plans.get_plan(await repo.workspace_plan(locked.workspace_id))
    plans.check_source_length(plan, duration_s)
    minutes = plans.source_minutes(duration_s)
    await charge(repo, locked.workspace_id, plans.SOURCE_MINUTES, minutes)
    locked.minutes_charged = minutes


@dataclass(frozen=True)
class Usage:
    plan: plans.Plan
    period_start: date
    used: dict[str, int]
    open_searches: int  # discovery searches running now (a plan limit shown with usage)


async def usage(session: AsyncSession, workspace_id: uuid.UUID) -> Usage:
    """This period's usage and the workspace's plan."""
    repo = ClippingRepository(session)
    plan = plans.get_plan(await repo.workspace_plan(workspace_id))
    period = plans.period_start(utcnow())
    running = await DiscoveryRepository(session).count_open_searches(workspace_id)
    return Usage(plan, period, await repo.usage(workspace_id, period), running)


# --- projects ----------------------------------------------------------------------------


def option_defaults() -> dict[str, Any]:
    settings = get_settings()
    return {
        "min_len_s": settings.clipping.min_len_s,
        "max_len_s": settings.clipping.max_len_s,
        "top_n": settings.clipping.top_n,
        "preset": settings.clipping.default_preset,
        "caption_style": settings.clipping.default_caption_style,
    }


def allowed_import_origins() -> frozenset[str]:
    settings = get_settings()
    return ingest.allowed_import_origins(
        production=settings.is_production, sandbox_url=settings.sandbox.url, extra=settings.clipping.url_allow_origins
    )


async def resolve_host(host: str, port: int) -> list[str]:
    """The host's addresses (DNS), in the resolver's order; InvalidInput(url) if it does not resolve."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise InvalidInput(f"the host {host} does not resolve ({exc.strerror})", field="url") from None
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_import_url(url: str) -> ingest.SourceUrl:
    """Parse an import URL and refuse private or unresolvable hosts (unless the origin is allowed)."""
    source = ingest.parse_source_url(url)
    allowed = allowed_import_origins()
    if source.origin not in allowed:
        ingest.check_addresses(source, sorted(await resolve_host(source.host, source.port)), allowed)
    return source


async def start_pipeline(session: AsyncSession, project: Project, *, key: str | None = None) -> uuid.UUID:
    """Enqueue the project's pipeline (pushed after the caller's transaction commits)."""
    result = await enqueue(
        session,
        PIPELINE_TASK,
        {"project_id": str(project.id)},
        key=key or f"{PIPELINE_TASK}:{project.id}",
        queue="media",
        workspace_id=project.workspace_id,
    )
    project.run_id = result.run.id
    project.status = "queued"
    project.stage = "queued"
    await session.flush()
    return result.run.id


@dataclass(frozen=True)
class Created:
    project: Project
    replayed: bool = False  # True: an earlier request with the same Idempotency-Key made it
    upload: Upload | None = None


async def create_url_project(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    url: str,
    title: str | None,
    options: dict[str, Any],
    idempotency_key: str | None = None,
) -> Created:
    """Import a video from a URL: check limits, charge the project, store it, start the pipeline.
    With an idempotency key, a repeated request returns the first project (`replayed`)."""
    repo = ClippingRepository(session)
    run_key = f"{PIPELINE_TASK}:key:{idempotency_key}" if idempotency_key else None
    if run_key is not None:
        run = await RuntimeRepository(session).find_by_key(workspace_id, run_key, explicit=True)
        earlier = await repo.get_project(workspace_id, uuid.UUID(run.args["project_id"])) if run else None
        if earlier is not None:
            return Created(earlier, replayed=True)
    ingest.parse_source_url(url)
    resolved = clip_jobs.resolve_options(options, defaults=option_defaults())
    await check_minutes_left(repo, workspace_id)
    await charge(repo, workspace_id, plans.PROJECTS, 1)
    source = await check_import_url(url)  # after the cheap checks: it resolves the host
    project = await repo.create_project(
        workspace_id=workspace_id,
        created_by=user_id,
        title=title or (source.url.rsplit("/", 1)[-1].split("?", 1)[0] or source.host)[:200],
        status="queued",
        source_kind="url",
        source_url=source.url,
        options=resolved,
    )
    await start_pipeline(session, project, key=run_key)
    await session.refresh(project)
    return Created(project)


async def create_upload_project(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    user_id: uuid.UUID,
    *,
    filename: str,
    content_type: str,
    size_bytes: int,
    title: str | None,
    options: dict[str, Any],
    direct: bool = False,
    blobs: BlobStore | None = None,
) -> Created:
    """Start a resumable upload: the project (charged) and its upload row. `direct`: the
    client will PUT the file to the bucket itself (`direct_upload_parts`), which needs a
    store that presigns uploads (S3); asked of the local store, it is a 409 before any charge."""
    settings = get_settings()
    if direct and not isinstance(blobs, DirectUploadStore):
        raise Conflict(
            "direct upload needs the S3 blob store (REELFLOW_BLOB_URL=s3://bucket/prefix); this server keeps "
            'blobs in a local folder: send the bytes to the upload_url instead (without "direct")',
            errors=[{"field": "direct", "message": "not available with the local blob store"}],
        )
    checked_type = ingest.check_content_type(content_type)
    if size_bytes > settings.clipping.max_upload_bytes:
        raise InvalidInput(
            f"the file is larger than the upload limit of {settings.clipping.max_upload_bytes} bytes",
            field="size_bytes",
        )
    resolved = clip_jobs.resolve_options(options, defaults=option_defaults())
    repo = ClippingRepository(session)
    await check_minutes_left(repo, workspace_id)
    await charge(repo, workspace_id, plans.PROJECTS, 1)
    project = await repo.create_project(
        workspace_id=workspace_id,
        created_by=user_id,
        title=title or filename[:200],
        status="uploading",
        source_kind="upload",
        source_url=None,
        options=resolved,
    )
    upload = await repo.create_upload(
        workspace_id=workspace_id,
        project_id=project.id,
        filename=filename,
        content_type=checked_type,
        total_bytes=size_bytes,
        expires_at=utcnow() + timedelta(seconds=settings.clipping.upload_ttl_s),
    )
    await session.refresh(project)
    return Created(project, upload=upload)


async def get_project(session: AsyncSession, workspace_id: uuid.UUID, project_id: uuid.UUID) -> Project:
    project = await ClippingRepository(session).get_project(workspace_id, project_id)
    if project is None:
        raise NotFound("no such project")
    return project


async def list_projects(
    session: AsyncSession, workspace_id: uuid.UUID, *, after: tuple[datetime, uuid.UUID] | None, limit: int
) -> list[ProjectListRow]:
    """A page of the workspace's projects, as rows named like Project's attributes."""
    return await ClippingRepository(session).list_projects(workspace_id, after=after, limit=limit)


async def delete_project(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    project_id: uuid.UUID,
    *,
    blobs: BlobStore,
    actor: audit.Actor | None = None,
) -> None:
    """Delete a project, its clips and every file it made; 409 while it is being processed.
    Recorded in the audit log."""
    repo = ClippingRepository(session)
    project = await get_project(session, workspace_id, project_id)
    await reconcile_project(session, project, blobs=blobs)
    if project.status in ACTIVE:
        raise Conflict("the project is being processed; delete it when it has finished or failed")
    upload = await repo.upload_for_project(project.id)
    details = {"title": project.title, "status": project.status}
    await repo.delete_project(project)
    await audit.record(
        session,
        "clipping.project.deleted",
        actor=actor,
        workspace_id=workspace_id,
        target_type="project",
        target_id=project_id,
        details=details,
    )
    if upload is not None:
        await blobs.discard_part(upload.id)
    await blobs.delete_prefix(f"projects/{project_id}")


async def transcript(
    session: AsyncSession, workspace_id: uuid.UUID, project_id: uuid.UUID, fmt: str, *, blobs: BlobStore
) -> tuple[Project, bytes]:
    project = await get_project(session, workspace_id, project_id)
    if not project.transcript_key:
        raise NotFound("the transcript is not ready yet")
    return project, await blobs.read_bytes(clip_jobs.transcript_keys(project.id)[fmt])


async def finish_pipeline(session: AsyncSession, pid: uuid.UUID) -> None:
    """Clips rendered: the project is ready if at least one clip is (with its file); else it
    fails with the clips' reasons."""
    repo = ClippingRepository(session)
    project = await repo.project_by_id(pid, lock=True)
    assert project is not None
    if project.status != "processing":
        return
    clips = await repo.clips_of_project(pid)
    ready = [c for c in clips if c.status == "ready" and c.video_key]
    timings = dict(project.timings)
    started = timings.pop("render_started_at", None)
    if isinstance(started, int | float):
        timings["render"] = round(time.time() - started, 3)
    timings["render_clips_sum"] = round(sum(c.render_s or 0.0 for c in clips), 3)
    if not ready:
        reasons = "; ".join(sorted({c.failure_reason or "unknown" for c in clips})) or "no clips"
        await repo.update_project(pid, timings=timings)
        await repo.fail_project(pid, f"no clip could be rendered: {reasons}")
        await refund_unfinished_work(repo, project)
        return
    await repo.update_project(
        pid, status="clips_ready", stage="done", progress=100, timings=timings, finished_at=utcnow()
    )


# --- failures and refunds ----------------------------------------------------------------


async def fail_project(session: AsyncSession, pid: uuid.UUID, reason: str) -> bool:
    """Fail a project that is not finished yet and refund its unfinished work (locks it).
    Returns False when it had already finished (ready or failed)."""
    repo = ClippingRepository(session)
    project = await repo.project_by_id(pid, lock=True)
    if project is None or project.status in ("clips_ready", "failed"):
        return False
    await repo.fail_project(pid, reason)
    await refund_unfinished_work(repo, project)
    return True


async def refund_unfinished_work(repo: ClippingRepository, project: Project) -> dict[str, int]:
    """Give back the usage of a project that is failing (see `plans.refund_for_failure`).
    Call it in the transaction that fails the project (locked), once."""
    refunded = plans.refund_for_failure(
        transcribed=project.transcript_key is not None,
        minutes_charged=project.minutes_charged,
        clips_charged=project.clips_charged,
    )
    if plans.SOURCE_MINUTES in refunded:
        project.minutes_charged = 0
    if plans.CLIPS in refunded:
        project.clips_charged = 0
    await repo.refund_usage(project.workspace_id, plans.period_start(project.created_at), refunded)
    log.info("clipping.usage_refunded", project_id=str(project.id), refunded=refunded)
    return refunded


async def expire_uploads(session: AsyncSession, *, blobs: BlobStore, limit: int | None = None) -> dict[str, Any]:
    """Uploads not completed by their expiry: the project fails (usage refunded) and the
    received bytes are deleted (after the session's transaction commits)."""
    batch = limit or get_settings().ops.upload_sweep_batch
    repo = ClippingRepository(session)
    uploads: list[uuid.UUID] = []
    for upload, project in await repo.expired_uploads(utcnow(), batch):
        await repo.fail_project(project.id, "the upload expired before it was completed")
        await refund_unfinished_work(repo, project)
        uploads.append(upload.id)
    return {"expired": len(uploads), "uploads": uploads}


# --- reconciliation (a sweep job, never a GET) -------------------------------------------


async def reconcile_project(session: AsyncSession, project: Project, *, blobs: BlobStore) -> bool:
    """Bring a project whose work ended elsewhere up to date: an upload whose link expired
    unfinished, or a pipeline run that was cancelled or failed without recording it.
    Returns True when the project was failed."""
    repo = ClippingRepository(session)
    if project.status in ACTIVE and project.run_id is not None:
        run = await RuntimeRepository(session).get_run(project.run_id)
        if run is not None and run.status in ("failed", "cancelled"):
            message = (run.error or {}).get("message") or run.status
            reason = f"the pipeline run {run.status}: {message}"
            await repo.fail_project(project.id, reason)
            await refund_unfinished_work(repo, project)
            project.status, project.failure_reason = "failed", reason
            return True
        return False
    if project.status != "uploading":
        return False
    upload = await repo.upload_for_project(project.id)
    if upload is not None and upload.status == "open" and upload.expires_at < utcnow():
        reason = (
            f"the upload stopped at {upload.received_bytes} of {upload.total_bytes} bytes "
            "and its link expired; create a new project to try again"
        )
        await repo.fail_project(project.id, reason)
        await refund_unfinished_work(repo, project)
        project.status, project.failure_reason = "failed", reason
        await blobs.discard_part(upload.id)
        return True
    return False


async def reconcile_projects(session: AsyncSession, *, blobs: BlobStore, limit: int = 500) -> dict[str, int]:
    """The sweep: every project left active by a run that ended, or uploading past its link's expiry."""
    repo = ClippingRepository(session)
    failed = 0
    candidates = await repo.projects_to_reconcile(utcnow(), limit)
    for project in candidates:
        failed += int(await reconcile_project(session, project, blobs=blobs))
    if failed:
        log.info("clipping.reconciled", checked=len(candidates), failed=failed)
    return {"checked": len(candidates), "failed": failed}


# --- clips -------------------------------------------------------------------------------


async def get_clip(session: AsyncSession, workspace_id: uuid.UUID, clip_id: uuid.UUID) -> Clip:
    clip = await ClippingRepository(session).get_clip(workspace_id, clip_id)
    if clip is None:
        raise NotFound("no such clip")
    return clip


async def list_clips(session: AsyncSession, workspace_id: uuid.UUID, project_id: uuid.UUID) -> list[Clip]:
    await get_project(session, workspace_id, project_id)
    return await ClippingRepository(session).list_clips(workspace_id, project_id)


@dataclass(frozen=True)
class ClipChanges:
    start_s: float | None = None
    end_s: float | None = None
    caption_text: str | None = None
    caption_style: str | None = None


@dataclass(frozen=True)
class ClipEdit:
    clip: Clip
    run_id: uuid.UUID | None  # None: the same inputs as the current render, nothing to do


async def edit_clip(
    session: AsyncSession, workspace_id: uuid.UUID, clip_id: uuid.UUID, changes: ClipChanges
) -> ClipEdit:
    """Change bounds, caption text or style; a change of any render input renders the clip again."""
    repo = ClippingRepository(session)
    clip = await get_clip(session, workspace_id, clip_id)
    project = await repo.project_by_id(clip.project_id)
    assert project is not None
    if project.status != "clips_ready" or not project.source_key:
        raise Conflict("clips can be edited once the project's clips are ready")
    if clip.status in ("pending", "rendering"):
        raise Conflict("the clip is being rendered; edit it when that has finished")
    start_s = clip.start_s if changes.start_s is None else changes.start_s
    end_s = clip.end_s if changes.end_s is None else changes.end_s
    caption_style = clip.caption_style
    if changes.caption_style is not None:
        caption_style = get_caption_style(changes.caption_style).name
    caption_text = clip.caption_text
    if changes.caption_text is not None:
        caption_text = changes.caption_text.strip() or None
    max_len = get_preset(clip.preset).max_duration_s  # editors may go past the detection range
    clip_jobs.check_bounds(start_s, end_s, duration_s=project.duration_s or 0.0, max_len_s=max_len)
    new_hash = clip_jobs.render_hash(
        source_key=project.source_key,
        transcript_key=project.transcript_key,
        start_s=start_s,
        end_s=end_s,
        preset=clip.preset,
        caption_style=caption_style,
        caption_text=caption_text,
    )
    if new_hash == clip.render_hash and clip.status == "ready":
        return ClipEdit(clip, None)
    await repo.update_clip(
        clip.id,
        start_s=start_s,
        end_s=end_s,
        caption_style=caption_style,
        caption_text=caption_text,
        status="pending",
        failure_reason=None,
    )
    result = await enqueue(
        session,
        RENDER_TASK,
        {"clip_id": str(clip.id), "render_hash": new_hash},
        key=f"{RENDER_TASK}:{clip.id}:{new_hash[:16]}",
        queue="media",
        workspace_id=workspace_id,
    )
    await session.refresh(clip)
    return ClipEdit(clip, result.run.id)


async def delete_clip(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    clip_id: uuid.UUID,
    *,
    blobs: BlobStore,
    actor: audit.Actor | None = None,
) -> None:
    """Delete a clip and its files; recorded in the audit log."""
    clip = await get_clip(session, workspace_id, clip_id)
    details = {"project_id": str(clip.project_id)}
    await ClippingRepository(session).delete_clip(clip)
    await audit.record(
        session,
        "clipping.clip.deleted",
        actor=actor,
        workspace_id=workspace_id,
        target_type="clip",
        target_id=clip_id,
        details=details,
    )
    await blobs.delete_prefix(clip_jobs.clip_prefix(clip.project_id, clip.id))
