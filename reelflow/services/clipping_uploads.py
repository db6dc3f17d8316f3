"""Resumable uploads of a project's source, through the API or straight to the bucket: the
upload's state, chunks, completion (checks, pipeline start) and rejection with refunds."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain import clip_jobs, ingest
from reelflow.errors import Conflict, InvalidInput, NotFound, UnsupportedMediaType
from reelflow.logs import get_logger
from reelflow.services.clipping import refund_unfinished_work, start_pipeline
from reelflow.settings import get_settings
from reelflow.storage.blobs import BlobStore, DirectUploadStore
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.clipping import Project, Upload
from reelflow.storage.repositories.clipping import ClippingRepository

log = get_logger(__name__)


# --- uploads (authorised by the signed token in the URL) ---------------------------------
UPLOAD_PURPOSE = "upload"


async def authorised_upload(session: AsyncSession, upload_id: uuid.UUID, token: str | None, secret: bytes) -> Upload:
    ingest.verify_token(secret, UPLOAD_PURPOSE, str(upload_id), token)
    upload = await ClippingRepository(session).upload_by_id(upload_id)
    if upload is None:
        raise NotFound("no such upload")
    return upload


@dataclass(frozen=True)
class UploadState:
    upload: Upload
    project: Project | None
    received: int


async def upload_state(
    session: AsyncSession, upload_id: uuid.UUID, token: str | None, secret: bytes, *, blobs: BlobStore
) -> UploadState:
    """How many bytes the server has (the part file is the truth for the offset)."""
    upload = await authorised_upload(session, upload_id, token, secret)
    received = upload.total_bytes if upload.status == "complete" else await blobs.part_size(upload.id)
    project = await ClippingRepository(session).project_by_id(upload.project_id)
    return UploadState(upload, project, received)


@dataclass(frozen=True)
class DirectPart:
    """One piece of a direct upload: PUT bytes [offset, offset + size) to `url` before it expires."""

    offset: int
    size: int
    url: str


def direct_upload_parts(upload: Upload, blobs: BlobStore) -> list[DirectPart]:
    """Presigned PUT URLs, one per piece of `settings.blob.direct_part_bytes`, valid until the
    upload expires. The bucket does not check a piece's size: `complete_direct_upload` does."""
    if not isinstance(blobs, DirectUploadStore):
        raise Conflict("direct upload needs the S3 blob store (REELFLOW_BLOB_URL=s3://bucket/prefix)")
    ttl = max(1, int((upload.expires_at - utcnow()).total_seconds()))
    step = get_settings().blob.direct_part_bytes
    return [
        DirectPart(offset, min(step, upload.total_bytes - offset), blobs.presigned_part_put(upload.id, offset, ttl))
        for offset in range(0, upload.total_bytes, step)
    ]


async def complete_direct_upload(session: AsyncSession, upload: Upload, *, blobs: BlobStore) -> UploadState:
    """The client says the pieces are in the bucket: check they add up to the declared size
    (409 with the offset to resume from when some are missing; more bytes than declared fail
    the project and refund it), commit them to the source key, check the first bytes are a
    video (415 otherwise, refunded) and start the pipeline, whose probe fails (and refunds)
    a file that is truncated or broken. Repeating it after completion is harmless."""
    repo = ClippingRepository(session)
    project = await repo.project_by_id(upload.project_id)
    assert project is not None
    if upload.status == "complete":
        return UploadState(upload, project, upload.total_bytes)
    if upload.expires_at < utcnow():
        raise Conflict("the upload has expired")
    if project.status != "uploading":
        raise Conflict(f"the project is {project.status}: {project.failure_reason or 'it no longer takes the file'}")
    key = clip_jobs.source_key(project.id, ingest.EXTENSIONS.get(upload.content_type, _ext(upload.filename)))
    started = time.monotonic()
    if await blobs.size(key) != upload.total_bytes:
        received = await blobs.part_size(upload.id)
        if received < upload.total_bytes:
            raise Conflict(
                f"the bucket has {received} of {upload.total_bytes} bytes in order from the start; "
                f"PUT the pieces from offset {received}, then complete again",
                received_bytes=received,
            )
        if received > upload.total_bytes:
            await _reject_upload(
                session, repo, project, upload, blobs, f"{received} bytes arrived, more than the declared size"
            )
            raise InvalidInput(
                f"the pieces hold {received} bytes, more than the declared {upload.total_bytes}; the upload "
                "is rejected and the project refunded",
                field="size_bytes",
            )
        await blobs.commit_part(upload.id, key)
        try:  # the first bytes must be a video container, as for uploads through the API
            with contextlib.suppress(StopAsyncIteration):
                await anext(ingest.sniff_video(blobs.read_stream(key, chunk_size=64 * 1024)))
        except UnsupportedMediaType as exc:
            await blobs.delete(key)
            await _reject_upload(session, repo, project, upload, blobs, str(exc.detail))
            raise
    await _upload_complete(session, upload, project, key, started)
    return UploadState(upload, project, upload.total_bytes)


async def _reject_upload(
    session: AsyncSession, repo: ClippingRepository, project: Project, upload: Upload, blobs: BlobStore, why: str
) -> None:
    """The project fails now and gives its usage back (no charged project is left waiting in
    `uploading`); committed here because the error that follows rolls back."""
    await blobs.discard_part(upload.id)
    await repo.fail_project(project.id, f"the upload was rejected: {why}")
    await refund_unfinished_work(repo, project)
    await session.commit()


async def _upload_complete(
    session: AsyncSession, upload: Upload, project: Project, key: str, started: float, *, stage: str = "upload_complete"
) -> None:
    upload.received_bytes = upload.total_bytes
    upload.status = "complete"
    upload.completed_at = utcnow()
    project.source_key = key
    project.source_bytes = upload.total_bytes
    project.timings = {**project.timings, stage: round(time.monotonic() - started, 3)}
    await start_pipeline(session, project)
    await session.flush()


def _ext(filename: str) -> str:
    _, dot, ext = filename.rpartition(".")
    return f".{ext.lower()}" if dot and ext.isalnum() and len(ext) <= 5 else ".bin"


async def receive_chunk(
    session: AsyncSession,
    upload: Upload,
    *,
    content_range: str | None,
    content_length: int | None,
    body: AsyncIterable[bytes],
    blobs: BlobStore,
) -> UploadState:
    """Append a chunk at the received offset, streamed to storage; the chunk that completes
    the file commits it and starts the pipeline."""
    repo = ClippingRepository(session)
    if upload.status == "complete":
        return UploadState(upload, await repo.project_by_id(upload.project_id), upload.total_bytes)
    if upload.expires_at < utcnow():
        raise Conflict("the upload has expired")
    byte_range = ingest.parse_content_range(content_range, body_length=content_length, total=upload.total_bytes)
    project = await repo.project_by_id(upload.project_id)
    assert project is not None
    key = clip_jobs.source_key(project.id, ingest.EXTENSIONS.get(upload.content_type, _ext(upload.filename)))
    started = time.monotonic()
    if await blobs.size(key) == upload.total_bytes:
        # The file was committed to storage but the request's transaction was lost: finish now.
        received = upload.total_bytes
    else:
        received = await blobs.part_size(upload.id)
        if byte_range.start != received:
            raise Conflict(
                f"the server has {received} bytes of this upload; send the range starting at {received}",
                received_bytes=received,
            )
        try:
            received = await blobs.append_part(
                upload.id,
                byte_range.start,
                ingest.sniff_video(body, check=byte_range.start == 0),
                max_bytes=byte_range.end + 1,
            )
        except UnsupportedMediaType as exc:  # not a video: failed and refunded now
            await _reject_upload(session, repo, project, upload, blobs, str(exc.detail))
            raise
    upload.received_bytes = received
    if received != byte_range.end + 1 and received != upload.total_bytes:
        await session.flush()
        raise InvalidInput(
            f"the chunk ended early: {received - byte_range.start} of {byte_range.length} bytes arrived; "
            f"resume from {received}",
            field="Content-Range",
            received_bytes=received,
        )
    if received == upload.total_bytes:
        await blobs.commit_part(upload.id, key)
        await _upload_complete(session, upload, project, key, started, stage="upload_last_chunk")
    await session.flush()
    return UploadState(upload, project, received)
