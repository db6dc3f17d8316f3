"""Ads use cases: connect TikTok ad accounts (Business OAuth), directions, creatives, the
campaign builder (a runtime workflow), actions, the metrics collector and the reports.

The ads platform is handed in as an `AdsFactory` (access token → `AdsPlatform`), from the
app factory, the worker's tasks or the flows; nothing here constructs an adapter.
"""

from __future__ import annotations

import asyncio
import secrets
import time
import uuid
from collections.abc import AsyncIterable, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.tiktok.business_specs import AdGroupSpec, AdSpec, AdsPlatform, CampaignSpec, StatusChange
from reelflow.domain import ads as domain
from reelflow.errors import (
    Ambiguous,
    AuthExpired,
    Conflict,
    InvalidInput,
    NotFound,
    ReelflowError,
    Retryable,
)
from reelflow.queue import EnqueueResult, enqueue
from reelflow.services import audit
from reelflow.settings import Settings, get_settings
from reelflow.storage.blobs import BlobStore, signing_secret
from reelflow.storage.db import session_scope
from reelflow.storage.models.ads import AdAccount, AdAction, AdConnection, AdCreative, AdDirection, AdLaunch
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.ads import AdsRepository, MetricRow, Totals
from reelflow.storage.repositories.clipping import ClippingRepository

AdsFactory = Callable[[str | None], AdsPlatform]
# Revenue per direction (minor units) for a date range, from the leads/sales area when it
# exists; the default knows none, so ROI stays empty (see docs/ads.md).
RevenueSource = Callable[[AsyncSession, uuid.UUID, Sequence[uuid.UUID], date, date], Awaitable[dict[uuid.UUID, int]]]

REPORT_METRICS = [
    "spend",
    "impressions",
    "clicks",
    "ctr",
    "cpc",
    "conversion",
    "video_play_actions",
    "video_watched_2s",
    "video_watched_6s",
]


# --- helpers ----------------------------------------------------------------------------------------


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def account_today(account: AdAccount, now: datetime | None = None) -> date:
    return (now or datetime.now(UTC)).astimezone(_zone(account.timezone)).date()


async def _account_or_404(repo: AdsRepository, workspace_id: uuid.UUID, account_id: uuid.UUID) -> AdAccount:
    account = await repo.get_account(workspace_id, account_id)
    if account is None:
        raise NotFound("no such ad account in this workspace")
    return account


def _usable(account: AdAccount) -> None:
    if account.status == "disconnected" or account.connection_id is None:
        raise Conflict("the ad account is disconnected: connect it again first", field="ad_account_id")


async def platform_for(repo: AdsRepository, account: AdAccount, ads_factory: AdsFactory) -> AdsPlatform:
    """The ads platform with the account's (decrypted) token."""
    _usable(account)
    assert account.connection_id is not None
    connection = await repo.session.get(AdConnection, account.connection_id)
    token = repo.access_token(connection) if connection else None
    if not token:
        raise AuthExpired("the ad account has no token: connect it again", reauth_required=True)
    return ads_factory(token)


def translate(exc: ReelflowError) -> str:
    """The platform's error as one line for a launch, action or account."""
    code = exc.extra.get("vendor_code")
    prefix = f"TikTok {code}: " if code else ""
    detail = exc.detail or type(exc).__name__
    if code and "): " in detail:
        detail = detail.split("): ", 1)[1]
    return f"{prefix}{detail}"


def _final(exc: BaseException) -> bool:
    """An error that retrying will not fix (the run fails now)."""
    if isinstance(exc, Retryable | Ambiguous):
        return False
    return isinstance(exc, ReelflowError) and exc.status < 500


# --- accounts: OAuth ----------------------------------------------------------------------------------


def redirect_uri(settings: Settings) -> str:
    if settings.ads.oauth_redirect_uri:
        return settings.ads.oauth_redirect_uri
    base = settings.web.public_base_url or f"http://{settings.web.host}:{settings.web.port}"
    return base.rstrip("/") + "/api/v1/oauth/tiktok-business/callback/"


def start_authorization(
    workspace_id: uuid.UUID, user_id: uuid.UUID | None, *, ads: AdsPlatform, settings: Settings | None = None
) -> dict[str, Any]:
    """The portal link to authorize the app, with a signed, expiring, single-use `state`
    bound to the workspace (nothing is stored until the callback)."""
    settings = settings or get_settings()
    expires = time.time() + settings.ads.oauth_state_ttl_s
    payload = {
        "ws": str(workspace_id),
        "user": str(user_id) if user_id else None,
        "nonce": secrets.token_hex(16),
        "exp": round(expires),
    }
    state = domain.sign_state(payload, signing_secret(settings))
    return {
        "authorize_url": ads.authorize_url(state=state, redirect_uri=redirect_uri(settings)),
        "state": state,
        "expires_at": datetime.fromtimestamp(expires, UTC),
    }


async def complete_authorization(
    session: AsyncSession, *, state: str, auth_code: str, ads_factory: AdsFactory, settings: Settings | None = None
) -> AdConnection:
    """The callback: check the state (signature, expiry, single use), exchange the code for
    the long-lived token, store it encrypted with the advertisers it can reach."""
    settings = settings or get_settings()
    if not auth_code:
        raise InvalidInput("auth_code is missing", field="auth_code")
    payload = domain.verify_state(state, signing_secret(settings))
    workspace_id = uuid.UUID(str(payload["ws"]))
    repo = AdsRepository(session)
    if not await repo.use_state(str(payload["nonce"]), workspace_id):
        raise Conflict("this authorization link was used already: start again", field="state")
    token = await ads_factory(None).exchange_auth_code(auth_code)
    advertisers = await ads_factory(token.access_token).get_advertisers(token.advertiser_ids)
    return await repo.add_connection(
        workspace_id=workspace_id,
        created_by=uuid.UUID(payload["user"]) if payload.get("user") else None,
        access_token=token.access_token,
        refresh_token=token.refresh_token,
        expires_at=token.expires_at,
        refresh_expires_at=token.refresh_token_expires_at,
        scope=list(token.scope),
        advertisers=[
            {
                "advertiser_id": a.advertiser_id,
                "name": a.name,
                "currency": a.currency,
                "timezone": a.timezone,
                "status": a.status,
            }
            for a in advertisers
        ],
    )


async def get_connection(session: AsyncSession, workspace_id: uuid.UUID, connection_id: uuid.UUID) -> AdConnection:
    connection = await AdsRepository(session).get_connection(workspace_id, connection_id)
    if connection is None:
        raise NotFound("no such connection in this workspace")
    return connection


async def connect_accounts(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    connection_id: uuid.UUID,
    advertiser_ids: Sequence[str],
    *,
    ads_factory: AdsFactory,
) -> list[AdAccount]:
    """Make the picked advertisers ad accounts of the workspace (several per workspace);
    each keeps its advertiser info and the TT_USER identity for posting ads."""
    repo = AdsRepository(session)
    connection = await get_connection(session, workspace_id, connection_id)
    token = repo.access_token(connection)
    if not token:
        raise Conflict("this connection was removed: authorize again", field="connection_id")
    known = {str(a["advertiser_id"]): a for a in connection.advertisers}
    wanted = list(dict.fromkeys(str(a) for a in advertiser_ids))
    if not wanted:
        raise InvalidInput("pick at least one advertiser", field="advertiser_ids")
    unknown = [a for a in wanted if a not in known]
    if unknown:
        raise InvalidInput(f"not reachable with this authorization: {', '.join(unknown)}", field="advertiser_ids")
    platform = ads_factory(token)
    accounts = []
    for advertiser_id in wanted:
        info = known[advertiser_id]
        identities = await platform.get_identities(advertiser_id, "TT_USER")
        identity = identities[0] if identities else None
        accounts.append(
            await repo.upsert_account(
                workspace_id,
                {
                    "connection_id": connection.id,
                    "advertiser_id": advertiser_id,
                    "name": str(info.get("name") or advertiser_id)[:200],
                    "currency": str(info.get("currency") or "USD"),
                    "timezone": str(info.get("timezone") or "UTC"),
                    "advertiser_status": info.get("status"),
                    "identity_id": identity.identity_id if identity else None,
                    "identity_type": identity.identity_type if identity else None,
                },
            )
        )
    return accounts


async def list_accounts(session: AsyncSession, workspace_id: uuid.UUID) -> list[AdAccount]:
    return await AdsRepository(session).list_accounts(workspace_id)


async def start_collect(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: uuid.UUID, *, key: str | None
) -> EnqueueResult:
    """Pull this account's metrics now (the same `ads.collect_metrics` job the hourly flow runs)."""
    await get_account(session, workspace_id, account_id)
    return await enqueue(
        session, "ads.collect_metrics", {"account_id": str(account_id)}, key=key, workspace_id=workspace_id
    )


async def get_account(session: AsyncSession, workspace_id: uuid.UUID, account_id: uuid.UUID) -> AdAccount:
    return await _account_or_404(AdsRepository(session), workspace_id, account_id)


async def update_account(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    autopilot: bool | None = None,
    identity_id: str | None = None,
    identity_type: str | None = None,
) -> AdAccount:
    account = await _account_or_404(AdsRepository(session), workspace_id, account_id)
    if autopilot is not None:
        account.autopilot = autopilot
    if identity_id is not None:
        if not identity_id.strip():
            raise InvalidInput("identity_id must not be empty", field="identity_id")
        account.identity_id = identity_id
        account.identity_type = identity_type or "TT_USER"
    elif identity_type is not None:
        raise InvalidInput("identity_type goes with identity_id", field="identity_type")
    account.updated_at = utcnow()
    await session.flush()
    return account


async def disconnect_account(session: AsyncSession, workspace_id: uuid.UUID, account_id: uuid.UUID) -> AdAccount:
    """Disconnect: the account keeps its history; the tokens are removed when no other ad
    account uses the same authorization."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, account_id)
    connection_id = account.connection_id
    account.status = "disconnected"
    account.connection_id = None
    account.autopilot = False
    account.updated_at = utcnow()
    await session.flush()
    if connection_id is not None and not await repo.connection_in_use(connection_id):
        await repo.remove_tokens(connection_id)
    return account


# --- directions ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectionInput:
    ad_account_id: uuid.UUID
    name: str
    platform: str
    objective: str
    daily_budget_minor: int
    target_cpl_minor: int | None = None
    adgroup_mode: str = "create_new"
    pixel_id: str | None = None
    settings: Mapping[str, Any] | None = None
    tiktok_settings: Mapping[str, Any] | None = None
    facebook_settings: Mapping[str, Any] | None = None


async def create_directions(session: AsyncSession, workspace_id: uuid.UUID, data: DirectionInput) -> list[AdDirection]:
    """One direction, or two for `both` (TikTok and Facebook rows; Facebook has no adapter)."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, data.ad_account_id)
    name = data.name.strip()
    if not 1 <= len(name) <= 200:
        raise InvalidInput("name must be 1 to 200 characters", field="name")
    platforms = domain.direction_platforms(data.platform)
    domain.check_objective(data.objective)
    domain.check_daily_budget(data.daily_budget_minor, account.currency)
    domain.check_target_cpl(data.target_cpl_minor)
    domain.check_adgroup_mode(data.adgroup_mode)
    created = []
    for platform in platforms:
        override = data.tiktok_settings if platform == "tiktok" else data.facebook_settings
        try:
            ad_settings = domain.check_ad_settings(override if override is not None else data.settings)
        except InvalidInput as exc:
            if override is None:
                raise
            field = (exc.field or "settings").replace("settings", f"{platform}_settings", 1)
            raise InvalidInput(exc.detail or "invalid settings", field=field) from None
        if await repo.direction_exists(workspace_id, account.id, name, platform):
            raise Conflict(f"a {platform} direction named {name!r} exists for this ad account", field="name")
        created.append(
            await repo.add_direction(
                workspace_id,
                {
                    "ad_account_id": account.id,
                    "name": name,
                    "platform": platform,
                    "objective": data.objective,
                    "daily_budget_minor": data.daily_budget_minor,
                    "currency": account.currency,
                    "target_cpl_minor": data.target_cpl_minor,
                    "adgroup_mode": data.adgroup_mode,
                    "pixel_id": data.pixel_id,
                    "settings": ad_settings.as_dict(),
                },
            )
        )
    return created


async def list_directions(
    session: AsyncSession, workspace_id: uuid.UUID, *, platform: str | None, account_id: uuid.UUID | None
) -> list[AdDirection]:
    if platform is not None and platform not in domain.PLATFORMS:
        raise InvalidInput("platform must be tiktok or facebook", field="platform")
    return await AdsRepository(session).list_directions(workspace_id, platform=platform, account_id=account_id)


async def get_direction(session: AsyncSession, workspace_id: uuid.UUID, direction_id: uuid.UUID) -> AdDirection:
    direction = await AdsRepository(session).get_direction(workspace_id, direction_id)
    if direction is None:
        raise NotFound("no such direction in this workspace")
    return direction


async def update_direction(
    session: AsyncSession, workspace_id: uuid.UUID, direction_id: uuid.UUID, changes: Mapping[str, Any]
) -> AdDirection:
    repo = AdsRepository(session)
    direction = await get_direction(session, workspace_id, direction_id)
    if "name" in changes:
        name = str(changes["name"]).strip()
        if not 1 <= len(name) <= 200:
            raise InvalidInput("name must be 1 to 200 characters", field="name")
        if await repo.direction_exists(workspace_id, direction.ad_account_id, name, direction.platform, direction.id):
            raise Conflict(f"a {direction.platform} direction named {name!r} exists", field="name")
        direction.name = name
    if "objective" in changes:
        direction.objective = domain.check_objective(changes["objective"])
    if "daily_budget_minor" in changes:
        direction.daily_budget_minor = domain.check_daily_budget(changes["daily_budget_minor"], direction.currency)
    if "target_cpl_minor" in changes:
        direction.target_cpl_minor = domain.check_target_cpl(changes["target_cpl_minor"])
    if "adgroup_mode" in changes:
        direction.adgroup_mode = domain.check_adgroup_mode(changes["adgroup_mode"])
    if "pixel_id" in changes:
        direction.pixel_id = changes["pixel_id"]
    if "settings" in changes:
        direction.settings = domain.check_ad_settings(changes["settings"]).as_dict()
    if "active" in changes:
        direction.active = bool(changes["active"])
    direction.updated_at = utcnow()
    await session.flush()
    return direction


async def delete_direction(session: AsyncSession, workspace_id: uuid.UUID, direction_id: uuid.UUID) -> None:
    direction = await get_direction(session, workspace_id, direction_id)
    await AdsRepository(session).delete_direction(direction)


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
    session: AsyncSession, workspace_id: uuid.UUID, *, direction_id: uuid.UUID | None
) -> list[AdLaunch]:
    return await AdsRepository(session).list_launches(workspace_id, direction_id=direction_id)


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
            location_ids=list(ad_settings.countries),
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


# --- actions -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ActionInput:
    ad_account_id: uuid.UUID
    kind: str
    target_id: str | None = None
    budget_minor: int | None = None
    direction_id: uuid.UUID | None = None
    creative_ids: Sequence[uuid.UUID] = ()


_STATUS_ACTIONS: dict[str, tuple[str, StatusChange]] = {
    "pause_campaign": ("campaign", "DISABLE"),
    "resume_campaign": ("campaign", "ENABLE"),
    "pause_adgroup": ("adgroup", "DISABLE"),
    "resume_adgroup": ("adgroup", "ENABLE"),
    "pause_ad": ("ad", "DISABLE"),
    "resume_ad": ("ad", "ENABLE"),
}


async def request_action(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    data: ActionInput,
    *,
    idempotency_key: str | None = None,
    requested_by: str = "user",
    user_id: uuid.UUID | None = None,
) -> tuple[AdAction, EnqueueResult | None]:
    """Validate and record an action, and start its job. The same idempotency key again
    returns the earlier action (no second job); with other parameters it is a 409."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, data.ad_account_id)
    if data.kind not in domain.ACTION_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(domain.ACTION_KINDS)}", field="kind")
    params: dict[str, Any] = {}
    if data.kind == "create_adgroup":
        if data.direction_id is None:
            raise InvalidInput("create_adgroup needs direction_id", field="direction_id")
        if not data.creative_ids:
            raise InvalidInput("create_adgroup needs creative_ids", field="creative_ids")
        params = {"direction_id": str(data.direction_id), "creative_ids": [str(c) for c in data.creative_ids]}
    elif not data.target_id:
        raise InvalidInput("target_id is required", field="target_id")
    if data.kind == "update_adgroup_budget":
        if data.budget_minor is None:
            raise InvalidInput("budget_minor is required", field="budget_minor")
        params["budget_minor"] = data.budget_minor
    if idempotency_key:
        existing, created = await repo.add_action(
            workspace_id,
            {
                "ad_account_id": account.id,
                "kind": data.kind,
                "target_id": data.target_id,
                "params": params,
                "idempotency_key": idempotency_key,
                "requested_by": requested_by,
                "requested_by_user": user_id,
                "status": "queued",
            },
        )
        if not created:
            same = (existing.kind, existing.target_id, existing.params, existing.ad_account_id) == (
                data.kind,
                data.target_id,
                params,
                account.id,
            )
            if not same:
                raise Conflict("this Idempotency-Key was used for another action", field="Idempotency-Key")
            return existing, None
        action = existing
        await session.flush()
        try:
            await _check_action(repo, account, action, data)
        except ReelflowError:
            raise
    else:
        action, _ = await repo.add_action(
            workspace_id,
            {
                "ad_account_id": account.id,
                "kind": data.kind,
                "target_id": data.target_id,
                "params": params,
                "idempotency_key": None,
                "requested_by": requested_by,
                "requested_by_user": user_id,
                "status": "queued",
            },
        )
        await _check_action(repo, account, action, data)
    if data.kind == "create_adgroup":
        assert data.direction_id is not None
        launch, _ = await start_launch(
            session,
            workspace_id,
            user_id,
            LaunchInput(
                direction_id=data.direction_id, mode="manual", creative_ids=data.creative_ids, adgroup_mode="create_new"
            ),
        )
        action.params = {**params, "launch_id": str(launch.id)}
    result = await enqueue(
        session, "ads.action", {"action_id": str(action.id)}, key=f"ads.action:{action.id}", workspace_id=workspace_id
    )
    action.run_id = result.run.id
    await session.flush()
    return action, result


async def _check_action(repo: AdsRepository, account: AdAccount, action: AdAction, data: ActionInput) -> None:
    _usable(account)
    if data.kind == "update_adgroup_budget":
        assert data.budget_minor is not None and data.target_id is not None
        current = None
        for direction in await repo.list_directions(account.workspace_id, account_id=account.id):
            for row in await repo.direction_adgroups(direction.id):
                if row.tiktok_adgroup_id == data.target_id:
                    current = row.daily_budget_minor
        settings = get_settings()
        day_start = datetime.combine(datetime.now(UTC).date(), datetime.min.time(), UTC)
        changes = await repo.budget_changes_since(account.id, data.target_id, day_start) - 1  # minus this one
        domain.check_budget_change(
            current,
            data.budget_minor,
            account.currency,
            changes_today=max(0, changes),
            per_day=settings.ads.budget_changes_per_day,
            max_ratio=settings.ads.budget_change_max_ratio,
        )


async def get_action(session: AsyncSession, workspace_id: uuid.UUID, action_id: uuid.UUID) -> AdAction:
    action = await AdsRepository(session).get_action(workspace_id, action_id)
    if action is None:
        raise NotFound("no such action in this workspace")
    return action


async def list_actions(
    session: AsyncSession, workspace_id: uuid.UUID, *, account_id: uuid.UUID | None
) -> list[AdAction]:
    return await AdsRepository(session).list_actions(workspace_id, account_id=account_id)


async def _entity_state(platform: AdsPlatform, advertiser_id: str, level: str, target: str) -> dict[str, Any] | None:
    if level == "campaign":
        campaigns = await platform.get_campaigns(advertiser_id, [target])
        return msgspec.to_builtins(campaigns[0]) if campaigns else None
    if level == "adgroup":
        groups = await platform.get_adgroups(advertiser_id, adgroup_ids=[target])
        return msgspec.to_builtins(groups[0]) if groups else None
    ads = await platform.get_ads(advertiser_id, ad_ids=[target])
    return msgspec.to_builtins(ads[0]) if ads else None


async def perform_action(ctx: Any, action_id: uuid.UUID, *, ads_factory: AdsFactory) -> dict[str, Any]:
    """The action job: read the state before, act once, read it after; all recorded on the
    action (its audit). Refused for a disconnected account."""
    async with session_scope() as session:
        repo = AdsRepository(session)
        action = await repo.action_by_id(action_id)
        if action is None:
            raise NotFound("no such action")
        if action.status in ("succeeded", "failed"):
            return _action_result(action)
        account = await repo.account_by_id(action.ad_account_id)
        assert account is not None
        try:
            platform = await platform_for(repo, account, ads_factory)
        except ReelflowError as exc:
            await repo.set_action(action.id, status="failed", error=translate(exc), finished_at=utcnow())
            return _action_result(await _reload_action(repo, action.id))
        await repo.set_action(action.id, status="running")
        kind, target, params, advertiser_id = action.kind, action.target_id, dict(action.params), account.advertiser_id
        account_id = account.id
    try:
        before: dict[str, Any] | None = None
        after: dict[str, Any] | None = None
        answer: dict[str, Any]
        if kind == "create_adgroup":
            [answer] = await ctx.run_children([("ads.launch", {"launch_id": params["launch_id"]})])
        elif kind == "get_campaign_status":
            assert target is not None
            before = await _entity_state(platform, advertiser_id, "campaign", target)
            if before is None:
                raise NotFound(f"campaign {target} does not exist")
            answer = {
                "operation_status": before.get("operation_status"),
                "secondary_status": before.get("secondary_status"),
            }
            after = before
        elif kind in _STATUS_ACTIONS:
            assert target is not None
            level, status = _STATUS_ACTIONS[kind]
            setters: dict[str, Callable[[str, Sequence[str], StatusChange], Awaitable[dict[str, str]]]] = {
                "campaign": platform.set_campaign_status,
                "adgroup": platform.set_adgroup_status,
                "ad": platform.set_ad_status,
            }
            setter = setters[level]
            before = await _entity_state(platform, advertiser_id, level, target)
            if before is None:
                raise NotFound(f"{level} {target} does not exist")

            async def act(_token: str) -> dict[str, Any]:
                return {"confirmed": await setter(advertiser_id, [target], status)}

            answer = await ctx.once(f"ads:action:{action_id}", act, lookup=act)
            after = await _entity_state(platform, advertiser_id, level, target)
            async with session_scope() as session:
                repo = AdsRepository(session)
                if level == "ad":
                    await repo.set_ad_status(account_id, [target], status)
        else:  # update_adgroup_budget
            assert target is not None
            before = await _entity_state(platform, advertiser_id, "adgroup", target)
            if before is None:
                raise NotFound(f"ad group {target} does not exist")
            budget = int(params["budget_minor"])

            async def change(_token: str) -> dict[str, Any]:
                changed = await platform.update_adgroup(advertiser_id, target, budget_minor=budget)
                return {"changed": changed, "budget_minor": budget}

            answer = await ctx.once(f"ads:action:{action_id}", change, lookup=change)
            after = await _entity_state(platform, advertiser_id, "adgroup", target)
            async with session_scope() as session:
                await AdsRepository(session).set_adgroup_budget(target, budget)
    except ReelflowError as exc:
        if not _final(exc):
            raise
        async with session_scope() as session:
            repo = AdsRepository(session)
            await repo.set_action(
                action_id,
                status="failed",
                error=translate(exc),
                answer={"error": translate(exc), "vendor_code": exc.extra.get("vendor_code")},
                finished_at=utcnow(),
            )
            return _action_result(await _reload_action(repo, action_id))
    async with session_scope() as session:
        repo = AdsRepository(session)
        await repo.set_action(
            action_id, status="succeeded", before=before, after=after, answer=answer, error=None, finished_at=utcnow()
        )
        return _action_result(await _reload_action(repo, action_id))


async def _reload_action(repo: AdsRepository, action_id: uuid.UUID) -> AdAction:
    action = await repo.action_by_id(action_id)
    assert action is not None
    await _audit(repo.session, action)
    return action


async def _audit(session: AsyncSession, action: AdAction) -> None:
    """The finished action in the shared audit log too (who asked, before, after, answer),
    in the transaction that records its outcome."""
    if action.status not in ("succeeded", "failed"):
        return
    await audit.record(
        session,
        f"ads.{action.kind}.{action.status}",
        workspace_id=action.workspace_id,
        actor_kind=action.requested_by,
        actor_user_id=action.requested_by_user,
        target_type="ad_action",
        target_id=action.id,
        details={
            "ad_account_id": str(action.ad_account_id),
            "target_id": action.target_id,
            "params": action.params,
            "before": action.before,
            "after": action.after,
            "answer": action.answer,
            "error": action.error,
        },
    )


def _action_result(action: AdAction) -> dict[str, Any]:
    return {"action_id": str(action.id), "status": action.status, "answer": action.answer, "error": action.error}


# --- metrics -------------------------------------------------------------------------------------------------


def metric_rows(rows: Sequence[Any], currency: str) -> list[MetricRow]:
    """Report rows (AUCTION_AD × day) → metrics history rows; leads are the optimisation
    events (`conversion`), CPL = spend / leads."""
    out = []
    for row in rows:
        if not row.ad_id or row.stat_day is None:
            continue
        leads = int(row.conversions)
        out.append(
            MetricRow(
                ad_id=str(row.ad_id),
                day=row.stat_day,
                currency=currency,
                values={
                    "spend_minor": int(row.spend_minor),
                    "impressions": int(row.impressions),
                    "clicks": int(row.clicks),
                    "ctr": row.ctr,
                    "cpc_minor": row.cpc_minor,
                    "conversions": int(row.conversions),
                    "leads": leads,
                    "cpl_minor": domain.cpl(int(row.spend_minor), leads),
                    "video_views": int(row.video_views),
                    "views_2s": int(row.views_2s),
                    "views_6s": int(row.views_6s),
                },
            )
        )
    return out


async def collect_account_metrics(
    account_id: uuid.UUID, *, ads_factory: AdsFactory, today: date | None = None, settings: Settings | None = None
) -> dict[str, Any]:
    """Pull the last N days (AUCTION_AD by day, every page) of one ad account and upsert
    them per ad per day. A failure is recorded on the account and returned, not raised."""
    settings = settings or get_settings()
    async with session_scope() as session:
        repo = AdsRepository(session)
        account = await repo.account_by_id(account_id)
        if account is None or account.status == "disconnected":
            return {"account_id": str(account_id), "skipped": True}
        try:
            platform = await platform_for(repo, account, ads_factory)
        except ReelflowError as exc:
            await repo.record_collect(account.id, error=translate(exc), status="reauth_required")
            return {"account_id": str(account_id), "error": translate(exc)}
        workspace_id, advertiser_id, currency = account.workspace_id, account.advertiser_id, account.currency
        last = today or account_today(account)
    first = last - timedelta(days=settings.ads.metrics_days - 1)
    started = time.monotonic()
    try:
        report = await platform.get_full_report(
            advertiser_id,
            start=first,
            end=last,
            data_level="AUCTION_AD",
            by="day",
            metrics=REPORT_METRICS,
            page_size=settings.ads.metrics_page_size,
        )
        rows = metric_rows(report, currency)
        async with session_scope() as session:
            repo = AdsRepository(session)
            written = await repo.upsert_metrics(workspace_id, account_id, "tiktok", rows)
            await repo.record_collect(account_id, error=None)
    except ReelflowError as exc:
        status = "reauth_required" if isinstance(exc, AuthExpired) else "error"
        async with session_scope() as session:
            await AdsRepository(session).record_collect(account_id, error=translate(exc), status=status)
        return {"account_id": str(account_id), "error": translate(exc), "status": status}
    return {
        "account_id": str(account_id),
        "rows": written,
        "days": (last - first).days + 1,
        "seconds": round(time.monotonic() - started, 3),
    }


async def collect_all_metrics(
    *, ads_factory: AdsFactory, limit: int = 10_000, concurrency: int | None = None, today: date | None = None
) -> dict[str, Any]:
    """Every collectable ad account, a bounded number at a time; one account's failure
    (expired token, rate limit) is recorded on it and never stops the others."""
    settings = get_settings()
    async with session_scope() as session:
        accounts = [a.id for a in await AdsRepository(session).collectable_accounts(limit)]
    semaphore = asyncio.Semaphore(concurrency or settings.ads.metrics_concurrency)

    async def one(account_id: uuid.UUID) -> dict[str, Any]:
        async with semaphore:
            try:
                return await collect_account_metrics(account_id, ads_factory=ads_factory, today=today)
            except Exception as exc:  # noqa: BLE001 (isolation: an unexpected error is this account's alone)
                async with session_scope() as session:
                    await AdsRepository(session).record_collect(account_id, error=f"{type(exc).__name__}: {exc}")
                return {"account_id": str(account_id), "error": f"{type(exc).__name__}: {exc}"}

    results = await asyncio.gather(*(one(a) for a in accounts))
    return {
        "accounts": len(results),
        "failed": sum(1 for r in results if r.get("error")),
        "rows": sum(int(r.get("rows", 0)) for r in results),
        "results": list(results),
    }


# --- reading ---------------------------------------------------------------------------------------------------

_CACHE: dict[tuple[uuid.UUID, str], tuple[float, list[dict[str, Any]]]] = {}


async def platform_entities(
    session: AsyncSession, workspace_id: uuid.UUID, account_id: uuid.UUID, kind: str, *, ads_factory: AdsFactory
) -> list[dict[str, Any]]:
    """Campaigns, ad groups or ads of an account, from the platform, cached briefly."""
    repo = AdsRepository(session)
    account = await _account_or_404(repo, workspace_id, account_id)
    ttl = get_settings().ads.platform_cache_ttl_s
    cached = _CACHE.get((account.id, kind))
    if cached and cached[0] > time.monotonic():
        return cached[1]
    platform = await platform_for(repo, account, ads_factory)
    items: Sequence[Any]
    if kind == "campaigns":
        items = await platform.get_campaigns(account.advertiser_id)
    elif kind == "adgroups":
        items = await platform.get_adgroups(account.advertiser_id)
    else:
        items = await platform.get_ads(account.advertiser_id)
    data = [msgspec.to_builtins(i) for i in items]
    _CACHE[(account.id, kind)] = (time.monotonic() + ttl, data)
    return data


def clear_cache() -> None:
    _CACHE.clear()


async def no_revenue(
    session: AsyncSession, workspace_id: uuid.UUID, direction_ids: Sequence[uuid.UUID], first: date, last: date
) -> dict[uuid.UUID, int]:
    """The ROI hook until the leads area records revenue: nothing is known."""
    return {}


def _range(first: date | None, last: date | None) -> tuple[date, date]:
    last = last or datetime.now(UTC).date()
    first = first or last - timedelta(days=6)
    if first > last:
        raise InvalidInput("from must not be after to", field="from")
    if (last - first).days > 366:
        raise InvalidInput("a report covers at most 367 days", field="from")
    return first, last


def _figures(totals: Totals | None, target: int | None) -> dict[str, Any]:
    spend = totals.spend_minor if totals else 0
    leads = totals.leads if totals else 0
    cpl_minor = domain.cpl(spend, leads)
    return {
        "spend_minor": spend,
        "impressions": totals.impressions if totals else 0,
        "clicks": totals.clicks if totals else 0,
        "leads": leads,
        "cpl_minor": cpl_minor,
        "target_cpl_minor": target,
        "cpl_vs_target": domain.cpl_vs_target(cpl_minor, target),
    }


async def direction_report(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    first: date | None,
    last: date | None,
    platform: str | None = None,
    revenue: RevenueSource = no_revenue,
) -> dict[str, Any]:
    first, last = _range(first, last)
    repo = AdsRepository(session)
    directions = await repo.list_directions(workspace_id, platform=platform)
    totals = await repo.totals_by_direction(workspace_id, first, last)
    known = await revenue(session, workspace_id, [d.id for d in directions], first, last)
    rows = []
    for d in directions:
        figures = _figures(totals.get(d.id), d.target_cpl_minor)
        rows.append(
            {
                "direction_id": str(d.id),
                "name": d.name,
                "platform": d.platform,
                "currency": d.currency,
                **figures,
                "revenue_minor": known.get(d.id),
                "roi": domain.roi(known.get(d.id), figures["spend_minor"]),
            }
        )
    return {"from": first.isoformat(), "to": last.isoformat(), "rows": rows}


async def creative_report(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    first: date | None,
    last: date | None,
    direction_id: uuid.UUID | None = None,
) -> dict[str, Any]:
    first, last = _range(first, last)
    repo = AdsRepository(session)
    creatives = await repo.list_creatives(workspace_id, account_id=None, direction_id=direction_id)
    directions = {d.id: d for d in await repo.list_directions(workspace_id)}
    totals = await repo.totals_by_creative(workspace_id, first, last, direction_id)
    rows = []
    for c in creatives:
        direction = directions.get(c.direction_id) if c.direction_id else None
        rows.append(
            {
                "creative_id": str(c.id),
                "name": c.name,
                "direction_id": str(c.direction_id) if c.direction_id else None,
                **_figures(totals.get(c.id), direction.target_cpl_minor if direction else None),
            }
        )
    return {"from": first.isoformat(), "to": last.isoformat(), "rows": rows}
