"""Projects (upload or URL), resumable uploads, clips, transcripts, signed blob downloads
and plan usage. Long work (import, transcription, rendering) always runs as jobs on the
`media` queue; these handlers only validate, charge usage, store and enqueue."""

from __future__ import annotations

import math
import time
import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, delete, get, head, patch, post, put
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Stream
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import clip_jobs, ingest, plans
from reelflow.errors import NotFound
from reelflow.services import clipping, clipping_uploads
from reelflow.services.clipping_uploads import UPLOAD_PURPOSE
from reelflow.settings import get_settings
from reelflow.storage.blobs import BlobStore, blob_download_url, signing_secret, verify_blob_signature
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Clip, Project, Upload
from reelflow.storage.repositories.clipping import ProjectListRow
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.openapi import MEDIA_OPT, answers, download
from reelflow.web.pagination import Page, check_limit, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.clipping import (
    ClipEditOut,
    ClipLinks,
    ClipOut,
    ClipPatch,
    DirectPartOut,
    DirectUploadOut,
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
    base = get_settings().web.public_base_url or str(request.base_url)
    return base.rstrip("/") + path


def _blob_url(request: Request[Any, Any, Any], key: str) -> str:
    url = blob_download_url(key)  # presigned S3 URL, or the API's signed path
    return url if url.startswith(("http://", "https://")) else _absolute(request, url)


def _upload_url(request: Request[Any, Any, Any], upload: Upload) -> tuple[str, datetime]:
    ttl = max(1, int((upload.expires_at - utcnow()).total_seconds()))
    token, expires = ingest.make_token(signing_secret(), UPLOAD_PURPOSE, str(upload.id), ttl)
    path = f"/api/v1/uploads/{upload.id}?token={token}"
    return _absolute(request, path), datetime.fromtimestamp(expires, tz=upload.expires_at.tzinfo)


def _upload_out(request: Request[Any, Any, Any], upload: Upload, blobs: BlobStore | None = None) -> UploadOut:
    """The upload's signed URL; with `blobs` (a direct upload), the presigned piece URLs too."""
    url, expires_at = _upload_url(request, upload)
    direct = None
    if blobs is not None:
        parts = clipping_uploads.direct_upload_parts(upload, blobs)
        path, _, query = url.partition("?")
        direct = DirectUploadOut(
            parts=[DirectPartOut(p.offset, p.size, p.url) for p in parts],
            part_bytes=get_settings().blob.direct_part_bytes,
            complete_url=f"{path}/complete?{query}",
            expires_at=upload.expires_at,
        )
    return UploadOut(
        id=upload.id,
        project_id=upload.project_id,
        upload_url=url,
        expires_at=expires_at,
        total_bytes=upload.total_bytes,
        received_bytes=upload.received_bytes,
        status=upload.status,
        direct=direct,
    )


def _project_out(
    request: Request[Any, Any, Any], project: Project | ProjectListRow, upload: UploadOut | None = None
) -> ProjectOut:
    """A project (an ORM object, or a list row with the same attribute names) as the API shows it."""
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
        created = await clipping.create_url_project(
            db_session,
            principal.workspace_id,
            principal.user_id,
            url=data.url,
            title=data.title,
            options=_options_dict(data.options),
            idempotency_key=request.headers.get("Idempotency-Key") or None,
        )
        if created.replayed:
            return Response(
                _project_out(request, created.project), status_code=200, headers={"Idempotent-Replayed": "true"}
            )
        return Response(_project_out(request, created.project), status_code=202)

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
        rows = await clipping.list_projects(
            db_session, principal.workspace_id, after=decode_time_id_cursor(cursor), limit=limit + 1
        )
        items, next_cursor = page_of(rows, limit, lambda p: encode_cursor(p.created_at, p.id))
        return Page(items=[_project_out(request, p) for p in items], next_cursor=next_cursor)

    @get("/projects/{project_id:uuid}")
    async def get_project(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, project_id: uuid.UUID
    ) -> ProjectOut:
        """A project: status, stage, progress, source facts, per-stage timings, failure reason."""
        return _project_out(request, await clipping.get_project(db_session, principal.workspace_id, project_id))

    @delete("/projects/{project_id:uuid}", guards=[requires_role(*EDITORS)], status_code=204)
    async def delete_project(
        self, db_session: AsyncSession, principal: Principal, blobs: BlobStore, project_id: uuid.UUID
    ) -> None:
        """Delete a project, its clips and every file it made."""
        await clipping.delete_project(db_session, principal.workspace_id, project_id, blobs=blobs, actor=principal)

    @get(
        "/projects/{project_id:uuid}/transcript",
        media_type="application/json",
        responses=download("application/json", "The transcript: JSON with word timings (`?format=json`)"),
        opt={MEDIA_OPT: {"200": {"application/x-subrip": "SRT (`?format=srt`)", "text/vtt": "WebVTT (`?format=vtt`)"}}},
    )
    async def get_transcript(
        self,
        db_session: AsyncSession,
        principal: Principal,
        blobs: BlobStore,
        project_id: uuid.UUID,
        format: TranscriptFormat = "json",
    ) -> Response[bytes]:
        """The project's transcript: JSON with word timings, SRT or WebVTT."""
        project, data = await clipping.transcript(db_session, principal.workspace_id, project_id, format, blobs=blobs)
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
        clips = await clipping.list_clips(db_session, principal.workspace_id, project_id)
        return [_clip_out(request, c) for c in clips]

    @get("/clips/{clip_id:uuid}")
    async def get_clip(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, clip_id: uuid.UUID
    ) -> ClipOut:
        """A clip: bounds, score, reasons, transcript excerpt, status and links."""
        return _clip_out(request, await clipping.get_clip(db_session, principal.workspace_id, clip_id))

    @patch(
        "/clips/{clip_id:uuid}",
        guards=[requires_role(*EDITORS)],
        responses=answers(ClipEditOut, {202: "A render input changed: the clip renders again (`run_id`)"}),
    )
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
        changes = clipping.ClipChanges(
            start_s=data.start_s, end_s=data.end_s, caption_text=data.caption_text, caption_style=data.caption_style
        )
        edit = await clipping.edit_clip(db_session, principal.workspace_id, clip_id, changes)
        if edit.run_id is None:
            return Response(ClipEditOut(clip=_clip_out(request, edit.clip), rerender=False), status_code=200)
        return Response(
            ClipEditOut(clip=_clip_out(request, edit.clip), rerender=True, run_id=edit.run_id), status_code=202
        )

    @delete("/clips/{clip_id:uuid}", guards=[requires_role(*EDITORS)], status_code=204)
    async def delete_clip(
        self, db_session: AsyncSession, principal: Principal, blobs: BlobStore, clip_id: uuid.UUID
    ) -> None:
        """Delete a clip and its files."""
        await clipping.delete_clip(db_session, principal.workspace_id, clip_id, blobs=blobs, actor=principal)

    @get("/usage")
    async def usage(self, db_session: AsyncSession, principal: Principal) -> UsageOut:
        """This month's usage against the workspace plan's limits, and when it resets."""
        current = await clipping.usage(db_session, principal.workspace_id)
        plan, period, used = current.plan, current.period_start, current.used
        metrics = {
            metric: MetricUsage(
                used=used.get(metric, 0),
                limit=plan.limit(metric),
                remaining=max(0, plan.limit(metric) - used.get(metric, 0)),
            )
            for metric in plans.METRICS
        }
        running = current.open_searches
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
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        blobs: BlobStore,
        data: UploadIn,
    ) -> ProjectOut:
        """Start a resumable upload: creates the project and returns a signed upload URL.
        PUT the bytes there (chunks with `Content-Range: bytes a-b/total`); the last chunk
        starts the pipeline. With `"direct": true` (S3 store only, else 409), `upload.direct`
        lists presigned PUT URLs, one per piece: PUT each piece straight to the bucket (again
        if it failed), then POST `upload.direct.complete_url`."""
        created = await clipping.create_upload_project(
            db_session,
            principal.workspace_id,
            principal.user_id,
            filename=data.filename,
            content_type=data.content_type,
            size_bytes=data.size_bytes,
            title=data.title,
            options=_options_dict(data.options),
            direct=data.direct,
            blobs=blobs,
        )
        assert created.upload is not None
        upload = _upload_out(request, created.upload, blobs if data.direct else None)
        return _project_out(request, created.project, upload)


def _options_dict(options: Any) -> dict[str, Any]:
    if options is None:
        return {}
    import msgspec

    return dict(msgspec.structs.asdict(options))


# --- uploads (authorised by the signed token in the URL) ---------------------------------


def _progress(upload: Upload, project: Project | None = None, *, received: int | None = None) -> UploadProgressOut:
    return UploadProgressOut(
        id=upload.id,
        project_id=upload.project_id,
        total_bytes=upload.total_bytes,
        received_bytes=upload.received_bytes if received is None else received,
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
async def upload_status(
    db_session: AsyncSession, blobs: BlobStore, upload_id: uuid.UUID, token: str | None = None
) -> Response[Any]:
    """How many bytes the server has (`received_bytes`, also `Upload-Offset` and `Range`): resume from there."""
    state = await clipping_uploads.upload_state(db_session, upload_id, token, signing_secret(), blobs=blobs)
    progress = _progress(state.upload, state.project, received=state.received)
    return Response(progress, headers=_offset_headers(state.upload, state.received))


@head("/uploads/{upload_id:uuid}", opt={"exclude_from_auth": True}, tags=["clipping"])
async def upload_offset(
    db_session: AsyncSession, blobs: BlobStore, upload_id: uuid.UUID, token: str | None = None
) -> Response[None]:
    """The received offset in headers only (`Upload-Offset`, `Range`)."""
    state = await clipping_uploads.upload_state(db_session, upload_id, token, signing_secret(), blobs=blobs)
    return Response(None, headers=_offset_headers(state.upload, state.received))


@put(
    "/uploads/{upload_id:uuid}",
    opt={"exclude_from_auth": True},
    request_max_body_size=UPLOAD_BODY_CEILING,
    tags=["clipping"],
)
async def upload_chunk(
    request: Request[Any, Any, Any],
    db_session: AsyncSession,
    blobs: BlobStore,
    upload_id: uuid.UUID,
    token: str | None = None,
) -> Response[UploadProgressOut]:
    """Receive bytes of an upload, streamed to storage (never held in memory). Send the whole
    file, or chunks with `Content-Range: bytes a-b/total` starting at the received offset.
    The chunk that completes the file starts the pipeline (the response's `run_id`).
    A client that goes away mid-chunk keeps what arrived: it resumes from there."""
    upload = await clipping_uploads.authorised_upload(db_session, upload_id, token, signing_secret())
    length_header = request.headers.get("content-length")
    state = await clipping_uploads.receive_chunk(
        db_session,
        upload,
        content_range=request.headers.get("content-range"),
        content_length=int(length_header) if length_header and length_header.isdigit() else None,
        body=request.stream(),
        blobs=blobs,
    )
    return Response(_progress(state.upload, state.project), headers=_offset_headers(state.upload, state.received))


@post("/uploads/{upload_id:uuid}/complete", opt={"exclude_from_auth": True}, status_code=200, tags=["clipping"])
async def complete_direct_upload(
    db_session: AsyncSession, blobs: BlobStore, upload_id: uuid.UUID, token: str | None = None
) -> UploadProgressOut:
    """A direct upload's pieces are in the bucket: check their size, commit them and start the
    pipeline (`run_id`). 409 with `received_bytes` when pieces are missing (PUT them, then
    complete again); 422 when they hold more than declared, 415 when it is not a video (both
    fail the project and refund it). Harmless to repeat."""
    upload = await clipping_uploads.authorised_upload(db_session, upload_id, token, signing_secret())
    state = await clipping_uploads.complete_direct_upload(db_session, upload, blobs=blobs)
    return _progress(state.upload, state.project)


# --- signed blob downloads ---------------------------------------------------------------


@get("/blobs/{key:path}", opt={"exclude_from_auth": True}, tags=["clipping"])
async def download_blob(blobs: BlobStore, key: str, expires: int = 0, sig: str = "") -> Stream:
    """A file made by the pipeline, through a signed link that expires (from the clip or
    project responses; no bearer token needed, so players and browsers can fetch it)."""
    key = key.lstrip("/")
    verify_blob_signature(key, expires, sig)
    size = await blobs.size(key)
    if size is None:
        raise NotFound("the file no longer exists")
    suffix = "." + key.rsplit(".", 1)[-1] if "." in key else ""
    max_age = max(0, math.floor(expires - time.time()))
    return Stream(
        blobs.read_stream(key),
        media_type=CONTENT_TYPES.get(suffix, "application/octet-stream"),
        headers={"Content-Length": str(size), "Cache-Control": f"private, max-age={max_age}"},
    )


route_handlers = [
    ClippingController,
    upload_status,
    upload_offset,
    upload_chunk,
    complete_direct_upload,
    download_blob,
]
