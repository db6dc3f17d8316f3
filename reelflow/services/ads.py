"""Ads use cases: connect TikTok ad accounts (Business OAuth), directions, creatives, the
campaign builder (a runtime workflow), actions, the metrics collector and the reports.

The ads platform is handed in as an `AdsFactory` (access token → `AdsPlatform`), from the
app factory, the worker's tasks or the flows; nothing here constructs an adapter.

This module holds the accounts (OAuth, connections); the rest lives in `ads_base` (shared
helpers), `ads_directions`, `ads_launches` (creatives + launches), `ads_actions` and
`ads_metrics` (collector + reports), all re-exported here.
"""

from __future__ import annotations

import secrets
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.tiktok.business_specs import AdsPlatform
from reelflow.domain import ads as domain
from reelflow.errors import (
    Conflict,
    InvalidInput,
    NotFound,
)
from reelflow.queue import EnqueueResult, enqueue
from reelflow.services import leads
from reelflow.services.ads_actions import ActionInput, get_action, list_actions, perform_action, request_action
from reelflow.services.ads_base import (
    REPORT_METRICS,
    AdsFactory,
    RevenueSource,
    _account_or_404,
    account_today,
    platform_for,
    translate,
)
from reelflow.services.ads_directions import (
    DirectionInput,
    create_directions,
    delete_direction,
    get_direction,
    list_directions,
    update_direction,
)
from reelflow.services.ads_launches import (
    LaunchInput,
    create_creative_from_clip,
    create_creative_from_upload,
    ensure_uploaded,
    get_creative,
    get_launch,
    list_creatives,
    list_launches,
    run_launch,
    start_launch,
)
from reelflow.services.ads_metrics import (
    clear_cache,
    collect_account_metrics,
    collect_all_metrics,
    creative_report,
    direction_report,
    metric_rows,
    no_revenue,
    platform_entities,
)
from reelflow.settings import Settings, get_settings
from reelflow.storage.blobs import signing_secret
from reelflow.storage.models.ads import AdAccount, AdConnection
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.ads import AdsRepository

__all__ = [
    "REPORT_METRICS",
    "ActionInput",
    "AdsFactory",
    "DirectionInput",
    "LaunchInput",
    "RevenueSource",
    "account_today",
    "clear_cache",
    "collect_account_metrics",
    "collect_all_metrics",
    "complete_authorization",
    "connect_accounts",
    "create_creative_from_clip",
    "create_creative_from_upload",
    "create_directions",
    "creative_report",
    "delete_direction",
    "direction_report",
    "disconnect_account",
    "ensure_uploaded",
    "get_account",
    "get_action",
    "get_connection",
    "get_creative",
    "get_direction",
    "get_launch",
    "list_accounts",
    "list_actions",
    "list_creatives",
    "list_directions",
    "list_launches",
    "metric_rows",
    "no_revenue",
    "perform_action",
    "platform_entities",
    "platform_for",
    "redirect_uri",
    "request_action",
    "run_launch",
    "start_authorization",
    "start_collect",
    "start_launch",
    "translate",
    "update_account",
    "update_direction",
]


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
    await leads.remap_unmapped(session, wanted)  # leads that arrived before the account was connected
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
    autopilot_reports: bool | None = None,
    telegram_chat_id: str | None = None,
) -> AdAccount:
    account = await _account_or_404(AdsRepository(session), workspace_id, account_id)
    if autopilot is not None:
        account.autopilot = autopilot
    if autopilot_reports is not None:
        account.autopilot_reports = autopilot_reports
    if telegram_chat_id is not None:
        account.telegram_chat_id = domain.check_telegram_chat_id(telegram_chat_id)
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
