"""Projects (upload or URL), resumable uploads, clips, transcripts, signed blob downloads
and plan usage. Long work (import, transcription, rendering) always runs as jobs on the
`media` queue; these handlers only validate, charge usage, store and enqueue."""

from __future__ import annotations

import asyncio
import math
import socket
import time
import uuid
from datetime import datetime, timedelta
from typing import Any

from litestar import Controller, Request, Response, delete, get, head, patch, post, put
from litestar.di import Provide
from litestar.exceptions import InternalServerException
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import clip_jobs, ingest, plans
from reelflow.domain.clipping import get_caption_style, get_preset
from reelflow.errors import Conflict, InvalidInput, NotFound, UnsupportedMediaType
from reelflow.queue import enqueue
from reelflow.settings import get_settings
from reelflow.storage.blobs import blob_download_url, get_blob_store, signing_secret, verify_blob_signature
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Clip, Project, Upload
from reelflow.storage.repositories.clipping import ClippingRepository
from reelflow.storage.repositories.discovery import DiscoveryRepository
from reelflow.storage.repositories.identity import Principal
from reelflow.storage.repositories.runtime import RuntimeRepository
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.pagination import Page, check_limit, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.clipping import (
    ClipEditOut,
    ClipLinks,
    ClipOut,
    ClipPatch,
    MetricUsage,
    ProjectIn,
    ProjectOut,
    SourceOut,
    TranscriptFormat,
    TranscriptLinks,
    UploadIn,
    UploadOut,
    UploadProgressOut,
    UsageOut,
)

EDITORS = ("owner", "admin", "editor")
UPLOAD_PURPOSE = "upload"
PIPELINE_TASK = "clipping.process_project"
RENDER_TASK = "clipping.render_clip"
# The per-upload limit is the declared size (checked against settings when the upload is
# created); this only lifts the app-wide JSON body limit for the upload handler.
UPLOAD_BODY_CEILING = 1 << 40
CONTENT_TYPES = {
    ".mp4": "video/mp4",
    ".jpg": "image/jpeg",
    ".srt": "application/x-subrip",
    ".vtt": "text/vtt",
    ".json": "application/json",
    ".wav": "audio/wav",
}


# --- helpers ----------------------------------------------------------------------------


def _absolute(request: Request[Any, Any, Any], path: str) -> str:
    base = get_settings().public_base_url or str(request.base_url)
    return base.rstrip("/") + path


def _blob_url(request: Request[Any, Any, Any], key: str) -> str:
    url = blob_download_url(key)  # presigned S3 URL, or the API's signed path
    return url if url.startswith(("http://", "https://")) else _absolute(request, url)


def _upload_url(request: Request[Any, Any, Any], upload: Upload) -> tuple[str, datetime]:
    ttl = max(1, int((upload.expires_at - utcnow()).total_seconds()))
    token, expires = ingest.make_token(signing_secret(), UPLOAD_PURPOSE, str(upload.id), ttl)
    path = f"/api/v1/uploads/{upload.id}?token={token}"
    return _absolute(request, path), datetime.fromtimestamp(expires, tz=upload.expires_at.tzinfo)


def _upload_out(request: Request[Any, Any, Any], upload: Upload) -> UploadOut:
    url, expires_at = _upload_url(request, upload)
    return UploadOut(
        id=upload.id,
        project_id=upload.project_id,
        upload_url=url,
        expires_at=expires_at,
        total_bytes=upload.total_bytes,
        received_bytes=upload.received_bytes,
        status=upload.status,
    )


def _project_out(request: Request[Any, Any, Any], project: Project, upload: UploadOut | None = None) -> ProjectOut:
    transcript = None
    if project.transcript_key:
        keys = clip_jobs.transcript_keys(project.id)
        transcript = TranscriptLinks(
            json=_blob_url(request, keys["json"]),
            srt=_blob_url(request, keys["srt"]),
            vtt=_blob_url(request, keys["vtt"]),
        )
    return ProjectOut(
        id=project.id,
        title=project.title,
        status=project.status,
        stage=project.stage,
        progress=project.progress,
        failure_reason=project.failure_reason,
        source=SourceOut(
            kind=project.source_kind,
            url=project.source_url,
            size_bytes=project.source_bytes,
            duration_s=project.duration_s,
            width=project.width,
            height=project.height,
            rotation=project.rotation,
            fps=project.fps,
            has_audio=project.has_audio,
            video_codec=project.video_codec,
            audio_codec=project.audio_codec,
        ),
        options=project.options,
        timings=project.timings,
        run_id=project.run_id,
        language=project.language,
        transcript=transcript,
        created_at=project.created_at,
        updated_at=project.updated_at,
        finished_at=project.finished_at,
        upload=upload,
        language_probability=project.language_probability,
        warnings=list(project.warnings or []),
    )


def _clip_out(request: Request[Any, Any, Any], clip: Clip) -> ClipOut:
    links = None
    # Links only for a clip whose render finished: never a "ready" clip without its file.
    if clip.status == "ready" and clip.video_key:
        links = ClipLinks(
            video=_blob_url(request, clip.video_key),
            thumbnail=_blob_url(request, clip.thumbnail_key) if clip.thumbnail_key else None,
            poster=_blob_url(request, clip.poster_key) if clip.poster_key else None,
            srt=_blob_url(request, clip.srt_key) if clip.srt_key else None,
        )
    return ClipOut(
        id=clip.id,
        project_id=clip.project_id,
        rank=clip.rank,
        start_s=clip.start_s,
        end_s=clip.end_s,
        duration_s=round(clip.end_s - clip.start_s, 3),
        score=clip.score,
        reasons=list(clip.reasons),
        text=clip.text,
        caption_text=clip.caption_text,
        caption_style=clip.caption_style,
        preset=clip.preset,
        status=clip.status,
        failure_reason=clip.failure_reason,
        links=links,
        size_bytes=clip.size_bytes,
        render_s=clip.render_s,
        rendered_at=clip.rendered_at,
        updated_at=clip.updated_at,
    )


async def _charge(repo: ClippingRepository, workspace_id: uuid.UUID, metric: str, units: int) -> None:
    """Charge usage in the request's transaction (a rollback refunds it); 429 if over."""
    plan = plans.get_plan(await repo.workspace_plan(workspace_id))
    period = plans.period_start(utcnow())
    if await repo.charge(workspace_id, period, metric, units, plan.limit(metric)) is None:
        used = (await repo.usage(workspace_id, period)).get(metric, 0)
        raise plans.limit_exceeded(plan, metric, wanted=units, used=used, start=period)


async def _check_minutes_left(repo: ClippingRepository, workspace_id: uuid.UUID) -> None:
    """Refuse a new project when no source minutes are left this period."""
    plan = plans.get_plan(await repo.workspace_plan(workspace_id))
    period = plans.period_start(utcnow())
    used = (await repo.usage(workspace_id, period)).get(plans.SOURCE_MINUTES, 0)
    if used >= plan.source_minutes_per_month:
        raise plans.limit_exceeded(plan, plans.SOURCE_MINUTES, wanted=1, used=used, start=period)


async def _start_pipeline(session: AsyncSession, project: Project, *, key: str | None = None) -> uuid.UUID:
    """Enqueue the project's pipeline (pushed after this transaction commits)."""
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


async def _resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror:
        raise InvalidInput(f"the host {host} does not resolve", field="url") from None
    return sorted({str(info[4][0]) for info in infos})


async def _check_import_url(url: str) -> ingest.SourceUrl:
    settings = get_settings()
    source = ingest.parse_source_url(url)
    allowed = ingest.allowed_import_origins(
        production=settings.is_production, sandbox_url=settings.sandbox_url, extra=settings.clip_url_allow_origins
    )
    if source.origin not in allowed:
        ingest.check_addresses(source, await _resolve(source.host, source.port), allowed)
    return source


async def _reconcile(session: AsyncSession, repo: ClippingRepository, project: Project) -> None:
    """Bring a project whose work ended elsewhere up to date: an upload whose link expired
    unfinished, or a pipeline run that was cancelled or failed without recording it."""
    if project.status in ("queued", "processing") and project.run_id is not None:
        run = await RuntimeRepository(session).get_run(project.run_id)
        if run is not None and run.status in ("failed", "cancelled"):
            message = (run.error or {}).get("message") or run.status
            reason = f"the pipeline run {run.status}: {message}"
            await repo.fail_project(project.id, reason)
            project.status, project.failure_reason = "failed", reason
        return
    if project.status != "uploading":
        return
    upload = await repo.upload_for_project(project.id)
    if upload is not None and upload.status == "open" and upload.expires_at < utcnow():
        reason = (
            f"the upload stopped at {upload.received_bytes} of {upload.total_bytes} bytes "
            "and its link expired; create a new project to try again"
        )
        await repo.fail_project(project.id, reason)
        project.status, project.failure_reason = "failed", reason
        await get_blob_store().discard_part(upload.id)


# --- projects and clips (bearer-authenticated) -------------------------------------------


class ClippingController(Controller):
    path = ""
    tags = ["clipping"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/projects", guards=[requires_role(*EDITORS)], status_code=202)
    async def create_project(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: ProjectIn
    ) -> Response[ProjectOut]:
        """Import a video from a URL (http/https, public hosts only) and start the pipeline.
        With an `Idempotency-Key`, a retried request returns the first project (200)."""
        repo = ClippingRepository(db_session)
        idempotency_key = request.headers.get("Idempotency-Key") or None
        run_key = f"{PIPELINE_TASK}:key:{idempotency_key}" if idempotency_key else None
        if run_key is not None:
            run = await RuntimeRepository(db_session).find_by_key(principal.workspace_id, run_key, explicit=True)
            earlier = await repo.get_project(principal.workspace_id, uuid.UUID(run.args["project_id"])) if run else None
            if earlier is not None:
                return Response(
                    _project_out(request, earlier), status_code=200, headers={"Idempotent-Replayed": "true"}
                )
        ingest.parse_source_url(data.url)
        options = clip_jobs.resolve_options(_options_dict(data.options), defaults=_option_defaults())
        await _check_minutes_left(repo, principal.workspace_id)
        await _charge(repo, principal.workspace_id, plans.PROJECTS, 1)
        source = await _check_import_url(data.url)  # after the cheap checks: it resolves the host
        title = data.title or (source.url.rsplit("/", 1)[-1].split("?", 1)[0] or source.host)[:200]
        project = await repo.create_project(
            workspace_id=principal.workspace_id,
            created_by=principal.user_id,
            title=title,
            status="queued",
            source_kind="url",
            source_url=source.url,
            options=options,
        )
        await _start_pipeline(db_session, project, key=run_key)
        await db_session.refresh(project)
        return Response(_project_out(request, project), status_code=202)

    @get("/projects")
    async def list_projects(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[ProjectOut]:
        """The workspace's projects, newest first."""
        check_limit(limit, 200)
        repo = ClippingRepository(db_session)
        rows = await repo.list_projects(principal.workspace_id, after=decode_time_id_cursor(cursor), limit=limit + 1)
        items, next_cursor = page_of(rows, limit, lambda p: encode_cursor(p.created_at, p.id))
        for project in items:
            await _reconcile(db_session, repo, project)
        return Page(items=[_project_out(request, p) for p in items], next_cursor=next_cursor)

    @get("/projects/{project_id:uuid}")
    async def get_project(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, project_id: uuid.UUID
    ) -> ProjectOut:
        """A project: status, stage, progress, source facts, per-stage timings, failure reason."""
        repo = ClippingRepository(db_session)
        project = await _project_or_404(repo, principal, project_id)
        await _reconcile(db_session, repo, project)
        return _project_out(request, project)

    @delete("/projects/{project_id:uuid}", guards=[requires_role(*EDITORS)], status_code=204)
    async def delete_project(self, db_session: AsyncSession, principal: Principal, project_id: uuid.UUID) -> None:
        """Delete a project, its clips and every file it made."""
        repo = ClippingRepository(db_session)
        project = await _project_or_404(repo, principal, project_id)
        await _reconcile(db_session, repo, project)
        if project.status in ("queued", "processing"):
            raise Conflict("the project is being processed; delete it when it has finished or failed")
        upload = await repo.upload_for_project(project.id)
        await repo.delete_project(project)
        store = get_blob_store()
        if upload is not None:
            await store.discard_part(upload.id)
        await store.delete_prefix(f"projects/{project_id}")

    @get("/projects/{project_id:uuid}/transcript", media_type="application/octet-stream")
    async def get_transcript(
        self,
        db_session: AsyncSession,
        principal: Principal,
        project_id: uuid.UUID,
        format: TranscriptFormat = "json",
    ) -> Response[bytes]:
        """The project's transcript: JSON with word timings, SRT or WebVTT."""
        project = await _project_or_404(ClippingRepository(db_session), principal, project_id)
        if not project.transcript_key:
            raise NotFound("the transcript is not ready yet")
        key = clip_jobs.transcript_keys(project.id)[format]
        data = await get_blob_store().read_bytes(key)
        media_type = {"json": "application/json", "srt": "application/x-subrip", "vtt": "text/vtt"}[format]
        return Response(
            content=data,
            media_type=media_type,
            headers={"Content-Disposition": f'attachment; filename="transcript-{project.id}.{format}"'},
        )

    @get("/projects/{project_id:uuid}/clips")
    async def list_clips(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, project_id: uuid.UUID
    ) -> list[ClipOut]:
        """The project's clips, best score first, with signed download links when ready."""
        repo = ClippingRepository(db_session)
        await _project_or_404(repo, principal, project_id)
        return [_clip_out(request, c) for c in await repo.list_clips(principal.workspace_id, project_id)]

    @get("/clips/{clip_id:uuid}")
    async def get_clip(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, clip_id: uuid.UUID
    ) -> ClipOut:
        """A clip: bounds, score, reasons, transcript excerpt, status and links."""
        return _clip_out(request, await _clip_or_404(ClippingRepository(db_session), principal, clip_id))

    @patch("/clips/{clip_id:uuid}", guards=[requires_role(*EDITORS)])
    async def edit_clip(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        clip_id: uuid.UUID,
        data: ClipPatch,
    ) -> Response[ClipEditOut]:
        """Change bounds, caption text or caption style. A change of any render input renders
        the clip again (202, with the run); the same inputs as the current render do nothing (200)."""
        repo = ClippingRepository(db_session)
        clip = await _clip_or_404(repo, principal, clip_id)
        project = await repo.project_by_id(clip.project_id)
        assert project is not None
        if project.status != "clips_ready" or not project.source_key:
            raise Conflict("clips can be edited once the project's clips are ready")
        if clip.status in ("pending", "rendering"):
            raise Conflict("the clip is being rendered; edit it when that has finished")
        start_s = clip.start_s if data.start_s is None else data.start_s
        end_s = clip.end_s if data.end_s is None else data.end_s
        caption_style = clip.caption_style
        if data.caption_style is not None:
            caption_style = get_caption_style(data.caption_style).name
        caption_text = clip.caption_text
        if data.caption_text is not None:
            caption_text = data.caption_text.strip() or None
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
            return Response(ClipEditOut(clip=_clip_out(request, clip), rerender=False), status_code=200)
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
            db_session,
            RENDER_TASK,
            {"clip_id": str(clip.id), "render_hash": new_hash},
            key=f"{RENDER_TASK}:{clip.id}:{new_hash[:16]}",
            queue="media",
            workspace_id=principal.workspace_id,
        )
        await db_session.refresh(clip)
        return Response(
            ClipEditOut(clip=_clip_out(request, clip), rerender=True, run_id=result.run.id), status_code=202
        )

    @delete("/clips/{clip_id:uuid}", guards=[requires_role(*EDITORS)], status_code=204)
    async def delete_clip(self, db_session: AsyncSession, principal: Principal, clip_id: uuid.UUID) -> None:
        """Delete a clip and its files."""
        repo = ClippingRepository(db_session)
        clip = await _clip_or_404(repo, principal, clip_id)
        await repo.delete_clip(clip)
        await get_blob_store().delete_prefix(clip_jobs.clip_prefix(clip.project_id, clip.id))

    @get("/usage")
    async def usage(self, db_session: AsyncSession, principal: Principal) -> UsageOut:
        """This month's usage against the workspace plan's limits, and when it resets."""
        repo = ClippingRepository(db_session)
        plan = plans.get_plan(await repo.workspace_plan(principal.workspace_id))
        period = plans.period_start(utcnow())
        used = await repo.usage(principal.workspace_id, period)
        metrics = {
            metric: MetricUsage(
                used=used.get(metric, 0),
                limit=plan.limit(metric),
                remaining=max(0, plan.limit(metric) - used.get(metric, 0)),
            )
            for metric in plans.METRICS
        }
        running = await DiscoveryRepository(db_session).count_open_searches(principal.workspace_id)
        return UsageOut(
            plan=plan.name,
            period_start=period,
            resets_at=plans.period_end(period),
            max_source_minutes=plan.max_source_minutes,
            metrics=metrics,
            discovery_concurrent_searches=MetricUsage(
                used=running,
                limit=plan.discovery_concurrent_searches,
                remaining=max(0, plan.discovery_concurrent_searches - running),
            ),
        )

    @post("/uploads", guards=[requires_role(*EDITORS)], status_code=201)
    async def create_upload(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: UploadIn
    ) -> ProjectOut:
        """Start a resumable upload: creates the project and returns a signed upload URL.
        PUT the bytes there (chunks with `Content-Range: bytes a-b/total`); the last chunk
        starts the pipeline."""
        settings = get_settings()
        content_type = ingest.check_content_type(data.content_type)
        if data.size_bytes > settings.clip_max_upload_bytes:
            raise InvalidInput(
                f"the file is larger than the upload limit of {settings.clip_max_upload_bytes} bytes",
                field="size_bytes",
            )
        options = clip_jobs.resolve_options(_options_dict(data.options), defaults=_option_defaults())
        repo = ClippingRepository(db_session)
        await _check_minutes_left(repo, principal.workspace_id)
        await _charge(repo, principal.workspace_id, plans.PROJECTS, 1)
        project = await repo.create_project(
            workspace_id=principal.workspace_id,
            created_by=principal.user_id,
            title=data.title or data.filename[:200],
            status="uploading",
            source_kind="upload",
            source_url=None,
            options=options,
        )
        upload = await repo.create_upload(
            workspace_id=principal.workspace_id,
            project_id=project.id,
            filename=data.filename,
            content_type=content_type,
            total_bytes=data.size_bytes,
            expires_at=utcnow() + timedelta(seconds=settings.clip_upload_ttl_s),
        )
        await db_session.refresh(project)
        return _project_out(request, project, _upload_out(request, upload))


def _option_defaults() -> dict[str, Any]:
    settings = get_settings()
    return {
        "min_len_s": settings.clip_min_len_s,
        "max_len_s": settings.clip_max_len_s,
        "top_n": settings.clip_top_n,
        "preset": settings.clip_default_preset,
        "caption_style": settings.clip_default_caption_style,
    }


def _options_dict(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    import msgspec

    return dict(msgspec.structs.asdict(options))


async def _project_or_404(repo: ClippingRepository, principal: Principal, project_id: uuid.UUID) -> Project:
    project = await repo.get_project(principal.workspace_id, project_id)
    if project is None:
        raise NotFound("no such project")
    return project


async def _clip_or_404(repo: ClippingRepository, principal: Principal, clip_id: uuid.UUID) -> Clip:
    clip = await repo.get_clip(principal.workspace_id, clip_id)
    if clip is None:
        raise NotFound("no such clip")
    return clip


# --- uploads (authorised by the signed token in the URL) ---------------------------------


async def _authorised_upload(repo: ClippingRepository, upload_id: uuid.UUID, token: str | None) -> Upload:
    ingest.verify_token(signing_secret(), UPLOAD_PURPOSE, str(upload_id), token)
    upload = await repo.upload_by_id(upload_id)
    if upload is None:
        raise NotFound("no such upload")
    return upload


def _progress(upload: Upload, project: Project | None = None) -> UploadProgressOut:
    return UploadProgressOut(
        id=upload.id,
        project_id=upload.project_id,
        total_bytes=upload.total_bytes,
        received_bytes=upload.received_bytes,
        status=upload.status,
        project_status=project.status if project else None,
        run_id=project.run_id if project else None,
    )


def _offset_headers(upload: Upload, received: int) -> dict[str, str]:
    headers = {"Upload-Offset": str(received), "Upload-Length": str(upload.total_bytes), "Cache-Control": "no-store"}
    if received:
        headers["Range"] = f"bytes=0-{received - 1}"
    return headers


@get("/uploads/{upload_id:uuid}", opt={"exclude_from_auth": True}, tags=["clipping"])
async def upload_status(db_session: AsyncSession, upload_id: uuid.UUID, token: str | None = None) -> Response[Any]:
    """How many bytes the server has (`received_bytes`, also `Upload-Offset` and `Range`): resume from there."""
    repo = ClippingRepository(db_session)
    upload = await _authorised_upload(repo, upload_id, token)
    received = upload.total_bytes if upload.status == "complete" else await get_blob_store().part_size(upload.id)
    upload.received_bytes = received
    project = await repo.project_by_id(upload.project_id)
    return Response(_progress(upload, project), headers=_offset_headers(upload, received))


@head("/uploads/{upload_id:uuid}", opt={"exclude_from_auth": True}, tags=["clipping"])
async def upload_offset(db_session: AsyncSession, upload_id: uuid.UUID, token: str | None = None) -> Response[None]:
    """The received offset in headers only (`Upload-Offset`, `Range`)."""
    repo = ClippingRepository(db_session)
    upload = await _authorised_upload(repo, upload_id, token)
    received = upload.total_bytes if upload.status == "complete" else await get_blob_store().part_size(upload.id)
    return Response(None, headers=_offset_headers(upload, received))


@put(
    "/uploads/{upload_id:uuid}",
    opt={"exclude_from_auth": True},
    request_max_body_size=UPLOAD_BODY_CEILING,
    tags=["clipping"],
)
async def upload_chunk(
    request: Request[Any, Any, Any], db_session: AsyncSession, upload_id: uuid.UUID, token: str | None = None
) -> Response[UploadProgressOut]:
    """Receive bytes of an upload, streamed to storage (never held in memory). Send the whole
    file, or chunks with `Content-Range: bytes a-b/total` starting at the received offset.
    The chunk that completes the file starts the pipeline (the response's `run_id`)."""
    repo = ClippingRepository(db_session)
    upload = await _authorised_upload(repo, upload_id, token)
    if upload.status == "complete":
        project = await repo.project_by_id(upload.project_id)
        return Response(_progress(upload, project), headers=_offset_headers(upload, upload.total_bytes))
    if upload.expires_at < utcnow():
        raise Conflict("the upload has expired")
    length_header = request.headers.get("content-length")
    body_length = int(length_header) if length_header and length_header.isdigit() else None
    byte_range = ingest.parse_content_range(
        request.headers.get("content-range"), body_length=body_length, total=upload.total_bytes
    )
    store = get_blob_store()
    project = await repo.project_by_id(upload.project_id)
    assert project is not None
    key = clip_jobs.source_key(project.id, ingest.EXTENSIONS.get(upload.content_type, _ext(upload.filename)))
    started = time.monotonic()
    if await store.size(key) == upload.total_bytes:
        # The file was committed to storage but the request's transaction was lost: finish now.
        received = upload.total_bytes
    else:
        received = await store.part_size(upload.id)
        if byte_range.start != received:
            raise Conflict(
                f"the server has {received} bytes of this upload; send the range starting at {received}",
                received_bytes=received,
            )
        try:
            received = await store.append_part(
                upload.id,
                byte_range.start,
                ingest.sniff_video(request.stream(), check=byte_range.start == 0),
                max_bytes=byte_range.end + 1,
            )
        except UnsupportedMediaType as exc:
            # Not a video: the project fails now and gives its usage back (no charged project
            # is left waiting in `uploading`).
            await store.discard_part(upload.id)
            await repo.fail_project(project.id, f"the upload was rejected: {exc.detail}")
            refund = plans.refund_for_failure(transcribed=False, minutes_charged=None, clips_charged=None)
            await repo.refund_usage(project.workspace_id, plans.period_start(project.created_at), refund)
            await db_session.commit()
            raise
        except InternalServerException:
            # The client went away mid-chunk: what arrived is kept on disk (the part file is
            # the truth for the offset), so it resumes from there.
            raise
    upload.received_bytes = received
    if received != byte_range.end + 1 and received != upload.total_bytes:
        await db_session.flush()
        raise InvalidInput(
            f"the chunk ended early: {received - byte_range.start} of {byte_range.length} bytes arrived; "
            f"resume from {received}",
            field="Content-Range",
            received_bytes=received,
        )
    if received == upload.total_bytes:
        await store.commit_part(upload.id, key)
        upload.status = "complete"
        upload.completed_at = utcnow()
        project.source_key = key
        project.source_bytes = received
        project.timings = {**project.timings, "upload_last_chunk": round(time.monotonic() - started, 3)}
        await _start_pipeline(db_session, project)
    await db_session.flush()
    return Response(_progress(upload, project), headers=_offset_headers(upload, received))


def _ext(filename: str) -> str:
    _, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot and ext.isalnum() and len(ext) <= 5 else ".bin"


# --- signed blob downloads ---------------------------------------------------------------


@get("/blobs/{key:path}", opt={"exclude_from_auth": True}, tags=["clipping"])
async def download_blob(key: str, expires: int = 0, sig: str = "") -> Stream:
    """A file made by the pipeline, through a signed link that expires (from the clip or
    project responses; no bearer token needed, so players and browsers can fetch it)."""
    key = key.lstrip("/")
    verify_blob_signature(key, expires, sig)
    store = get_blob_store()
    size = await store.size(key)
    if size is None:
        raise NotFound("the file no longer exists")
    suffix = "." + key.rsplit(".", 1)[-1] if "." in key else ""
    max_age = max(0, math.floor(expires - time.time()))
    return Stream(
        store.read_stream(key),
        media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
        headers={"Content-Length": str(size), "Cache-Control": f"private, max-age={max_age}"},
    )


route_handlers = [ClippingController, upload_status, upload_offset, upload_chunk, download_blob]
