"""Publishing a clip to connected accounts, exactly once per (clip, account[, variant]).

`publish()` validates everything before anything is queued (422 naming the field), applies
the workspace's publish config, asks TikTok's creator_info for each account, then creates
one `clip_publications` row and one job per account (a second request for the same clip and
account returns the existing publication and queues nothing).

The job body (`run_publication()`, TikTok and YouTube) lives in `publishing_run`, re-exported
here with the names the tasks use; its guarantees are described there.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import PublishingPlatforms
from reelflow.domain import publishing as rules
from reelflow.errors import Conflict, InvalidInput, NotFound
from reelflow.queue import cancel_run, enqueue, retry_run
from reelflow.services import audit
from reelflow.services.publishing_run import MAX_ATTEMPTS, TokenHolder, run_publication
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.publishing import ClipPublication, ConnectedAccount, PublishConfig
from reelflow.storage.repositories.clipping import ClippingRepository
from reelflow.storage.repositories.publishing import PublishingRepository

__all__ = [
    "MAX_ATTEMPTS",
    "PUBLISH_TASK",
    "PublishOutcome",
    "PublishRequest",
    "cancel",
    "get_config",
    "get_publication",
    "list_publications",
    "publish",
    "put_config",
    "retry",
    "run_publication",
]


PUBLISH_TASK = "publishing.publish_clip"


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
