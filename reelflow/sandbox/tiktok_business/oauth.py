"""Sandbox TikTok Business: OAuth (portal, auth codes, tokens), advertisers and identities."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import Parameter
from litestar.response import Redirect

from reelflow.sandbox import core
from reelflow.sandbox.tiktok_business.base import (
    API,
    AUTH_CODE_TTL,
    PREFIX,
    TOKEN_TTL,
    BizError,
    BusinessState,
    _advertiser,
    _advertiser_ids,
    _json_body,
    _json_param,
    _ok,
    _page,
    _require_token,
    _required,
    state,
)

# --- OAuth ------------------------------------------------------------------------------------------


def _issue_code(st: BusinessState, advertiser_ids: list[str]) -> str:
    code = core.get_state().tokens.issue(
        "code", st.app_id, ttl=AUTH_CODE_TTL.total_seconds(), prefix="sbxauth_", client=st.app_id,
        advertiser_ids=advertiser_ids,
    )  # fmt: skip
    return code.value


@get(f"{PREFIX}/portal/auth", sync_to_thread=False)
def portal_auth(
    app_id: str, redirect_uri: str, oauth_state: str = Parameter(query="state", default="")
) -> Response[Any]:
    """The advertiser consents at once (to a new sandbox advertiser) and is sent back."""
    st = state()
    if app_id != st.app_id:
        raise BizError(40101, "Invalid app_id.")
    code = _issue_code(st, [st.ensure_advertiser()])
    separator = "&" if "?" in redirect_uri else "?"
    return Redirect(redirect_uri + separator + urlencode({"auth_code": code, "code": code, "state": oauth_state}))


@post(f"{PREFIX}/_sandbox/auth_code", sync_to_thread=False, status_code=200)
def issue_auth_code(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Test helper: an auth_code for ``advertiser_ids`` (created when new, in ``currency`` and
    ``timezone``; ``count`` new ones when none are named), without a browser."""
    st = state()
    data = data or {}
    currency = str(data.get("currency") or "USD").upper()
    timezone = str(data.get("timezone") or "Etc/GMT")
    count = int(data.get("count") or 1)
    wanted = [str(a) for a in data.get("advertiser_ids") or []] or [
        st.ensure_advertiser(currency=currency, timezone=timezone) for _ in range(count)
    ]
    for advertiser_id in wanted:
        st.ensure_advertiser(advertiser_id, currency=currency, timezone=timezone)
    return {"auth_code": _issue_code(st, wanted), "advertiser_ids": wanted}


@post(f"{PREFIX}{API}/oauth2/access_token/", status_code=200)
async def access_token(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    body = await _json_body(request)
    _required(body, "app_id", "secret", "auth_code")
    if str(body["app_id"]) != st.app_id or body["secret"] != st.secret:
        raise BizError(40101, "Invalid partner: app_id or secret is wrong.")
    tokens = core.get_state().tokens
    code = tokens.check(str(body["auth_code"]), kind="code")
    if code is None or code.used or code.client != st.app_id:
        raise BizError(40110, "Auth code is invalid or has expired.")
    code.used = True  # an auth_code works once
    advertiser_ids = [str(a) for a in code.extra.get("advertiser_ids", [])]
    token = tokens.issue(
        "access", st.app_id, ttl=TOKEN_TTL.total_seconds(), prefix="sbxbiz_", client=st.app_id,
        advertiser_ids=advertiser_ids,
    )  # fmt: skip
    st.record("authorize", "token", token.value[-6:], {"advertiser_ids": advertiser_ids})
    return _ok(
        {
            "access_token": token.value,
            "advertiser_ids": advertiser_ids,
            "scope": [1, 2, 3, 4, 10, 11],
        }
    )


@get(f"{PREFIX}{API}/oauth2/advertiser/get/", sync_to_thread=False)
def advertiser_get(request: Request[Any, Any, Any], app_id: str = "", secret: str = "") -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    if app_id != st.app_id or secret != st.secret:
        raise BizError(40101, "Invalid partner: app_id or secret is wrong.")
    items = [
        {"advertiser_id": a, "advertiser_name": st.advertisers[a]["name"]}
        for a in _advertiser_ids(token)
        if a in st.advertisers
    ]
    return _ok({"list": items})


@get(f"{PREFIX}{API}/advertiser/info/", sync_to_thread=False)
def advertiser_info(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    ids = _json_param(request, "advertiser_ids")
    if not isinstance(ids, list) or not ids:
        raise BizError(40002, "advertiser_ids: Missing data for required field.")
    if len(ids) > 100:
        raise BizError(40011, "advertiser_ids: At most 100 ids.")
    return _ok({"list": [dict(st.advertisers[_advertiser(token, st, a)]) for a in ids]})


@get(f"{PREFIX}{API}/identity/get/", sync_to_thread=False)
def identity_get(request: Request[Any, Any, Any], advertiser_id: str = "", identity_type: str = "") -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    advertiser = _advertiser(token, st, advertiser_id)
    if identity_type and identity_type not in {"CUSTOMIZED_USER", "AUTH_CODE", "TT_USER", "BC_AUTH_TT"}:
        raise BizError(40002, "identity_type: Invalid enum value.")
    items = [i for i in st.identities.get(advertiser, []) if not identity_type or i["identity_type"] == identity_type]
    page = _page(items, request, max_size=100)
    return _ok({"identity_list": page["list"], "page_info": page["page_info"]})


@post(f"{PREFIX}/_sandbox/revoke", sync_to_thread=False, status_code=200)
def revoke_authorization(data: dict[str, Any]) -> dict[str, Any]:
    """Test helper: the advertiser withdraws the app's authorization (the token → 40105)."""
    revoked = core.get_state().tokens.revoke(str(data.get("access_token") or ""))
    return {"revoked": revoked}
