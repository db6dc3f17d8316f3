"""Shared by the TikTok sandbox modules: envelopes, errors, token and rate checks."""

import hashlib
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar import Request, Response

from reelflow.sandbox import core
from reelflow.sandbox.core import get_state

PREFIX = "/tiktok"
ACCESS_TTL = 86_400  # user access tokens: 24 h
REFRESH_TTL = 365 * 86_400
CLIENT_TTL = 7_200  # client (research) tokens: 2 h
CODE_TTL = 600
MB = 1024 * 1024
MIN_CHUNK, MAX_CHUNK, MAX_FINAL_CHUNK = 5 * MB, 64 * MB, 128 * MB
PRIVACY_PUBLIC = ["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "SELF_ONLY"]

V2_STATUS_CODES = {
    400: "invalid_params",
    401: "access_token_invalid",
    403: "access_denied",
    404: "invalid_params",
    429: "rate_limit_exceeded",
    500: "internal_error",
    503: "internal_error",
    504: "timeout",
}


def render_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
    if code == "auth_expired":
        code = "access_token_invalid"
    vendor = str(code) if code else V2_STATUS_CODES.get(status, "internal_error")
    return status, {"data": {}, "error": {"code": vendor, "message": message, "log_id": core.log_id()}}


core.register_platform("/tiktok", render_error)
core.register_platform("/tiktok-www", render_error)
core.register_platform("/tiktok-upload", render_error)


def _stable(text: str) -> int:
    return int(hashlib.blake2b(text.encode(), digest_size=8).hexdigest(), 16)


def ok(data: Any) -> Response[Any]:
    return Response({"data": data, "error": {"code": "ok", "message": "", "log_id": core.log_id()}})


def fail(status: int, code: str, message: str) -> Response[Any]:
    return Response(render_error(status, code, message)[1], status_code=status)


def oauth_fail(status: int, error: str, description: str) -> Response[Any]:
    return Response({"error": error, "error_description": description, "log_id": core.log_id()}, status_code=status)


def _apps() -> dict[str, str]:
    return {
        core.credential("tiktok_client_key"): core.credential("tiktok_client_secret"),
        core.credential("tiktok_research_client_key"): core.credential("tiktok_research_client_secret"),
    }


# Documented per-token limits (requests per minute), enforced when config enforce_rate_limits is on.
PER_MINUTE = {
    "/tiktok/v2/user/info/": 600,
    "/tiktok/v2/video/list/": 600,
    "/tiktok/v2/video/query/": 600,
    "/tiktok/v2/post/publish/creator_info/query/": 20,
    "/tiktok/v2/post/publish/video/init/": 6,
    "/tiktok/v2/post/publish/inbox/video/init/": 6,
    "/tiktok/v2/post/publish/status/fetch/": 30,
}


@dataclass
class _Windows:
    hits: dict[tuple[str, str], list[float]] = field(default_factory=dict)


def _user_token(request: Request[Any, Any, Any], scope: str | None = None) -> core.Token | Response[Any]:
    state = get_state()
    token = state.tokens.check(core.bearer(request.headers.get("authorization")))
    if token is None:
        return fail(401, "access_token_invalid", "The access token is invalid or not found in the request.")
    if scope and scope not in token.scopes:
        return fail(401, "scope_not_authorized", f"The user did not authorize the scope required: {scope}.")
    path = request.url.path if request.url.path.endswith("/") else request.url.path + "/"
    limit = PER_MINUTE.get(path)
    if limit and state.config.get("enforce_rate_limits"):
        now = state.clock.now()
        window = state.store("tiktok.windows", _Windows).hits.setdefault((token.value, path), [])
        window[:] = [t for t in window if t > now - 60]  # a 1-minute sliding window
        if len(window) >= limit:
            return fail(429, "rate_limit_exceeded", "The API rate limit was exceeded.")
        window.append(now)
    return token


async def _json(request: Request[Any, Any, Any]) -> dict[str, Any] | None:
    try:
        body = msgspec.json.decode(await request.body())
    except msgspec.DecodeError:
        return None
    return body if isinstance(body, dict) else None


def _fields(request: Request[Any, Any, Any], default: list[str]) -> list[str]:
    raw = request.query_params.get("fields")
    return [f.strip() for f in raw.split(",") if f.strip()] if raw else default


def _avatar(request: Request[Any, Any, Any], handle: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/sandbox/media/avatar.jpg?u={handle}"
