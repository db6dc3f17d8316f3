"""Ads use cases: creatives and launches (the campaign builder, a runtime workflow)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.tiktok.business_specs import AdGroupSpec, AdSpec, AdsPlatform, CampaignSpec
from reelflow.domain import ads as domain
from reelflow.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    ReelflowError,
)
from reelflow.queue import EnqueueResult, enqueue
from reelflow.services.ads_base import AdsFactory, _account_or_404, _final, _usable, platform_for, translate
from reelflow.settings import get_settings
from reelflow.storage.blobs import BlobStore
from reelflow.storage.db import session_scope
from reelflow.storage.models.ads import AdAccount, AdCreative, AdDirection, AdLaunch
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.ads import AdsRepository
from reelflow.storage.repositories.clipping import ClippingRepository

# --- creatives -------------------------------------------------------------------------------------------


async def _creative_direction(
    repo: AdsRepository, workspace_id: uuid.UUID, account: AdAccount, direction_id: uuid.UUID | None
) -> AdDirection | None:
    if direction_id is None:
        return None
    direction = await repo.get_direction(workspace_id, direction_id)
    if direction is None:
        raise NotFound("no such direction in this workspace")
    if direction.ad_account_id != account.id:
        raise InvalidInput("the direction belongs to another ad account", field="direction_id")
    return direction


async def create_creative_from_clip(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    ad_account_id: uuid.UUID,
    clip_id: uuid.UUID,
    direction_id: uuid.UUID | None = None,
    kind: str = "video",
    name: str | None = None,
    ad_text: str | None = None,
) -> tuple[AdCreative, EnqueueResult | None]:
    """A creative from a rendered Reelflow clip; its upload to the ad account is a job."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, ad_account_id)
    _usable(account)
    direction = await _creative_direction(repo, workspace_id, account, direction_id)
    domain.check_creative_kind(kind, direction.platform if direction else "tiktok")
    clip = await ClippingRepository(session).get_clip(workspace_id, clip_id)
    if clip is None:
        raise NotFound("no such clip in this workspace")
    if clip.status != "ready" or not clip.video_key:
        raise Conflict("the clip is not rendered yet", field="clip_id")
    creative, created = await repo.add_creative(
        workspace_id,
        {
            "ad_account_id": account.id,
            "direction_id": direction.id if direction else None,
            "name": (name or clip.text or f"Clip {clip.rank}")[:200],
            "kind": kind,
            "source": "clip",
            "clip_id": clip.id,
            "blob_key": clip.video_key,
            "size_bytes": clip.size_bytes,
            "file_name": "pending",
            "ad_text": (ad_text or None),
        },
    )
    if not created:
        return creative, None
    return creative, await _enqueue_upload(session, creative)


async def create_creative_from_upload(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    ad_account_id: uuid.UUID,
    chunks: AsyncIterable[bytes],
    blobs: BlobStore,
    direction_id: uuid.UUID | None = None,
    kind: str = "video",
    name: str = "Uploaded video",
    ad_text: str | None = None,
    max_bytes: int | None = None,
) -> tuple[AdCreative, EnqueueResult]:
    """A creative from an uploaded file (stored as a blob first; the platform upload is a job)."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, ad_account_id)
    _usable(account)
    direction = await _creative_direction(repo, workspace_id, account, direction_id)
    domain.check_creative_kind(kind, direction.platform if direction else "tiktok")
    creative_id = uuid.uuid4()
    key = f"ads/creatives/{creative_id}.mp4"
    size = await blobs.write_stream(key, chunks, max_bytes=max_bytes or get_settings().ads.creative_max_bytes)
    if size == 0:
        raise InvalidInput("the uploaded file is empty", field="body")
    creative, _ = await repo.add_creative(
        workspace_id,
        {
            "ad_account_id": account.id,
            "direction_id": direction.id if direction else None,
            "name": name[:200],
            "kind": kind,
            "source": "upload",
            "clip_id": None,
            "blob_key": key,
            "size_bytes": size,
            "file_name": "pending",
            "ad_text": ad_text,
        },
    )
    return creative, await _enqueue_upload(session, creative)


async def _enqueue_upload(session: AsyncSession, creative: AdCreative) -> EnqueueResult:
    creative.file_name = domain.creative_file_name(str(creative.id))
    result = await enqueue(
        session,
        "ads.upload_creative",
        {"creative_id": str(creative.id)},
        key=f"ads.upload_creative:{creative.id}",
        workspace_id=creative.workspace_id,
    )
    creative.run_id = result.run.id
    await session.flush()
    return result


async def list_creatives(
    session: AsyncSession, workspace_id: uuid.UUID, *, account_id: uuid.UUID | None, direction_id: uuid.UUID | None
) -> list[AdCreative]:
    return await AdsRepository(session).list_creatives(workspace_id, account_id=account_id, direction_id=direction_id)


async def get_creative(session: AsyncSession, workspace_id: uuid.UUID, creative_id: uuid.UUID) -> AdCreative:
    creative = await AdsRepository(session).get_creative(workspace_id, creative_id)
    if creative is None:
        raise NotFound("no such creative in this workspace")
    return creative


async def ensure_uploaded(ctx: Any, creative_id: uuid.UUID, *, ads_factory: AdsFactory, blobs: BlobStore) -> str:
    """Upload the creative to its ad account once (UPLOAD_BY_FILE, MD5 while streaming);
    returns its `tiktok_video_id`. A creative uploaded before keeps its id; after a lost
    answer the video is found by its (unique, stable) file name instead of uploaded again."""
    async with session_scope() as session:
        repo = AdsRepository(session)
        creative = await repo.creative_by_id(creative_id)
        if creative is None:
            raise NotFound("no such creative")
        if creative.tiktok_video_id:
            return creative.tiktok_video_id
        if creative.kind != "video":
            raise InvalidInput("only video creatives go to TikTok", field="kind")
        account = await repo.account_by_id(creative.ad_account_id)
        assert account is not None
        platform = await platform_for(repo, account, ads_factory)
        await repo.set_creative(creative.id, status="uploading")
        advertiser_id, blob_key = account.advertiser_id, creative.blob_key
        file_name = domain.creative_file_name(str(creative.id))
    if not blob_key:
        raise InvalidInput("the creative has no file", field="blob_key")

    async def lookup(_token: str) -> dict[str, Any] | None:
        video = await platform.find_video(advertiser_id, file_name)
        return {"video_id": video.video_id, "signature": video.signature, "size": video.size} if video else None

    async def act(token: str) -> dict[str, Any]:
        try:
            video = await platform.upload_video_stream(advertiser_id, blobs.read_stream(blob_key), file_name)
        except Conflict as exc:
            # 40911: the name is taken, so an earlier attempt uploaded it (its answer was lost).
            found = await lookup(token) if exc.extra.get("vendor_code") == 40911 else None
            if found is None:
                raise
            return found
        return {"video_id": video.video_id, "signature": video.signature, "size": video.size}

    try:
        result = await ctx.once(f"ads:upload:{creative_id}", act, lookup=lookup)
    except ReelflowError as exc:
        if _final(exc):
            async with session_scope() as session:
                await AdsRepository(session).set_creative(creative_id, status="failed", failure_reason=translate(exc))
        raise
    async with session_scope() as session:
        await AdsRepository(session).set_creative(
            creative_id,
            status="ready",
            tiktok_video_id=result["video_id"],
            md5=result["signature"],
            file_name=file_name,
            uploaded_at=utcnow(),
            failure_reason=None,
        )
    return str(result["video_id"])


# --- launches (the campaign builder) -------------------------------------------------------------------


@dataclass(frozen=True)
class LaunchInput:
    direction_id: uuid.UUID
    mode: str = "manual"
    creative_ids: Sequence[uuid.UUID] = ()
    daily_budget_minor: int | None = None
    objective: str | None = None
    max_creatives: int = 5
    adgroup_mode: str | None = None  # None: the direction's mode


async def start_launch(
    session: AsyncSession, workspace_id: uuid.UUID, user_id: uuid.UUID | None, data: LaunchInput
) -> tuple[AdLaunch, EnqueueResult]:
    repo = AdsRepository(session)
    direction = await repo.get_direction(workspace_id, data.direction_id)
    if direction is None:
        raise NotFound("no such direction in this workspace")
    if direction.platform != "tiktok":
        raise InvalidInput("only TikTok directions can launch: there is no Facebook adapter", field="direction_id")
    account = await _account_or_404(repo, workspace_id, direction.ad_account_id)
    _usable(account)
    if data.mode not in domain.LAUNCH_MODES:
        raise InvalidInput("mode must be auto or manual", field="mode")
    objective = domain.check_objective(data.objective or direction.objective)
    budget = data.daily_budget_minor or direction.daily_budget_minor
    domain.check_daily_budget(budget, account.currency)
    adgroup_mode = domain.check_adgroup_mode(data.adgroup_mode or direction.adgroup_mode)
    if data.mode == "manual":
        if not data.creative_ids:
            raise InvalidInput("manual launches name their creatives", field="creative_ids")
        creatives = await repo.creatives(workspace_id, list(dict.fromkeys(data.creative_ids)))
        if len(creatives) != len(set(data.creative_ids)):
            raise NotFound("a creative is not in this workspace")
        for creative in creatives:
            if creative.ad_account_id != account.id:
                raise InvalidInput("a creative belongs to another ad account", field="creative_ids")
            domain.check_creative_kind(creative.kind, "tiktok")
            if creative.status == "failed":
                raise InvalidInput(f"creative {creative.id} failed to upload", field="creative_ids")
        creative_ids = [str(c.id) for c in creatives]
    else:
        if not 1 <= data.max_creatives <= 20:
            raise InvalidInput("max_creatives must be 1 to 20", field="max_creatives")
        rows = await repo.creative_candidates(direction.id)
        candidates = [
            domain.CreativeCandidate(str(cid), running, spend, leads, i)
            for i, (cid, running, spend, leads) in enumerate(rows)
        ]
        creative_ids = domain.pick_auto_creatives(candidates, data.max_creatives)
        if not creative_ids:
            raise Conflict("no creative of this direction is idle: add creatives first", field="mode")
    launch = await repo.add_launch(
        workspace_id,
        {
            "ad_account_id": account.id,
            "direction_id": direction.id,
            "created_by": user_id,
            "mode": data.mode,
            "adgroup_mode": adgroup_mode,
            "objective": objective,
            "daily_budget_minor": budget,
            "creative_ids": creative_ids,
            "status": "queued",
        },
    )
    result = await enqueue(
        session, "ads.launch", {"launch_id": str(launch.id)}, key=f"ads.launch:{launch.id}", workspace_id=workspace_id
    )
    launch.run_id = result.run.id
    await session.flush()
    return launch, result


async def get_launch(session: AsyncSession, workspace_id: uuid.UUID, launch_id: uuid.UUID) -> AdLaunch:
    launch = await AdsRepository(session).get_launch(workspace_id, launch_id)
    if launch is None:
        raise NotFound("no such launch in this workspace")
    return launch


async def list_launches(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    direction_id: uuid.UUID | None,
    after: tuple[datetime, uuid.UUID] | None = None,
    limit: int = 50,
) -> list[AdLaunch]:
    """The workspace's launches, newest first (`after`: the (created_at, id) of the last one seen)."""
    return await AdsRepository(session).list_launches(workspace_id, direction_id=direction_id, after=after, limit=limit)


@dataclass
class _LaunchState:
    launch_id: uuid.UUID
    workspace_id: uuid.UUID
    direction_id: uuid.UUID
    direction_name: str
    settings: dict[str, Any]
    pixel_id: str | None
    direction_campaign_id: str | None
    adgroup_mode: str
    objective: str
    budget_minor: int
    advertiser_id: str
    identity_id: str | None
    identity_type: str | None
    creative_ids: list[uuid.UUID]
    campaign_id: str | None
    adgroup_id: str | None
    ad_ids: dict[str, str]


async def run_launch(ctx: Any, launch_id: uuid.UUID, *, ads_factory: AdsFactory, blobs: BlobStore) -> dict[str, Any]:
    """The launch workflow: creatives uploaded → campaign → ad group (targeting from the
    direction) → one ad per creative. Each platform call is a `ctx.once` step whose result
    is recorded, so a run resumed after a crash re-uses what was created instead of
    creating a second campaign; the ids are recorded on the launch as they are made."""
    async with session_scope() as session:
        repo = AdsRepository(session)
        launch = await repo.launch_by_id(launch_id)
        if launch is None:
            raise NotFound("no such launch")
        if launch.status in ("succeeded", "failed"):
            return _launch_result(launch)
        direction = await repo.get_direction(launch.workspace_id, launch.direction_id)
        account = await repo.account_by_id(launch.ad_account_id)
        assert direction is not None and account is not None
        try:
            platform = await platform_for(repo, account, ads_factory)
        except ReelflowError as exc:
            await repo.set_launch(launch.id, status="failed", error=translate(exc), finished_at=utcnow())
            raise
        st = _LaunchState(
            launch_id=launch.id,
            workspace_id=launch.workspace_id,
            direction_id=direction.id,
            direction_name=direction.name,
            settings=dict(direction.settings or {}),
            pixel_id=direction.pixel_id,
            direction_campaign_id=direction.tiktok_campaign_id,
            adgroup_mode=launch.adgroup_mode,
            objective=launch.objective,
            budget_minor=launch.daily_budget_minor,
            advertiser_id=account.advertiser_id,
            identity_id=account.identity_id,
            identity_type=account.identity_type,
            creative_ids=[uuid.UUID(c) for c in launch.creative_ids],
            campaign_id=launch.campaign_id,
            adgroup_id=launch.adgroup_id,
            ad_ids=dict(launch.ad_ids or {}),
        )
        await repo.set_launch(launch.id, status="running", step="creatives")
    try:
        return await _launch_steps(ctx, st, platform, ads_factory=ads_factory, blobs=blobs)
    except ReelflowError as exc:
        if _final(exc):
            async with session_scope() as session:
                await AdsRepository(session).set_launch(
                    st.launch_id,
                    status="failed",
                    error=translate(exc),
                    error_code=exc.extra.get("vendor_code"),
                    finished_at=utcnow(),
                )
        raise


async def _launch_steps(
    ctx: Any, st: _LaunchState, platform: AdsPlatform, *, ads_factory: AdsFactory, blobs: BlobStore
) -> dict[str, Any]:
    settings = get_settings()
    tag = st.launch_id.hex[:8]
    video_ids = {c: await ensure_uploaded(ctx, c, ads_factory=ads_factory, blobs=blobs) for c in st.creative_ids}
    if not st.identity_id:  # the account has no TT_USER identity: use what the advertiser has
        identities = await platform.get_identities(st.advertiser_id)
        if not identities:
            raise InvalidInput("the advertiser has no identity to post ads with", field="identity_id")
        st.identity_id, st.identity_type = identities[0].identity_id, identities[0].identity_type

    if st.adgroup_id is None and st.adgroup_mode == "use_existing":
        st.adgroup_id = await _existing_adgroup(
            ctx, st, platform, len(st.creative_ids), settings.ads.adgroup_ad_capacity
        )
    if st.adgroup_id is None:
        objective_type, goal, billing = domain.TIKTOK_OBJECTIVES[st.objective]
        if st.campaign_id is None:
            reuse = st.adgroup_mode == "use_existing" and st.direction_campaign_id
            st.campaign_id = st.direction_campaign_id if reuse else None
        if st.campaign_id is None:
            name = f"{st.direction_name[:80]} · {tag}"
            spec = CampaignSpec(name=name, objective_type=objective_type, budget_mode="BUDGET_MODE_INFINITE")
            key = f"ads:launch:{st.launch_id}:campaign"

            async def create_campaign(_token: str) -> str:
                return (await platform.create_campaign(st.advertiser_id, spec, idempotency_key=key)).campaign_id

            async def find_campaign(_token: str) -> str | None:
                found = await platform.find_campaign(st.advertiser_id, name)
                return found.campaign_id if found else None

            st.campaign_id = await ctx.once(key, create_campaign, lookup=find_campaign)
            async with session_scope() as session:
                repo = AdsRepository(session)
                await repo.set_launch(st.launch_id, campaign_id=st.campaign_id, step="adgroup")
                direction = await repo.get_direction(st.workspace_id, st.direction_id, lock=True)
                if direction is not None and not direction.tiktok_campaign_id:
                    direction.tiktok_campaign_id = st.campaign_id
        campaign_id = st.campaign_id
        ad_settings = domain.check_ad_settings(st.settings)
        placements = list(ad_settings.placements) or ["PLACEMENT_TIKTOK"]
        location_ids = (
            await platform.country_location_ids(
                st.advertiser_id, ad_settings.countries, objective_type=objective_type, placements=placements
            )
            if ad_settings.countries
            else []
        )
        adgroup_name = f"{st.direction_name[:80]} · AG {tag}"
        end = datetime.now(UTC) + timedelta(hours=ad_settings.schedule_hours) if ad_settings.schedule_hours else None
        adgroup_spec = AdGroupSpec(
            campaign_id=campaign_id,
            name=adgroup_name,
            budget_minor=st.budget_minor,
            budget_mode="BUDGET_MODE_DAY",
            billing_event=billing,
            optimization_goal=goal,
            schedule_end=end,
            location_ids=location_ids,
            age_groups=list(ad_settings.age_groups),
            gender=ad_settings.gender,
            languages=list(ad_settings.languages),
            placements=list(ad_settings.placements),
            pixel_id=st.pixel_id,
            identity_id=st.identity_id,
            identity_type=st.identity_type,
        )

        async def find_adgroup(_token: str) -> str | None:
            found = await platform.find_adgroup(st.advertiser_id, campaign_id, adgroup_name)
            return found.adgroup_id if found else None

        async def create_adgroup(token: str) -> str:
            # Ad group creation has no request id on TikTok: after a lost answer (a retry of
            # this step) look the name up first, so a retry never makes a second one.
            return (
                await find_adgroup(token) or (await platform.create_adgroup(st.advertiser_id, adgroup_spec)).adgroup_id
            )

        st.adgroup_id = await ctx.once(f"ads:launch:{st.launch_id}:adgroup", create_adgroup, lookup=find_adgroup)
        async with session_scope() as session:
            repo = AdsRepository(session)
            await repo.add_direction_adgroup(
                workspace_id=st.workspace_id,
                direction_id=st.direction_id,
                adgroup_id=st.adgroup_id,
                campaign_id=campaign_id,
                name=adgroup_name,
                budget_minor=st.budget_minor,
            )
            await repo.set_launch(st.launch_id, campaign_id=campaign_id, adgroup_id=st.adgroup_id, step="ads")

    adgroup_id = st.adgroup_id
    ad_settings = domain.check_ad_settings(st.settings)
    async with session_scope() as session:
        creatives = {c.id: c for c in await AdsRepository(session).creatives(st.workspace_id, st.creative_ids)}
    for creative_id in st.creative_ids:
        creative = creatives[creative_id]
        ad_name = f"rf-{tag}-{creative_id.hex[:8]} {creative.name}"[:100]
        ad_spec = AdSpec(
            adgroup_id=adgroup_id,
            name=ad_name,
            ad_text=(creative.ad_text or ad_settings.ad_text or st.direction_name)[:100],
            identity_id=st.identity_id or "",
            identity_type=st.identity_type or "CUSTOMIZED_USER",
            video_id=video_ids[creative_id],
            call_to_action=ad_settings.call_to_action or "LEARN_MORE",
            landing_page_url=ad_settings.landing_page_url,
        )

        async def find_ad(_token: str, name: str = ad_name) -> str | None:
            found = await platform.find_ad(st.advertiser_id, adgroup_id, name)
            return found.ad_id if found else None

        async def create_ad(token: str, spec: AdSpec = ad_spec, name: str = ad_name) -> str:
            existing = await find_ad(token, name)  # same reason as the ad group: no request id
            return existing or (await platform.create_ad(st.advertiser_id, spec)).ad_id

        ad_id = await ctx.once(f"ads:launch:{st.launch_id}:ad:{creative_id}", create_ad, lookup=find_ad)
        async with session_scope() as session:  # the ad and its ad group's count, in one transaction
            repo = AdsRepository(session)
            if await repo.record_ad(
                {
                    "workspace_id": st.workspace_id,
                    "ad_account_id": creative.ad_account_id,
                    "direction_id": st.direction_id,
                    "creative_id": creative_id,
                    "launch_id": st.launch_id,
                    "tiktok_ad_id": ad_id,
                    "tiktok_adgroup_id": adgroup_id,
                    "tiktok_campaign_id": st.campaign_id or "",
                    "status": "ENABLE",
                }
            ):
                await repo.bump_ads_count(st.direction_id, adgroup_id)
            st.ad_ids[str(creative_id)] = ad_id
            await repo.set_launch(st.launch_id, ad_ids=dict(st.ad_ids))
    async with session_scope() as session:
        repo = AdsRepository(session)
        await repo.set_launch(st.launch_id, status="succeeded", step="done", error=None, finished_at=utcnow())
        launch = await repo.launch_by_id(st.launch_id)
        assert launch is not None
        return _launch_result(launch)


async def _existing_adgroup(
    ctx: Any, st: _LaunchState, platform: AdsPlatform, needed: int, capacity: int
) -> str | None:
    """`use_existing`: the direction's ad group with room (< capacity ads), enabled if it was
    disabled; the choice is recorded on the launch so a resumed run keeps it."""
    async with session_scope() as session:
        repo = AdsRepository(session)
        rows = await repo.direction_adgroups(st.direction_id, lock=True)
        slot = domain.choose_adgroup(
            [domain.AdGroupSlot(r.tiktok_adgroup_id, r.status, r.ads_count) for r in rows], needed, capacity
        )
        if slot is None:
            return None
        await repo.set_launch(
            st.launch_id,
            adgroup_id=slot.adgroup_id,
            campaign_id=next(r.tiktok_campaign_id for r in rows if r.tiktok_adgroup_id == slot.adgroup_id),
            step="ads",
        )
        st.campaign_id = next(r.tiktok_campaign_id for r in rows if r.tiktok_adgroup_id == slot.adgroup_id)
    if slot.status != "ENABLE":

        async def enable(_token: str) -> dict[str, str]:
            return await platform.set_adgroup_status(st.advertiser_id, [slot.adgroup_id], "ENABLE")

        await ctx.once(f"ads:launch:{st.launch_id}:enable:{slot.adgroup_id}", enable, lookup=enable)
        async with session_scope() as session:
            await AdsRepository(session).set_adgroup_status(st.direction_id, slot.adgroup_id, "ENABLE")
    return slot.adgroup_id


def _launch_result(launch: AdLaunch) -> dict[str, Any]:
    return {
        "launch_id": str(launch.id),
        "status": launch.status,
        "campaign_id": launch.campaign_id,
        "adgroup_id": launch.adgroup_id,
        "ad_ids": dict(launch.ad_ids or {}),
        "error": launch.error,
    }
