"""Ads API: Business OAuth, ad accounts, directions, creatives, launches, actions, the
platform's campaigns/ad groups/ads, and reports. Every query is scoped by the caller's
workspace; another workspace's id is a 404. Platform work runs as jobs."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Any

from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow import composition
from reelflow.domain.identity import EDITORS
from reelflow.errors import InvalidInput
from reelflow.services import ads as service
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.jobs import IDEMPOTENCY_HEADER, REPLAYED_HEADER, idempotency_key, job_response
from reelflow.web.openapi import answers, problems
from reelflow.web.pagination import Page, check_limit, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.ads import (
    AccountOut,
    AccountPatch,
    ActionIn,
    ActionOut,
    AuthorizeOut,
    ConnectIn,
    ConnectionOut,
    CreativeIn,
    CreativeOut,
    DirectionIn,
    DirectionOut,
    DirectionPatch,
    DirectionsOut,
    ItemsOut,
    LaunchIn,
    LaunchOut,
    account_out,
    action_out,
    connection_out,
    creative_out,
    direction_out,
    launch_out,
)
from reelflow.web.schemas.jobs import JobOut

READERS = ("owner", "admin", "editor")
MANAGERS = ("owner", "admin")
UPLOAD_BODY_CEILING = 600 * 1024 * 1024


def _day(value: str | None, field: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("a date as YYYY-MM-DD", field=field) from None


@get("/oauth/tiktok-business/start", guards=[requires_role(*MANAGERS)], tags=["ads"], sync_to_thread=False)
def oauth_start(request: Request[Any, Any, Any], ads_factory: service.AdsFactory) -> AuthorizeOut:
    """The TikTok Business authorization link; its `state` is signed, expires, works once
    and is bound to the caller's workspace. Nothing is stored until the callback."""
    principal = provide_principal(request)
    link = service.start_authorization(principal.workspace_id, principal.user_id, ads=ads_factory(None))
    return AuthorizeOut(**link)


@get(
    "/oauth/tiktok-business/callback",
    opt={"exclude_from_auth": True},
    tags=["ads"],
    status_code=201,
    responses=problems(502),
)
async def oauth_callback(
    db_session: AsyncSession,
    ads_factory: service.AdsFactory,
    oauth_state: str = Parameter(query="state", default=""),
    auth_code: str | None = None,
    code: str | None = None,
) -> Response[ConnectionOut]:
    """Where TikTok sends the advertiser back: the code becomes a stored (encrypted) token;
    the answer lists the advertisers it reaches, to pick from with POST /ads/accounts."""
    connection = await service.complete_authorization(
        db_session, state=oauth_state, auth_code=auth_code or code or "", ads_factory=ads_factory
    )
    return Response(connection_out(connection), status_code=201)


class AdsController(Controller):
    path = "/ads"
    tags = ["ads"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    # --- accounts --------------------------------------------------------------------------
    @get("/connections/{connection_id:uuid}", guards=[requires_role(*READERS)])
    async def get_connection(
        self, db_session: AsyncSession, principal: Principal, connection_id: uuid.UUID
    ) -> ConnectionOut:
        return connection_out(await service.get_connection(db_session, principal.workspace_id, connection_id))

    @post("/accounts", guards=[requires_role(*MANAGERS)])
    async def connect(
        self, db_session: AsyncSession, principal: Principal, data: ConnectIn, ads_factory: service.AdsFactory
    ) -> list[AccountOut]:
        """Make the picked advertisers of an authorization ad accounts of this workspace."""
        accounts = await service.connect_accounts(
            db_session, principal.workspace_id, data.connection_id, data.advertiser_ids, ads_factory=ads_factory
        )
        return [account_out(a) for a in accounts]

    @get("/accounts", guards=[requires_role(*READERS)])
    async def list_accounts(self, db_session: AsyncSession, principal: Principal) -> list[AccountOut]:
        return [account_out(a) for a in await service.list_accounts(db_session, principal.workspace_id)]

    @get("/accounts/{account_id:uuid}", guards=[requires_role(*READERS)])
    async def get_account(self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> AccountOut:
        return account_out(await service.get_account(db_session, principal.workspace_id, account_id))

    @patch("/accounts/{account_id:uuid}", guards=[requires_role(*MANAGERS)])
    async def update_account(
        self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID, data: AccountPatch
    ) -> AccountOut:
        """Edit the autopilot flags (act / report only), the Telegram chat for reports and the
        identity used to post ads."""
        account = await service.update_account(
            db_session,
            principal.workspace_id,
            account_id,
            autopilot=data.autopilot,
            identity_id=data.identity_id,
            identity_type=data.identity_type,
            autopilot_reports=data.autopilot_reports,
            telegram_chat_id=data.telegram_chat_id,
        )
        return account_out(account)

    @post("/accounts/{account_id:uuid}/disconnect", guards=[requires_role(*MANAGERS)], status_code=200)
    async def disconnect(self, db_session: AsyncSession, principal: Principal, account_id: uuid.UUID) -> AccountOut:
        """Disconnect: the tokens are removed; history stays; actions are refused."""
        return account_out(await service.disconnect_account(db_session, principal.workspace_id, account_id))

    @post("/accounts/{account_id:uuid}/collect", guards=[requires_role(*EDITORS)])
    async def collect(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, account_id: uuid.UUID
    ) -> Response[JobOut]:
        """Pull this account's metrics now (the same job the hourly `ads-collect-metrics` runs)."""
        return job_response(
            await service.start_collect(db_session, principal.workspace_id, account_id, key=idempotency_key(request))
        )

    # --- the platform's entities (cached briefly) ------------------------------------------------
    @get("/accounts/{account_id:uuid}/{kind:str}", guards=[requires_role(*READERS)])
    async def platform_entities(
        self,
        db_session: AsyncSession,
        principal: Principal,
        account_id: uuid.UUID,
        kind: str,
        ads_factory: service.AdsFactory,
    ) -> ItemsOut:
        """`campaigns`, `adgroups` or `ads` of the ad account, from TikTok."""
        if kind not in ("campaigns", "adgroups", "ads"):
            raise InvalidInput("campaigns, adgroups or ads", field="kind")
        items = await service.platform_entities(
            db_session, principal.workspace_id, account_id, kind, ads_factory=ads_factory
        )
        return ItemsOut(items=items)

    # --- directions ---------------------------------------------------------------------------
    @post("/directions", guards=[requires_role(*EDITORS)])
    async def create_direction(
        self, db_session: AsyncSession, principal: Principal, data: DirectionIn
    ) -> DirectionsOut:
        """One direction, or two for `platform: both` (TikTok and Facebook)."""
        created = await service.create_directions(
            db_session,
            principal.workspace_id,
            service.DirectionInput(
                ad_account_id=data.ad_account_id,
                name=data.name,
                platform=data.platform,
                objective=data.objective,
                daily_budget_minor=data.daily_budget_minor,
                target_cpl_minor=data.target_cpl_minor,
                adgroup_mode=data.adgroup_mode,
                pixel_id=data.pixel_id,
                settings=data.settings,
                tiktok_settings=data.tiktok_settings,
                facebook_settings=data.facebook_settings,
            ),
        )
        return DirectionsOut(items=[direction_out(d) for d in created])

    @get("/directions", guards=[requires_role(*READERS)])
    async def list_directions(
        self,
        db_session: AsyncSession,
        principal: Principal,
        platform: str | None = None,
        ad_account_id: uuid.UUID | None = None,
    ) -> DirectionsOut:
        rows = await service.list_directions(
            db_session, principal.workspace_id, platform=platform, account_id=ad_account_id
        )
        return DirectionsOut(items=[direction_out(d) for d in rows])

    @get("/directions/{direction_id:uuid}", guards=[requires_role(*READERS)])
    async def get_direction(
        self, db_session: AsyncSession, principal: Principal, direction_id: uuid.UUID
    ) -> DirectionOut:
        return direction_out(await service.get_direction(db_session, principal.workspace_id, direction_id))

    @patch("/directions/{direction_id:uuid}", guards=[requires_role(*EDITORS)])
    async def update_direction(
        self, db_session: AsyncSession, principal: Principal, direction_id: uuid.UUID, data: DirectionPatch
    ) -> DirectionOut:
        changes = {f: getattr(data, f) for f in data.__struct_fields__ if getattr(data, f) is not None}
        if data.target_cpl_minor is None and "target_cpl_minor" in changes:
            changes.pop("target_cpl_minor")
        return direction_out(await service.update_direction(db_session, principal.workspace_id, direction_id, changes))

    @delete("/directions/{direction_id:uuid}", guards=[requires_role(*EDITORS)])
    async def delete_direction(self, db_session: AsyncSession, principal: Principal, direction_id: uuid.UUID) -> None:
        await service.delete_direction(db_session, principal.workspace_id, direction_id, actor=principal)

    # --- creatives -----------------------------------------------------------------------------
    @post(
        "/creatives",
        guards=[requires_role(*EDITORS)],
        status_code=202,
        responses=answers(CreativeOut, {200: "The same clip for the same account: the existing creative"}),
    )
    async def create_creative(
        self, db_session: AsyncSession, principal: Principal, data: CreativeIn
    ) -> Response[CreativeOut]:
        """A video creative from a rendered clip; the upload to the ad account is a job
        (`run_id`). The same clip for the same account returns the existing creative (200)."""
        creative, run = await service.create_creative_from_clip(
            db_session,
            principal.workspace_id,
            ad_account_id=data.ad_account_id,
            clip_id=data.clip_id,
            direction_id=data.direction_id,
            kind=data.kind,
            name=data.name,
            ad_text=data.ad_text,
        )
        return Response(creative_out(creative), status_code=202 if run else 200)

    @post(
        "/creatives/upload",
        guards=[requires_role(*EDITORS)],
        request_max_body_size=UPLOAD_BODY_CEILING,
        status_code=202,
    )
    async def upload_creative(
        self,
        request: Request[Any, Any, Any],
        db_session: AsyncSession,
        principal: Principal,
        ad_account_id: uuid.UUID,
        name: str = "Uploaded video",
        kind: str = "video",
        direction_id: uuid.UUID | None = None,
        ad_text: str | None = None,
    ) -> CreativeOut:
        """A creative from an uploaded file (the raw body, e.g. `Content-Type: video/mp4`)."""
        creative, _ = await service.create_creative_from_upload(
            db_session,
            principal.workspace_id,
            ad_account_id=ad_account_id,
            chunks=request.stream(),
            blobs=composition.blob_store(),
            direction_id=direction_id,
            kind=kind,
            name=name,
            ad_text=ad_text,
        )
        return creative_out(creative)

    @get("/creatives", guards=[requires_role(*READERS)])
    async def list_creatives(
        self,
        db_session: AsyncSession,
        principal: Principal,
        ad_account_id: uuid.UUID | None = None,
        direction_id: uuid.UUID | None = None,
    ) -> list[CreativeOut]:
        rows = await service.list_creatives(
            db_session, principal.workspace_id, account_id=ad_account_id, direction_id=direction_id
        )
        return [creative_out(c) for c in rows]

    @get("/creatives/{creative_id:uuid}", guards=[requires_role(*READERS)])
    async def get_creative(self, db_session: AsyncSession, principal: Principal, creative_id: uuid.UUID) -> CreativeOut:
        return creative_out(await service.get_creative(db_session, principal.workspace_id, creative_id))

    # --- launches ------------------------------------------------------------------------------
    @post("/launches", guards=[requires_role(*EDITORS)], status_code=202)
    async def launch(self, db_session: AsyncSession, principal: Principal, data: LaunchIn) -> LaunchOut:
        """Start the campaign builder (a workflow job); poll the launch for its status and ids."""
        launch, _ = await service.start_launch(
            db_session,
            principal.workspace_id,
            principal.user_id,
            service.LaunchInput(
                direction_id=data.direction_id,
                mode=data.mode,
                creative_ids=data.creative_ids,
                daily_budget_minor=data.daily_budget_minor,
                objective=data.objective,
                max_creatives=data.max_creatives,
            ),
        )
        return launch_out(launch)

    @get("/launches", guards=[requires_role(*READERS)], responses=problems(400))
    async def list_launches(
        self,
        db_session: AsyncSession,
        principal: Principal,
        direction_id: uuid.UUID | None = None,
        cursor: str | None = Parameter(default=None, max_length=1024),
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[LaunchOut]:
        """Launches, newest first, cursor-paginated; `direction_id` filters."""
        check_limit(limit, 200)
        rows = await service.list_launches(
            db_session,
            principal.workspace_id,
            direction_id=direction_id,
            after=decode_time_id_cursor(cursor),
            limit=limit + 1,
        )
        items, next_cursor = page_of(rows, limit, lambda x: encode_cursor(x.created_at, x.id))
        return Page(items=[launch_out(x) for x in items], next_cursor=next_cursor)

    @get("/launches/{launch_id:uuid}", guards=[requires_role(*READERS)])
    async def get_launch(self, db_session: AsyncSession, principal: Principal, launch_id: uuid.UUID) -> LaunchOut:
        return launch_out(await service.get_launch(db_session, principal.workspace_id, launch_id))

    # --- actions -------------------------------------------------------------------------------
    @post("/actions", guards=[requires_role(*EDITORS)], status_code=202)
    async def act(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: ActionIn
    ) -> Response[ActionOut]:
        """One action as a job (honours `Idempotency-Key`: a replay answers 200 with the
        same action); refused (409) for a disconnected account."""
        action, run = await service.request_action(
            db_session,
            principal.workspace_id,
            service.ActionInput(
                ad_account_id=data.ad_account_id,
                kind=data.kind,
                target_id=data.target_id,
                budget_minor=data.budget_minor,
                direction_id=data.direction_id,
                creative_ids=data.creative_ids,
            ),
            idempotency_key=request.headers.get(IDEMPOTENCY_HEADER) or None,
            user_id=principal.user_id,
        )
        if run is None:
            return Response(action_out(action), status_code=200, headers={REPLAYED_HEADER: "true"})
        return Response(action_out(action), status_code=202)

    @get("/actions", guards=[requires_role(*READERS)], responses=problems(400))
    async def list_actions(
        self,
        db_session: AsyncSession,
        principal: Principal,
        ad_account_id: uuid.UUID | None = None,
        cursor: str | None = Parameter(default=None, max_length=1024),
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[ActionOut]:
        """Actions (by people and by the autopilot), newest first, cursor-paginated;
        `ad_account_id` filters."""
        check_limit(limit, 200)
        rows = await service.list_actions(
            db_session,
            principal.workspace_id,
            account_id=ad_account_id,
            after=decode_time_id_cursor(cursor),
            limit=limit + 1,
        )
        items, next_cursor = page_of(rows, limit, lambda a: encode_cursor(a.created_at, a.id))
        return Page(items=[action_out(a) for a in items], next_cursor=next_cursor)

    @get("/actions/{action_id:uuid}", guards=[requires_role(*READERS)])
    async def get_action(self, db_session: AsyncSession, principal: Principal, action_id: uuid.UUID) -> ActionOut:
        return action_out(await service.get_action(db_session, principal.workspace_id, action_id))

    # --- reports -------------------------------------------------------------------------------
    @get("/reports/directions", guards=[requires_role(*READERS)])
    async def direction_report(
        self,
        db_session: AsyncSession,
        principal: Principal,
        date_from: str | None = Parameter(query="from", default=None),
        date_to: str | None = Parameter(query="to", default=None),
        platform: str | None = None,
    ) -> dict[str, Any]:
        """Spend, leads, CPL vs target and ROI (when revenue is known) per direction."""
        return await service.direction_report(
            db_session,
            principal.workspace_id,
            first=_day(date_from, "from"),
            last=_day(date_to, "to"),
            platform=platform,
        )

    @get("/reports/creatives", guards=[requires_role(*READERS)])
    async def creative_report(
        self,
        db_session: AsyncSession,
        principal: Principal,
        date_from: str | None = Parameter(query="from", default=None),
        date_to: str | None = Parameter(query="to", default=None),
        direction_id: uuid.UUID | None = None,
    ) -> dict[str, Any]:
        return await service.creative_report(
            db_session,
            principal.workspace_id,
            first=_day(date_from, "from"),
            last=_day(date_to, "to"),
            direction_id=direction_id,
        )


route_handlers = [oauth_start, oauth_callback, AdsController]
