"""TikTok Login Kit in the sandbox: consent redirect, code exchange (PKCE), refresh (rotating), revoke."""

import base64
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from litestar import Request, Response, get, post
from litestar.status_codes import HTTP_302_FOUND

from reelflow.sandbox.core import get_state
from reelflow.sandbox.tiktok_common import (
    ACCESS_TTL,
    CLIENT_TTL,
    CODE_TTL,
    REFRESH_TTL,
    _apps,
    _stable,
    oauth_fail,
)
from reelflow.sandbox.world import get_world, mix64

# --- OAuth ---------------------------------------------------------------------------------


@dataclass
class _Users:
    """open_id ↔ world creator for users who authorized through the sandbox."""

    by_open_id: dict[str, int] = field(default_factory=dict)


def open_id_for(creator_idx: int) -> str:
    return f"-000{mix64(creator_idx * 31 + 7):016x}"


def creator_for_open_id(open_id: str) -> Any:
    world = get_world()
    users = get_state().store("tiktok.users", _Users)
    idx = users.by_open_id.get(open_id)
    return world.creators[idx] if idx is not None else None


@get("/tiktok-www/v2/auth/authorize/", status_code=HTTP_302_FOUND, sync_to_thread=False)
def authorize(request: Request[Any, Any, Any]) -> Response[Any]:
    """Consent happens at once: redirect back with a one-time code (10 min)."""
    q = request.query_params
    redirect_uri = q.get("redirect_uri") or ""
    if q.get("client_key") not in _apps() or not redirect_uri:
        return Response({"error": "invalid_client"}, status_code=400)
    if q.get("response_type") != "code":
        return _redirect(redirect_uri, {"error": "unsupported_response_type", "state": q.get("state", "")})
    world = get_world()
    wanted = q.get("sandbox_user")
    creator = (
        world.by_handle.get(wanted or "") or world.creators[_stable(q.get("state", "")) % min(97, len(world.creators))]
    )
    open_id = open_id_for(creator.idx)
    get_state().store("tiktok.users", _Users).by_open_id[open_id] = creator.idx
    scopes = [s for s in (q.get("scope") or "user.info.basic").split(",") if s]
    code = get_state().tokens.issue(
        "code",
        open_id,
        ttl=CODE_TTL,
        scopes=scopes,
        client=q.get("client_key", ""),
        redirect_uri=redirect_uri,
        code_challenge=q.get("code_challenge"),
    )
    get_state().record("tiktok.oauth.authorized", open_id=open_id, scopes=scopes)
    return _redirect(redirect_uri, {"code": code.value, "scopes": ",".join(scopes), "state": q.get("state", "")})


def _redirect(uri: str, params: dict[str, str]) -> Response[Any]:
    sep = "&" if urlsplit(uri).query else "?"
    return Response(b"", status_code=302, headers={"Location": uri + sep + urlencode(params)})


@post("/tiktok/v2/oauth/token/", status_code=200)
async def oauth_token(request: Request[Any, Any, Any]) -> Response[Any]:
    if "x-www-form-urlencoded" not in request.headers.get("content-type", ""):
        return oauth_fail(400, "invalid_request", "Content-Type must be application/x-www-form-urlencoded.")
    form = dict(parse_qsl((await request.body()).decode()))
    key, secret = form.get("client_key", ""), form.get("client_secret", "")
    if _apps().get(key) != secret or not secret:
        return oauth_fail(401, "invalid_client", "Client key or secret is invalid.")
    tokens = get_state().tokens
    grant = form.get("grant_type")
    if grant == "client_credentials":
        token = tokens.issue(
            "access", f"app:{key}", ttl=CLIENT_TTL, prefix="clt.", scopes=["research.data.basic"], client=key
        )
        get_state().record("tiktok.oauth.client_token", client_key=key)
        return Response({"access_token": token.value, "expires_in": CLIENT_TTL, "token_type": "Bearer"})
    if grant == "authorization_code":
        code = tokens.check(form.get("code"), kind="code")
        if code is None or code.used or code.client != key:
            return oauth_fail(400, "invalid_grant", "Authorization code is expired or invalid.")
        if code.extra.get("redirect_uri") != form.get("redirect_uri"):
            return oauth_fail(400, "invalid_grant", "redirect_uri does not match the authorization request.")
        challenge = code.extra.get("code_challenge")
        if challenge and not _pkce_ok(form.get("code_verifier", ""), challenge):
            return oauth_fail(400, "invalid_grant", "code_verifier does not match code_challenge.")
        code.used = True
        return Response(_issue_user_tokens(code.subject, code.scopes, key))
    if grant == "refresh_token":
        old = tokens.check(form.get("refresh_token"), kind="refresh")
        if old is None or old.client != key:
            return oauth_fail(400, "invalid_grant", "Refresh token is invalid or expired.")
        old.revoked = True  # rotation: the old refresh token stops working
        get_state().record("tiktok.oauth.refreshed", open_id=old.subject)
        return Response(_issue_user_tokens(old.subject, old.scopes, key))
    return oauth_fail(400, "unsupported_grant_type", f"grant_type {grant!r} is not supported.")


def _pkce_ok(verifier: str, challenge: str) -> bool:
    digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    # TikTok's desktop flow documents a hex SHA-256; accept either encoding.
    return hmac.compare_digest(digest, challenge) or hmac.compare_digest(
        hashlib.sha256(verifier.encode()).hexdigest(), challenge
    )


def _issue_user_tokens(open_id: str, scopes: list[str], client: str) -> dict[str, Any]:
    tokens = get_state().tokens
    access = tokens.issue("access", open_id, ttl=ACCESS_TTL, prefix="act.", scopes=scopes, client=client)
    refresh = tokens.issue("refresh", open_id, ttl=REFRESH_TTL, prefix="rft.", scopes=scopes, client=client)
    return {
        "open_id": open_id,
        "scope": ",".join(scopes),
        "access_token": access.value,
        "expires_in": ACCESS_TTL,
        "refresh_token": refresh.value,
        "refresh_expires_in": REFRESH_TTL,
        "token_type": "Bearer",
    }


@post("/tiktok/v2/oauth/revoke/", status_code=200)
async def oauth_revoke(request: Request[Any, Any, Any]) -> Response[Any]:
    form = dict(parse_qsl((await request.body()).decode()))
    if _apps().get(form.get("client_key", "")) != form.get("client_secret"):
        return oauth_fail(401, "invalid_client", "Client key or secret is invalid.")
    state = get_state()
    token = state.tokens.get(form.get("token"))
    if token is not None:
        for other in state.tokens.all():  # revoking a user's token ends the whole grant
            if other.subject == token.subject and other.kind in ("access", "refresh"):
                other.revoked = True
        state.record("tiktok.oauth.revoked", open_id=token.subject)
    return Response({})


route_handlers = [authorize, oauth_token, oauth_revoke]
