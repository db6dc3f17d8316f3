"""Publishing a clip to connected accounts, exactly once per (clip, account[, variant]).

`publish()` validates everything before anything is queued (422 naming the field), applies
the workspace's publish config, asks TikTok's creator_info for each account, then creates
one `clip_publications` row and one job per account (a second request for the same clip and
account returns the existing publication and queues nothing).

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
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import PublishingPlatforms
from reelflow.adapters.records import PublicationStatus
from reelflow.adapters.tiktok.posting import PostInfo, chunk_plan
from reelflow.adapters.youtube import UploadSessionExpired, VideoMetadata
from reelflow.domain import publishing as rules
from reelflow.errors import AuthExpired, Conflict, InvalidInput, NotFound, Permanent, Retryable
from reelflow.logs import get_logger
from reelflow.queue import TaskContext, cancel_run, enqueue, retry_run
from reelflow.services import accounts as accounts_service
from reelflow.services import audit
from reelflow.services.accounts import AccountUnavailable
from reelflow.settings import get_settings
from reelflow.storage.blobs import get_blob_store
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.publishing import ClipPublication, ConnectedAccount, PublishConfig
from reelflow.storage.repositories.clipping import ClippingRepository
from reelflow.storage.repositories.publishing import PublishingRepository

log = get_logger(__name__)
T = TypeVar("T")

PUBLISH_TASK = "publishing.publish_clip"
MAX_ATTEMPTS = 10  # the task's policy; settings.publishing.max_attempts marks the publication failed
UPLOAD_URL_TTL = timedelta(minutes=55)  # TikTok: valid 1 hour
FINAL = ("published", "failed", "cancelled")


@dataclass
class PublishRequest:
    platform: str
    clip_id: uuid.UUID
    account_ids: list[uuid.UUID] | None = None
    caption: str | None = None  # TikTok
    title: str | None = None  # YouTube
    description: str | None = None
    tags: list[str] | None = None
    privacy: str | None = None
    scheduled_at: datetime | None = None
    experiment_id: uuid.UUID | None = None
    variant_id: uuid.UUID | None = None
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class PublishOutcome:
    publication: ClipPublication
    created: bool
    job_id: uuid.UUID | None


# --- the request --------------------------------------------------------------------------------


async def publish(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    request: PublishRequest,
    *,
    platforms: PublishingPlatforms,
    idempotency_key: str | None = None,
    actor: audit.Actor | None = None,
) -> list[PublishOutcome]:
    repo = PublishingRepository(session)
    now = utcnow()
    config = await repo.get_config(workspace_id)
    clip = await repo.get_clip(workspace_id, request.clip_id)
    if clip is None:  # unknown, or another workspace's: the same answer
        raise InvalidInput("no such clip", field="clip_id")
    if clip.status != "ready" or not clip.video_key:
        raise InvalidInput(f"the clip is {clip.status}, not ready: render it first", field="clip_id")
    caption, title = request.caption, request.title
    if request.variant_id is not None or request.experiment_id is not None:
        caption, title = await _apply_variant(repo, workspace_id, request, caption, title)
    account_ids = request.account_ids
    from_config = not account_ids
    if from_config and config is not None:
        defaults = [uuid.UUID(a) for a in config.default_account_ids]
        found = await repo.accounts_by_ids(workspace_id, defaults)
        # the defaults may mix platforms: a TikTok request takes the TikTok ones
        account_ids = [a for a in defaults if a in found and found[a].platform == request.platform]
    if not account_ids:
        raise InvalidInput("give at least one account (or set default accounts in publish-config)", field="account_ids")
    account_ids = list(dict.fromkeys(account_ids))
    found = await repo.accounts_by_ids(workspace_id, account_ids)
    accounts: list[ConnectedAccount] = []
    for account_id in account_ids:
        account = found.get(account_id)
        if account is None:
            raise InvalidInput(f"account {account_id} does not exist", field="account_ids")
        if account.platform != request.platform:
            raise InvalidInput(f"account {account_id} is a {account.platform} account", field="account_ids")
        if account.status != "active":
            raise InvalidInput(
                f"account {account_id} is {account.status}: reconnect it"
                + (f" ({account.last_error})" if account.last_error else ""),
                field="account_ids",
            )
        accounts.append(account)
    scheduled_at = rules.check_schedule(request.scheduled_at, now)
    duration = max(0.0, clip.end_s - clip.start_s)
    size = clip.size_bytes or 0
    project = await ClippingRepository(session).project_by_id(clip.project_id)
    default_title = (project.title if project else "") or (clip.text or "")[:80]
    values: dict[str, Any]
    if request.platform == "tiktok":
        privacy = request.privacy or (config.tiktok_privacy if config else None)
        if not privacy:
            raise InvalidInput("privacy is required for TikTok (no default: the creator chooses)", field="privacy")
        privacy = rules.normalise_tiktok_privacy(privacy)
        if caption is None:
            caption = rules.render_caption(
                config.caption_template if config else None,
                title=default_title,
                hashtags=config.hashtags if config else [],
            )
        rules.check_tiktok_caption(caption)
        rules.check_tiktok_video(duration, size)
        for account in accounts:  # the Content Posting API requires it before each post
            info = await _creator_info(account, platforms)
            rules.check_tiktok_privacy_allowed(privacy, info.privacy_level_options)
            rules.check_tiktok_video(duration, size, creator_max_s=info.max_video_post_duration_sec or None)
        options: dict[str, Any] = {
            k: bool(request.options.get(k, False)) for k in ("disable_comment", "disable_duet", "disable_stitch")
        }
        options["is_aigc"] = bool(request.options.get("is_aigc", False))
        values = {"caption": caption, "privacy": privacy, "options": options}
    else:
        privacy = rules.check_youtube_privacy(
            request.privacy or (config.youtube_privacy if config else None) or "public"
        )
        title = title if title is not None else default_title[: rules.YOUTUBE_TITLE_MAX]
        description = request.description
        if description is None:
            description = rules.render_caption(
                config.caption_template if config else None, title="", hashtags=config.hashtags if config else []
            )
        tags = list(request.tags or [])
        rules.check_youtube_text(title, description, tags)
        options = {
            "category_id": request.options.get("category_id") or (config.youtube_category_id if config else None),
            "made_for_kids": bool(
                request.options.get("made_for_kids", config.youtube_made_for_kids if config else False)
            ),
        }
        values = {"title": title, "description": description, "tags": tags, "privacy": privacy, "options": options}
    outcomes = []
    for account in accounts:
        pub_id = uuid.uuid4()
        publication, created = await repo.insert_publication(
            {
                "id": pub_id,
                "workspace_id": workspace_id,
                "clip_id": clip.id,
                "account_id": account.id,
                "platform": request.platform,
                "experiment_id": request.experiment_id,
                "variant_id": request.variant_id,
                "status": "scheduled" if scheduled_at else "queued",
                "scheduled_at": scheduled_at,
                "marker": rules.publish_marker(pub_id.hex),
                "video_bytes": size or None,
                **values,
            }
        )
        if not created:
            outcomes.append(PublishOutcome(publication, False, publication.run_id))
            continue
        key = f"{idempotency_key}:{account.id}" if idempotency_key else None
        result = await enqueue(
            session,
            PUBLISH_TASK,
            {"publication_id": str(publication.id)},
            key=key,
            workspace_id=workspace_id,
            start_at=scheduled_at,
        )
        publication.run_id = result.run.id
        await audit.record(
            session,
            "publishing.post.requested",
            actor=actor,
            workspace_id=workspace_id,
            target_type="clip_publication",
            target_id=publication.id,
            details={
                "platform": request.platform,
                "clip_id": str(clip.id),
                "account_id": str(account.id),
                "scheduled_at": scheduled_at.isoformat() if scheduled_at else None,
            },
        )
        await session.flush()
        outcomes.append(PublishOutcome(publication, True, result.run.id))
    return outcomes


async def _apply_variant(
    repo: PublishingRepository,
    workspace_id: uuid.UUID,
    request: PublishRequest,
    caption: str | None,
    title: str | None,
) -> tuple[str | None, str | None]:
    if request.experiment_id is None or request.variant_id is None:
        raise InvalidInput("give both experiment_id and variant_id", field="variant_id")
    experiment = await repo.get_experiment(workspace_id, request.experiment_id)
    if experiment is None:
        raise InvalidInput("no such experiment", field="experiment_id")
    if experiment.status in ("completed", "inconclusive"):
        raise InvalidInput(f"the experiment has ended ({experiment.status})", field="experiment_id")
    variant = next((v for v in await repo.variants(experiment.id) if v.id == request.variant_id), None)
    if variant is None:
        raise InvalidInput("no such variant in this experiment", field="variant_id")
    if variant.clip_id != request.clip_id:
        raise InvalidInput("the variant uses another clip", field="clip_id")
    return (caption if caption is not None else variant.caption), (title if title is not None else variant.title)


async def _creator_info(account: ConnectedAccount, platforms: PublishingPlatforms) -> Any:
    holder = await TokenHolder.load(account.id, platforms)
    return await holder.call(lambda token: platforms.tiktok_posting(token).creator_info())


async def cancel(
    session: AsyncSession, workspace_id: uuid.UUID, publication_id: uuid.UUID, *, actor: audit.Actor | None = None
) -> ClipPublication:
    """Cancel a publication still scheduled (its delayed job never starts)."""
    repo = PublishingRepository(session)
    publication = await repo.get_publication(workspace_id, publication_id)
    if publication is None:
        raise NotFound("no such publication")
    if publication.status != "scheduled":
        raise Conflict(f"only scheduled publications can be cancelled; this one is {publication.status}")
    if not await repo.update_publication(publication.id, only_if={"status": "scheduled"}, status="cancelled"):
        raise Conflict("the publication has just started")
    if publication.run_id is not None:
        try:
            await cancel_run(session, publication.run_id, workspace_id=workspace_id)
        except Conflict:
            pass  # finished already: the task sees the cancelled publication and does nothing
    await audit.record(
        session,
        "publishing.post.cancelled",
        actor=actor,
        workspace_id=workspace_id,
        target_type="clip_publication",
        target_id=publication.id,
    )
    refreshed = await repo.publication_by_id(publication.id)
    assert refreshed is not None
    return refreshed


async def retry(
    session: AsyncSession, workspace_id: uuid.UUID, publication_id: uuid.UUID, *, actor: audit.Actor | None = None
) -> ClipPublication:
    """Run a failed publication again (same job, fresh budget). Safe: the attempt starts by
    reconciling its stored checkpoint with the platform, so a post that exists is adopted."""
    repo = PublishingRepository(session)
    publication = await repo.get_publication(workspace_id, publication_id)
    if publication is None:
        raise NotFound("no such publication")
    if publication.status != "failed" or publication.run_id is None:
        raise Conflict(f"only failed publications can be retried; this one is {publication.status}")
    account = await repo.account_by_id(publication.account_id)
    if account is None or account.status != "active":
        raise Conflict("the account is not active: reconnect it first")
    await repo.update_publication(publication.id, only_if={"status": "failed"}, status="queued", error=None, attempts=0)
    await retry_run(session, publication.run_id, workspace_id=workspace_id)
    await audit.record(
        session,
        "publishing.post.retried",
        actor=actor,
        workspace_id=workspace_id,
        target_type="clip_publication",
        target_id=publication.id,
    )
    refreshed = await repo.publication_by_id(publication.id)
    assert refreshed is not None
    return refreshed


async def get_publication(session: AsyncSession, workspace_id: uuid.UUID, publication_id: uuid.UUID) -> ClipPublication:
    publication = await PublishingRepository(session).get_publication(workspace_id, publication_id)
    if publication is None:
        raise NotFound("no such publication")
    return publication


async def list_publications(session: AsyncSession, workspace_id: uuid.UUID, **filters: Any) -> list[ClipPublication]:
    return list(await PublishingRepository(session).list_publications(workspace_id, **filters))


# --- publish config -----------------------------------------------------------------------------


async def get_config(session: AsyncSession, workspace_id: uuid.UUID) -> PublishConfig | None:
    return await PublishingRepository(session).get_config(workspace_id)


async def put_config(session: AsyncSession, workspace_id: uuid.UUID, values: dict[str, Any]) -> PublishConfig:
    repo = PublishingRepository(session)
    if values.get("tiktok_privacy") is not None:
        try:
            values["tiktok_privacy"] = rules.normalise_tiktok_privacy(values["tiktok_privacy"])
        except InvalidInput:
            raise InvalidInput(
                f"tiktok_privacy must be one of {', '.join(rules.TIKTOK_PRIVACY)}", field="tiktok_privacy"
            ) from None
    if values.get("youtube_privacy") is not None and values["youtube_privacy"] not in rules.YOUTUBE_PRIVACY:
        raise InvalidInput(
            f"youtube_privacy must be one of {', '.join(rules.YOUTUBE_PRIVACY)}", field="youtube_privacy"
        )
    ids = [uuid.UUID(str(a)) for a in values.get("default_account_ids") or []]
    found = await repo.accounts_by_ids(workspace_id, ids)
    for account_id in ids:
        if account_id not in found:
            raise InvalidInput(f"account {account_id} does not exist", field="default_account_ids")
    values["default_account_ids"] = [str(a) for a in ids]
    return await repo.put_config(workspace_id, values)


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
