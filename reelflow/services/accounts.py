"""Connected accounts: OAuth connect (state + PKCE), encrypted tokens, refresh, disconnect.

Guarantees:
- `state` is random (256 bits), stored only as its SHA-256, single use, 10 minutes, bound to
  the workspace and member that started the flow and to the platform. A replayed, expired
  or forged state is a 400 problem and stores nothing.
- Tokens are sealed with `TokenVault` (Fernet, key id per row) and never leave this module
  in plaintext except to the adapters.
- Refresh holds the account row lock while it calls the platform (single flight) and writes
  with compare-and-set on `token_version`: a caller that saw an older version gets the
  newer token instead of refreshing again, so a rotating refresh token is never used twice
  and a newer token is never overwritten by an older one.
- `invalid_grant` on refresh marks the account `expired` (publishing to it stops with that
  reason); reconnecting the same channel makes it `active` again.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.adapters.protocols import PublishingPlatforms
from reelflow.adapters.records import TokenSet
from reelflow.adapters.tiktok.oauth import pkce_pair
from reelflow.adapters.youtube import YOUTUBE_SCOPES
from reelflow.domain.publishing import STATE_TTL
from reelflow.errors import AuthExpired, InvalidInput, NotFound, Permanent, ReelflowError
from reelflow.logs import get_logger
from reelflow.services import audit
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.publishing import PLATFORMS, ConnectedAccount
from reelflow.storage.repositories.publishing import PublishingRepository
from reelflow.storage.tokenstore import TokenVault

log = get_logger(__name__)

TIKTOK_SCOPES = ["user.info.basic", "user.info.profile", "video.publish", "video.upload", "video.list"]
GOOGLE_SCOPES = [*YOUTUBE_SCOPES]
OAUTH_PLATFORMS = {"tiktok": "tiktok", "google": "youtube"}  # URL name → account platform
REFRESH_AHEAD = timedelta(minutes=5)


class InvalidState(InvalidInput):
    """The OAuth `state` is unknown, expired, already used or for another platform."""

    status = 400
    title = "Invalid OAuth state"
    code = "invalid_oauth_state"


class AccountUnavailable(Permanent):
    """The account cannot publish (expired, revoked, error): reconnect it."""

    code = "account_unavailable"


@dataclass(frozen=True)
class Member:
    workspace_id: uuid.UUID
    user_id: uuid.UUID


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def account_platform(oauth_name: str) -> str:
    if oauth_name not in OAUTH_PLATFORMS:
        raise NotFound(f"unknown OAuth provider {oauth_name!r}")
    return OAUTH_PLATFORMS[oauth_name]


async def start_oauth(
    session: AsyncSession,
    member: Member,
    oauth_name: str,
    *,
    redirect_uri: str,
    platforms: PublishingPlatforms,
    login_hint: str | None = None,
) -> dict[str, str]:
    """A consent URL with a fresh single-use state (and PKCE for TikTok)."""
    platform = account_platform(oauth_name)
    state = secrets.token_urlsafe(32)
    vault = TokenVault()
    verifier = challenge = None
    if platform == "tiktok":
        verifier, challenge = pkce_pair()
    now = utcnow()
    await PublishingRepository(session).add_state(
        state_hash=_hash(state),
        workspace_id=member.workspace_id,
        user_id=member.user_id,
        platform=platform,
        redirect_uri=redirect_uri,
        code_verifier_enc=vault.seal(verifier),
        key_id=vault.key_id if verifier else None,
        expires_at=now + STATE_TTL,
    )
    if platform == "tiktok":
        url = platforms.tiktok_oauth(redirect_uri).authorize_url(TIKTOK_SCOPES, state=state, code_challenge=challenge)
    else:
        url = platforms.google_oauth(redirect_uri).authorize_url(GOOGLE_SCOPES, state=state, login_hint=login_hint)
    return {"authorize_url": url, "state": state, "expires_at": (now + STATE_TTL).isoformat()}


async def complete_oauth(
    session: AsyncSession,
    oauth_name: str,
    *,
    state: str | None,
    code: str | None,
    error: str | None,
    platforms: PublishingPlatforms,
) -> ConnectedAccount:
    """Consume the state (committed first: single use even if the exchange fails), exchange
    the code, fetch the identity and upsert the account."""
    platform = account_platform(oauth_name)
    if not state:
        raise InvalidState("state is missing", field="state")
    repo = PublishingRepository(session)
    record = await repo.consume_state(_hash(state), platform, utcnow())
    if record is None:
        raise InvalidState("state is unknown, expired or already used; start the connection again", field="state")
    await session.commit()
    if error:
        raise InvalidInput(f"the platform refused the consent: {error}", field="error")
    if not code:
        raise InvalidInput("code is missing", field="code")
    vault = TokenVault()
    verifier = vault.open(record.code_verifier_enc)
    if platform == "tiktok":
        tiktok = platforms.tiktok_oauth(record.redirect_uri)
        tokens = await tiktok.exchange_code(code, code_verifier=verifier)
        me = await platforms.tiktok_display(tokens.access_token).user_info(
            ["open_id", "union_id", "avatar_url", "display_name", "username"]
        )
        external_id = me.id or tokens.open_id or ""
        identity = {"display_name": me.display_name, "username": me.handle or None, "avatar_url": me.avatar_url}
    else:
        google = platforms.google_oauth(record.redirect_uri)
        tokens = await google.exchange_code(code)
        channel = await platforms.youtube(tokens.access_token).channel()
        external_id = channel.id or ""
        identity = {"display_name": channel.display_name, "username": channel.handle, "avatar_url": channel.avatar_url}
    if not external_id:
        raise Permanent("the platform did not say which account was connected")
    account = await repo.upsert_account(
        {
            "workspace_id": record.workspace_id,
            "platform": platform,
            "external_id": external_id,
            "scopes": tokens.scopes,
            "status": "active",
            "connected_by": record.user_id,
            **identity,
            **_sealed(vault, tokens),
        }
    )
    await audit.record(
        session,
        "publishing.account.connected",
        workspace_id=record.workspace_id,
        actor_kind="member",
        actor_user_id=record.user_id,
        target_type="connected_account",
        target_id=account.id,
        details={"platform": platform, "external_id": external_id},
    )
    log.info("account connected", account_id=str(account.id), platform=platform)
    return account


def _sealed(vault: TokenVault, tokens: TokenSet) -> dict[str, object]:
    return {
        "access_token_enc": vault.seal(tokens.access_token),
        "refresh_token_enc": vault.seal(tokens.refresh_token),
        "key_id": vault.key_id,
        "access_expires_at": tokens.expires_at,
        "refresh_expires_at": tokens.refresh_expires_at,
    }


async def list_accounts(
    session: AsyncSession, workspace_id: uuid.UUID, platform: str | None = None
) -> list[ConnectedAccount]:
    if platform is not None and platform not in PLATFORMS:
        raise InvalidInput(f"platform must be one of {', '.join(PLATFORMS)}", field="platform")
    return list(await PublishingRepository(session).list_accounts(workspace_id, platform))


async def get_account(session: AsyncSession, workspace_id: uuid.UUID, account_id: uuid.UUID) -> ConnectedAccount:
    account = await PublishingRepository(session).get_account(workspace_id, account_id)
    if account is None:
        raise NotFound("no such account")
    return account


async def disconnect(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    account_id: uuid.UUID,
    *,
    platforms: PublishingPlatforms,
    actor: audit.Actor | None = None,
) -> ConnectedAccount:
    """Revoke at the platform (best effort: TikTok and Google both have a revoke endpoint),
    then delete the tokens; the account row stays (status `revoked`) for its publications."""
    repo = PublishingRepository(session)
    account = await get_account(session, workspace_id, account_id)
    vault = TokenVault()
    token = vault.open(account.refresh_token_enc) or vault.open(account.access_token_enc)
    revoke_error = None
    if token:
        try:
            oauth = platforms.tiktok_oauth() if account.platform == "tiktok" else platforms.google_oauth()
            await oauth.revoke(token)
        except ReelflowError as exc:  # the tokens are deleted anyway
            revoke_error = f"revoke at the platform failed: {exc.detail}"
    await repo.clear_tokens(account.id, "revoked", revoke_error)
    await audit.record(
        session,
        "publishing.account.disconnected",
        actor=actor,
        workspace_id=workspace_id,
        target_type="connected_account",
        target_id=account.id,
        details={"platform": account.platform, "revoke_error": revoke_error},
    )
    await session.flush()
    refreshed = await repo.account_by_id(account.id)
    assert refreshed is not None
    return refreshed


# --- tokens for jobs ------------------------------------------------------------------------


async def access_token(account_id: uuid.UUID, *, platforms: PublishingPlatforms) -> tuple[str, int]:
    """A usable access token and its version; refreshed first when it expires within 5 minutes."""
    async with session_scope() as session:
        account = await PublishingRepository(session).account_by_id(account_id)
    if account is None:
        raise NotFound("the account was deleted")
    _check_usable(account)
    expires = account.access_expires_at
    if expires is not None and expires - REFRESH_AHEAD <= utcnow():
        return await refresh(account_id, platforms=platforms, seen_version=account.token_version)
    token = TokenVault().open(account.access_token_enc)
    if not token:
        raise AccountUnavailable("the account has no access token: reconnect it")
    return token, account.token_version


def _check_usable(account: ConnectedAccount) -> None:
    if account.status != "active":
        reason = f": {account.last_error}" if account.last_error else ""
        raise AccountUnavailable(f"account is {account.status}{reason}; reconnect it", status_detail=account.status)


async def refresh(
    account_id: uuid.UUID, *, platforms: PublishingPlatforms, seen_version: int | None = None
) -> tuple[str, int]:
    """Refresh the account's tokens once, whoever else tries at the same time.

    The row is locked for the refresh (single flight). If its version moved past
    `seen_version`, someone refreshed already: their token is returned, no platform call.
    The write is a compare-and-set on the version, so an older token never overwrites a
    newer one. `invalid_grant` → status `expired` and `AccountUnavailable`."""
    vault = TokenVault()
    async with session_scope() as session:
        repo = PublishingRepository(session)
        account = await repo.account_by_id(account_id, lock=True)
        if account is None:
            raise NotFound("the account was deleted")
        _check_usable(account)
        if seen_version is not None and account.token_version != seen_version:
            token = vault.open(account.access_token_enc)
            if token:
                return token, account.token_version
        refresh_token = vault.open(account.refresh_token_enc)
        if not refresh_token:
            await repo.set_account_status(account.id, "expired", "no refresh token: reconnect the account")
            await session.commit()
            raise AccountUnavailable("account is expired: no refresh token; reconnect it")
        oauth = platforms.tiktok_oauth() if account.platform == "tiktok" else platforms.google_oauth()
        try:
            tokens = await oauth.refresh(refresh_token)
        except AuthExpired as exc:
            if not exc.reauth_required:
                raise
            await repo.set_account_status(account.id, "expired", f"refresh refused: {exc.detail}")
            await session.commit()
            log.warning("account expired", account_id=str(account.id), platform=account.platform)
            raise AccountUnavailable(f"account is expired ({exc.detail}); reconnect it") from None
        except Permanent as exc:
            await repo.set_account_status(account.id, "error", f"refresh failed: {exc.detail}")
            await session.commit()
            raise
        version = account.token_version
        if not await repo.store_tokens(account.id, version, _sealed(vault, tokens)):
            raise AssertionError("token version moved under a row lock")  # cannot happen: we hold the lock
        log.info("account tokens refreshed", account_id=str(account.id), platform=account.platform)
        return tokens.access_token, version + 1


async def refresh_due(*, platforms: PublishingPlatforms, ahead: timedelta = timedelta(minutes=75)) -> dict[str, int]:
    """Refresh every active account whose access token expires within `ahead` (hourly flow:
    Google tokens live 1 h, TikTok's 24 h)."""
    async with session_scope() as session:
        ids = await PublishingRepository(session).accounts_expiring(utcnow() + ahead)
    counts = {"refreshed": 0, "expired": 0, "failed": 0}
    for account_id in ids:
        try:
            await refresh(account_id, platforms=platforms)
            counts["refreshed"] += 1
        except AccountUnavailable:
            counts["expired"] += 1
        except ReelflowError as exc:
            counts["failed"] += 1
            log.warning("token refresh failed", account_id=str(account_id), error=exc.code)
    return counts
