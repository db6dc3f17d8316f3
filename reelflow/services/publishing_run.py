"""Publishing: the job body (`run_publication()`) and the account tokens it holds.

`run_publication()` is the job body. The publication row is the side-effect record: each
remote checkpoint (TikTok `publish_id` + `upload_url`, YouTube session URI) is committed
with compare-and-set *before* the step that depends on it, and every attempt starts by
asking the platform where that checkpoint stands:

- TikTok: a publish becomes a post only when its last byte lands. With a stored publish_id
  the attempt fetches its status: complete → adopted; all bytes in → poll; some bytes →
  resume the upload; upload_url expired or the publish failed retryably → a new publish
  (the old one can never become a post). A lost init answer leaves an init without bytes:
  no post.
- YouTube: nothing exists before the final byte. With a stored session the attempt probes
  it (`bytes */size`): finished → the video id is adopted; partial → resume; expired →
  the channel's latest uploads are searched for the marker tag set at upload, adopted if
  found, else a new session.
"""

# ruff: noqa: B023 - the lambdas below are awaited at once, inside their loop pass

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import PublishingPlatforms
from reelflow.adapters.records import PublicationStatus
from reelflow.adapters.tiktok.posting import PostInfo, chunk_plan
from reelflow.adapters.youtube import UploadSessionExpired, VideoMetadata
from reelflow.domain import publishing as rules
from reelflow.errors import AuthExpired, Permanent, Retryable
from reelflow.logs import get_logger
from reelflow.queue import TaskContext
from reelflow.services import accounts as accounts_service
from reelflow.services import audit
from reelflow.services.accounts import AccountUnavailable
from reelflow.settings import get_settings
from reelflow.storage.blobs import get_blob_store
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.publishing import ClipPublication
from reelflow.storage.repositories.publishing import PublishingRepository

log = get_logger(__name__)
T = TypeVar("T")


MAX_ATTEMPTS = 10  # the task's policy; settings.publishing.max_attempts marks the publication failed
UPLOAD_URL_TTL = timedelta(minutes=55)  # TikTok: valid 1 hour
FINAL = ("published", "failed", "cancelled")


# --- tokens inside a job -------------------------------------------------------------------------


class TokenHolder:
    """An account's access token for one job; a 401 triggers one refresh, then `expired`."""

    def __init__(self, account_id: uuid.UUID, platforms: PublishingPlatforms, token: str, version: int) -> None:
        self.account_id = account_id
        self.platforms = platforms
        self.token = token
        self.version = version
        self.handle: str | None = None  # the account's username (TikTok post URLs)

    @classmethod
    async def load(cls, account_id: uuid.UUID, platforms: PublishingPlatforms) -> TokenHolder:
        token, version = await accounts_service.access_token(account_id, platforms=platforms)
        return cls(account_id, platforms, token, version)

    async def call(self, fn: Callable[[str], Awaitable[T]]) -> T:
        try:
            return await fn(self.token)
        except AuthExpired as exc:
            if exc.reauth_required:
                await _mark_account(self.account_id, "error", f"the platform wants a new consent: {exc.detail}")
                raise AccountUnavailable(f"account needs reconnecting: {exc.detail}") from None
        self.token, self.version = await accounts_service.refresh(
            self.account_id, platforms=self.platforms, seen_version=self.version
        )
        try:
            return await fn(self.token)
        except AuthExpired as exc:
            await _mark_account(self.account_id, "expired", f"rejected after a refresh: {exc.detail}")
            raise AccountUnavailable(f"account is expired: {exc.detail}") from None


async def _mark_account(account_id: uuid.UUID, status: str, error: str) -> None:
    async with session_scope() as session:
        await PublishingRepository(session).set_account_status(account_id, status, error)


# --- the job ---------------------------------------------------------------------------------------


async def run_publication(
    ctx: TaskContext, publication_id: uuid.UUID, *, platforms: PublishingPlatforms
) -> dict[str, Any]:
    async with session_scope() as session:
        repo = PublishingRepository(session)
        pub = await repo.publication_by_id(publication_id)
        if pub is None:
            return {"status": "missing"}
        if pub.status in FINAL:
            return _summary(pub)
        clip = await repo.clip_by_id(pub.clip_id)
        account = await repo.account_by_id(pub.account_id)
        if clip is None or not clip.video_key:
            await repo.update_publication(pub.id, status="failed", error="the clip or its video is gone")
            return {"status": "failed"}
        attempt = pub.attempts + 1  # since the publication was created or last retried by hand
        await repo.update_publication(
            pub.id,
            attempts=attempt,
            run_id=ctx.run_id if ctx.run_id.int else pub.run_id,
            status="uploading" if pub.status in ("scheduled", "queued") else pub.status,
        )
    try:
        holder = await TokenHolder.load(pub.account_id, platforms)
        holder.handle = account.username if account else None
        async with get_blob_store().local_file(clip.video_key) as path:
            size = path.stat().st_size
            if pub.platform == "tiktok":
                await _run_tiktok(ctx, pub.id, holder, path, size)
            else:
                await _run_youtube(ctx, pub.id, holder, path, size)
    except AccountUnavailable as exc:
        await _set(pub.id, status="failed", error=exc.detail)
        raise
    except Permanent as exc:
        await _set(pub.id, status="failed", error=exc.detail)
        raise
    except Retryable as exc:
        if attempt >= min(MAX_ATTEMPTS, get_settings().publishing.max_attempts):
            await _set(pub.id, status="failed", error=f"gave up after {attempt} attempts: {exc.detail}")
        else:
            await _set(pub.id, error=exc.detail)
        raise
    async with session_scope() as session:
        final = await PublishingRepository(session).publication_by_id(pub.id)
    assert final is not None
    return _summary(final)


def _summary(pub: ClipPublication) -> dict[str, Any]:
    return {"publication_id": str(pub.id), "status": pub.status, "external_id": pub.external_id, "url": pub.url}


async def _load(publication_id: uuid.UUID) -> ClipPublication:
    async with session_scope() as session:
        pub = await PublishingRepository(session).publication_by_id(publication_id)
    if pub is None:
        raise Permanent("the publication was deleted")
    return pub


async def _set(publication_id: uuid.UUID, *, only_if: dict[str, Any] | None = None, **values: Any) -> bool:
    async with session_scope() as session:
        return await PublishingRepository(session).update_publication(publication_id, only_if=only_if, **values)


async def _published(pub_id: uuid.UUID, status: PublicationStatus, *, adopted: bool, external_id: str | None) -> None:
    async with session_scope() as session:
        repo = PublishingRepository(session)
        await repo.update_publication(
            pub_id,
            status="published",
            external_id=external_id,
            url=status.url,
            published_at=utcnow(),
            adopted=adopted,
            error=None,
        )
        pub = await repo.publication_by_id(pub_id)
        if pub is not None:
            await _audit_published(session, pub, adopted=adopted)
    log.info("publication published", publication_id=str(pub_id), adopted=adopted)


async def _audit_published(session: AsyncSession, pub: ClipPublication, *, adopted: bool) -> None:
    await audit.record(
        session,
        "publishing.post.published",
        workspace_id=pub.workspace_id,
        actor_kind="system",
        target_type="clip_publication",
        target_id=pub.id,
        details={"platform": pub.platform, "external_id": pub.external_id, "adopted": adopted},
    )


# --- TikTok ----------------------------------------------------------------------------------------


async def _run_tiktok(ctx: TaskContext, pub_id: uuid.UUID, holder: TokenHolder, path: Path, size: int) -> None:
    plan = chunk_plan(size)
    first = await _load(pub_id)
    resumed = first.attempts > 1 and first.publish_id is not None  # an earlier attempt got this far
    for _ in range(4):  # each pass: reconcile the stored checkpoint, or make a new one
        pub = await _load(pub_id)
        if pub.publish_id:
            publish_id: str = pub.publish_id
            status = await holder.call(
                lambda t: holder.platforms.tiktok_posting(t).fetch_status(publish_id, handle=holder.handle)
            )
            if status.state == "published" and (status.post_id or pub.privacy != "PUBLIC_TO_EVERYONE"):
                await _published(pub.id, status, adopted=resumed, external_id=status.post_id)
                return
            if status.state in ("failed", "cancelled"):
                if not status.retryable:
                    raise Permanent(f"TikTok refused the post: {status.fail_reason}")
                await _new_generation(pub)
                continue
            uploaded = status.uploaded_bytes or 0
            if uploaded < size:
                expired = pub.upload_expires_at is None or pub.upload_expires_at <= utcnow()
                if expired or not pub.upload_url:
                    await _new_generation(pub)  # without all its bytes it can never become a post
                    continue
                await ctx.progress(30, "uploading to TikTok")
                upload_url: str = pub.upload_url
                await holder.call(lambda t: holder.platforms.tiktok_posting(t).upload(upload_url, path, plan))
                resumed = False
            await _set(pub.id, status="processing")
            await ctx.progress(70, "TikTok is processing")
            await _poll_tiktok(ctx, pub, holder, adopted=resumed)
            return
        info = await holder.call(lambda t: holder.platforms.tiktok_posting(t).creator_info())
        rules.check_tiktok_privacy_allowed(pub.privacy, info.privacy_level_options)
        post_info = PostInfo(
            title=pub.caption or "",
            privacy_level=pub.privacy,  # type: ignore[arg-type]
            disable_comment=bool(pub.options.get("disable_comment")) or info.comment_disabled,
            disable_duet=bool(pub.options.get("disable_duet")) or info.duet_disabled,
            disable_stitch=bool(pub.options.get("disable_stitch")) or info.stitch_disabled,
            is_aigc=bool(pub.options.get("is_aigc")),
        )
        init = await holder.call(lambda t: holder.platforms.tiktok_posting(t).init_file_upload(post_info, plan))
        # The checkpoint, before any byte: only the first attempt to get here writes it.
        await _set(
            pub.id,
            only_if={"publish_id": None, "generation": pub.generation},
            publish_id=init.publish_id,
            upload_url=init.upload_url,
            upload_expires_at=utcnow() + UPLOAD_URL_TTL,
            status="uploading",
        )
    raise Retryable("TikTok publish did not settle; trying again")


async def _new_generation(pub: ClipPublication) -> None:
    await _set(
        pub.id,
        only_if={"generation": pub.generation},
        generation=pub.generation + 1,
        publish_id=None,
        upload_url=None,
        upload_expires_at=None,
    )


async def _poll_tiktok(ctx: TaskContext, pub: ClipPublication, holder: TokenHolder, *, adopted: bool) -> None:
    assert pub.publish_id
    poll = get_settings().publishing
    deadline = time.monotonic() + poll.poll_inline_s
    want_public_id = pub.privacy == "PUBLIC_TO_EVERYONE"
    complete: PublicationStatus | None = None
    while time.monotonic() < deadline:
        status = await holder.call(
            lambda t: holder.platforms.tiktok_posting(t).fetch_status(pub.publish_id or "", handle=holder.handle)
        )
        if status.state in ("failed", "cancelled"):
            raise Permanent(f"TikTok failed the post: {status.fail_reason}")
        if status.state == "published":
            complete = status
            if status.post_id or not want_public_id:
                break
        await ctx.heartbeat()
        await asyncio.sleep(poll.poll_interval_s)
    if complete is None:
        raise Retryable("TikTok is still processing the post", retry_after=10)
    # The public id arrives after moderation; the metrics collector resolves it later if missing.
    await _published(pub.id, complete, adopted=adopted, external_id=complete.post_id)


# --- YouTube -------------------------------------------------------------------------------------------


async def _run_youtube(ctx: TaskContext, pub_id: uuid.UUID, holder: TokenHolder, path: Path, size: int) -> None:
    for _ in range(4):
        pub = await _load(pub_id)
        if pub.external_id:  # uploaded: only processing is left
            await _poll_youtube(ctx, pub, holder)
            return
        yt = holder.platforms.youtube
        if pub.upload_url:
            try:
                await ctx.progress(30, "uploading to YouTube")
                session_url: str = pub.upload_url
                video_id = await holder.call(lambda t: yt(t).upload(session_url, path, size))
            except UploadSessionExpired:
                found = await holder.call(lambda t: yt(t).find_upload_by_tag(pub.marker))
                if found:
                    await _uploaded(pub, found, adopted=True)
                    continue
                await _set(
                    pub.id, only_if={"upload_url": pub.upload_url}, upload_url=None, generation=pub.generation + 1
                )
                continue
            await _uploaded(pub, video_id, adopted=pub.attempts > 1)
            continue
        if pub.attempts > 1 or pub.generation > 0:  # an earlier attempt may have uploaded
            found = await holder.call(lambda t: yt(t).find_upload_by_tag(pub.marker))
            if found:
                await _uploaded(pub, found, adopted=True)
                continue
        metadata = VideoMetadata(
            title=pub.title or "",
            description=pub.description or "",
            tags=[*pub.tags, pub.marker],
            category_id=pub.options.get("category_id"),
            privacy_status=pub.privacy,  # type: ignore[arg-type]
            made_for_kids=bool(pub.options.get("made_for_kids")),
        )
        session_uri = await holder.call(lambda t: yt(t).start_upload(metadata, size))
        await _set(pub.id, only_if={"upload_url": None}, upload_url=session_uri, status="uploading")
    raise Retryable("YouTube upload did not settle; trying again")


async def _uploaded(pub: ClipPublication, video_id: str, *, adopted: bool) -> None:
    await _set(
        pub.id,
        only_if={"external_id": None},
        external_id=video_id,
        url=f"https://www.youtube.com/shorts/{video_id}",
        status="processing",
        adopted=adopted,
    )


async def _poll_youtube(ctx: TaskContext, pub: ClipPublication, holder: TokenHolder) -> None:
    assert pub.external_id
    await ctx.progress(80, "YouTube is processing")
    poll = get_settings().publishing
    deadline = time.monotonic() + poll.poll_inline_s
    while time.monotonic() < deadline:
        status = await holder.call(lambda t: holder.platforms.youtube(t).video_status(pub.external_id or ""))
        if status.state == "failed":
            raise Permanent(f"YouTube failed the video: {status.fail_reason}")
        if status.state == "published":
            async with session_scope() as session:
                await PublishingRepository(session).update_publication(
                    pub.id, status="published", published_at=utcnow(), error=None
                )
                await _audit_published(session, pub, adopted=pub.adopted)
            return
        await ctx.heartbeat()
        await asyncio.sleep(poll.poll_interval_s)
    raise Retryable("YouTube is still processing the video", retry_after=10)
