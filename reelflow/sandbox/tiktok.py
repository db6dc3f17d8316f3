"""TikTok for Developers v2 in the sandbox: OAuth, Research, Display, Content Posting.

Paths mirror the real hosts under prefixes: `/tiktok` = open.tiktokapis.com,
`/tiktok-www` = www.tiktok.com (authorize page, `/t/...` short links), `/tiktok-upload` =
the upload host of `upload_url`. Envelopes: `{"data": ..., "error": {"code", "message",
"log_id"}}` (code "ok" on success); OAuth answers flat `{error, error_description, log_id}`.

Events recorded (GET /sandbox/events): `tiktok.oauth.*`, `tiktok.publish.init`,
`tiktok.upload.chunk`, `tiktok.publish.complete`, `tiktok.publish.failed`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import msgspec
from litestar import Request, Response, get, post, put
from litestar.status_codes import HTTP_302_FOUND

from reelflow.sandbox import core
from reelflow.sandbox.core import get_state
from reelflow.sandbox.world import Video, from_short_code, get_world, mix64, short_code

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


# --- Research API --------------------------------------------------------------------------

RESEARCH_FIELDS = [
    "id",
    "video_description",
    "create_time",
    "region_code",
    "share_count",
    "view_count",
    "like_count",
    "comment_count",
    "music_id",
    "hashtag_names",
    "username",
    "favorites_count",
    "video_duration",
]
RESEARCH_DAILY_REQUESTS = 1000
_DATE = re.compile(r"^\d{8}$")


@dataclass
class _Search:
    ids: list[int]
    expires_at: float


@dataclass
class _Searches:
    by_id: dict[str, _Search] = field(default_factory=dict)
    warmups: dict[str, int] = field(default_factory=dict)


def _client_token(request: Request[Any, Any, Any]) -> core.Token | Response[Any]:
    token = get_state().tokens.check(core.bearer(request.headers.get("authorization")))
    if token is None:
        return fail(401, "access_token_invalid", "The access token is invalid or not found in the request.")
    if "research.data.basic" not in token.scopes:
        return fail(401, "scope_not_authorized", "The token is not authorized for research.data.basic.")
    state = get_state()
    if state.config.get("enforce_rate_limits"):  # 1,000 requests per app per UTC day
        day = state.clock.now_dt().strftime("%Y%m%d")
        counts: dict[tuple[str, str], int] = state.store("tiktok.research_quota", dict)
        used = counts.get((token.client, day), 0)
        if used >= RESEARCH_DAILY_REQUESTS:
            return fail(429, "daily_quota_limit_exceeded", "Daily quota limit exceeded; it resets at 00:00 UTC.")
        counts[(token.client, day)] = used + 1
    return token


def _parse_date(value: Any) -> datetime | None:
    if not isinstance(value, str) or not _DATE.match(value):
        return None
    try:
        return datetime.strptime(value, "%Y%m%d").replace(tzinfo=UTC)
    except ValueError:
        return None


@post("/tiktok/v2/research/video/query/", status_code=200)
async def research_video_query(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _client_token(request)
    if isinstance(token, Response):
        return token
    body = await _json(request)
    if body is None:
        return fail(400, "invalid_params", "The request body is not valid JSON.")
    state = get_state()
    searches = state.store("tiktok.searches", _Searches)
    max_count = body.get("max_count", 20)
    if not isinstance(max_count, int) or not 1 <= max_count <= 100:
        return fail(400, "invalid_params", "max_count must be between 1 and 100.")
    cursor = int(body.get("cursor") or 0)
    search_id = body.get("search_id")
    now = state.clock.now()
    if search_id:
        search = searches.by_id.get(str(search_id))
        if search is None or search.expires_at <= now:
            return fail(400, "invalid_params", f"Search Id {search_id} is invalid or expired")
    else:
        start, end = _parse_date(body.get("start_date")), _parse_date(body.get("end_date"))
        if start is None or end is None:
            return fail(400, "invalid_params", "start_date and end_date are required (YYYYMMDD).")
        if end < start or end - start > timedelta(days=30):
            return fail(400, "invalid_params", "end_date must be no more than 30 days after start_date.")
        query = body.get("query")
        if not isinstance(query, dict) or not any(query.get(k) for k in ("and", "or", "not")):
            return fail(400, "invalid_params", "query needs at least one of and, or, not.")
        key = msgspec.json.encode(body).decode()
        if searches.warmups.get(key, 0) < int(state.config.get("research_warmup_failures", 0)):
            searches.warmups[key] = searches.warmups.get(key, 0) + 1
            return fail(500, "internal_error", "Search is being prepared, please retry.")
        try:
            ids = _run_query(query, start, end + timedelta(days=1), now)
        except ValueError as exc:
            return fail(400, "invalid_params", str(exc))
        search_id = str(7_300_000_000_000_000_000 + secrets.randbelow(10**17))
        search = searches.by_id[search_id] = _Search(ids, now + float(state.config["research_search_ttl_s"]))
    fields = _fields(request, RESEARCH_FIELDS)
    world = get_world()
    videos = []
    for vid in search.ids[cursor : cursor + max_count]:
        stats = world.stats(vid, now)
        if stats is None:
            continue  # deleted or private since: the page comes back short
        videos.append(_research_video(vid, stats, fields))
    next_cursor = cursor + max_count
    return ok(
        {"videos": videos, "cursor": next_cursor, "has_more": next_cursor < len(search.ids), "search_id": search_id}
    )


_STAT_FIELDS = {
    "view_count": "views",
    "like_count": "likes",
    "comment_count": "comments",
    "share_count": "shares",
    "favorites_count": "saves",
}


def _research_video(vid: int, stats: Any, fields: list[str]) -> dict[str, Any]:
    """Only the requested fields; a stats-only request never builds the caption."""
    world = get_world()
    out: dict[str, Any] = {}
    video: Video | None = None
    for name in fields:
        if name == "id":
            out["id"] = vid
        elif name == "create_time":
            out[name] = vid >> 32
        elif name in _STAT_FIELDS:
            out[name] = getattr(stats, _STAT_FIELDS[name])
        elif name == "username":
            out[name] = world.creator_for(vid).handle
        else:
            video = video or world.video(vid)
            value = _video_field(video, name)
            if value is not _MISSING:
                out[name] = value
    return out


_MISSING = object()


def _video_field(video: Video, name: str) -> Any:
    simple = {
        "video_description": video.description,
        "region_code": video.region,
        "music_id": video.music_id,
        "hashtag_names": video.hashtags,
        "video_duration": video.duration,
        "effect_ids": [],
        "playlist_id": 0,
        "voice_to_text": "",
        "is_stem_verified": False,
        "sticker_info_list": [],
        "effect_info_list": [],
        "video_mention_list": [],
        "video_label": {},
        "video_tag": {},
    }
    if name == "hashtag_info_list":
        return [{"hashtag_id": _stable(t) % 10**10, "hashtag_description": ""} for t in video.hashtags]
    return simple.get(name, _MISSING)


_INDEXED = {
    "keyword": "by_keyword",
    "hashtag_name": "by_hashtag",
    "username": "by_username",
    "region_code": "by_region",
}


def _run_query(query: dict[str, Any], start: datetime, end: datetime, now: float) -> list[int]:
    world = get_world()
    lo, hi = start.timestamp(), min(end.timestamp(), now + 1)
    ands = query.get("and") or []
    ors = query.get("or") or []
    nots = query.get("not") or []
    for cond in [*ands, *ors, *nots]:
        if not isinstance(cond, dict) or not cond.get("field_name") or not isinstance(cond.get("field_values"), list):
            raise ValueError("each condition needs field_name, operation and field_values")
        if cond.get("operation", "EQ") not in ("EQ", "IN", "GT", "GTE", "LT", "LTE"):
            raise ValueError(f"unknown operation {cond.get('operation')!r}")
    # candidates: explicit ids, else an index lookup for one indexed AND condition, else the window
    candidates: list[int] | None = None
    for cond in ands:
        if cond["field_name"] == "video_id" and cond.get("operation", "EQ") in ("EQ", "IN"):
            candidates = sorted({int(v) for v in cond["field_values"] if str(v).isdigit()}, reverse=True)
            break
    if candidates is None:
        for cond in ands:
            attr = _INDEXED.get(cond["field_name"])
            if attr and cond.get("operation", "EQ") in ("EQ", "IN"):
                table = getattr(world.index, attr)
                found: set[int] = set()
                for value in cond["field_values"]:
                    found.update(table.get(str(value).lower().lstrip("#") if attr != "by_region" else str(value), []))
                candidates = sorted(found, reverse=True)
                break
    by_ids = candidates is not None and any(c["field_name"] == "video_id" for c in ands)
    if candidates is None:
        candidates = world.ids_between(lo, hi)
    # conditions still to check per video (an id list already satisfies its video_id condition)
    rest = [c for c in ands if not (by_ids and c["field_name"] == "video_id")]
    out = []
    for vid in candidates:
        created = vid >> 32
        if not lo <= created < hi:
            continue
        if not (rest or ors or nots):
            out.append(vid)
            continue
        video = world.video(vid)
        if rest and not all(_match(video, c, now) for c in rest):
            continue
        if ors and not any(_match(video, c, now) for c in ors):
            continue
        if nots and any(_match(video, c, now) for c in nots):
            continue
        out.append(vid)
    return out


def _match(video: Video, cond: dict[str, Any], now: float) -> bool:
    name, op, values = cond["field_name"], cond.get("operation", "EQ"), [str(v) for v in cond["field_values"]]
    if name == "keyword":
        text = video.description.lower()
        return any(v.lower() in text for v in values)
    if name == "hashtag_name":
        return any(v.lower().lstrip("#") in video.hashtags for v in values)
    if name == "username":
        return video.author.handle in values
    if name == "region_code":
        return video.region in {v.upper() for v in values}
    if name == "video_id":
        return str(video.id) in values
    if name == "music_id":
        return str(video.music_id) in values
    if name == "effect_id":
        return False
    if name == "video_length":
        d = video.duration
        length = "SHORT" if d < 15 else "MID" if d <= 60 else "LONG" if d <= 300 else "EXTRA_LONG"
        return length in values
    if name == "create_date":
        day = datetime.fromtimestamp(video.create_time, UTC).strftime("%Y%m%d")
        return _compare(day, op, values)
    if name in ("view_count", "comment_count"):
        stats = get_world().stats(video.id, now)
        if stats is None:
            return False
        value = stats.views if name == "view_count" else stats.comments
        return _compare(value, op, [int(v) for v in values])
    raise ValueError(f"unknown field_name {name!r}")


def _compare(value: Any, op: str, values: list[Any]) -> bool:
    if op in ("EQ", "IN"):
        return value in values
    ref = values[0]
    return {"GT": value > ref, "GTE": value >= ref, "LT": value < ref, "LTE": value <= ref}[op]


RESEARCH_USER_FIELDS = [
    "display_name",
    "bio_description",
    "avatar_url",
    "is_verified",
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
    "bio_url",
]


@post("/tiktok/v2/research/user/info/", status_code=200)
async def research_user_info(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _client_token(request)
    if isinstance(token, Response):
        return token
    body = await _json(request) or {}
    world = get_world()
    creator = world.by_handle.get(str(body.get("username", "")))
    if creator is None:
        return fail(400, "invalid_params", f"User {body.get('username')!r} does not exist or is private.")
    world.index  # noqa: B018 - builds the index, which also counts each creator's videos
    full = {
        "display_name": creator.nickname,
        "bio_description": creator.bio,
        "avatar_url": _avatar(request, creator.handle),
        "is_verified": creator.verified,
        "follower_count": creator.followers,
        "following_count": creator.following,
        "likes_count": creator.likes,
        "video_count": creator.video_count,
        "bio_url": creator.bio_url or "",
    }
    return ok({k: full[k] for k in _fields(request, RESEARCH_USER_FIELDS) if k in full})


def _avatar(request: Request[Any, Any, Any], handle: str) -> str:
    return f"{str(request.base_url).rstrip('/')}/sandbox/media/avatar.jpg?u={handle}"


# --- Display API ---------------------------------------------------------------------------

DISPLAY_VIDEO_FIELDS = [
    "id",
    "create_time",
    "cover_image_url",
    "share_url",
    "video_description",
    "duration",
    "height",
    "width",
    "title",
    "embed_html",
    "embed_link",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
]
USER_FIELDS_BY_SCOPE = {
    "user.info.basic": {"open_id", "union_id", "avatar_url", "avatar_url_100", "avatar_large_url", "display_name"},
    "user.info.profile": {"bio_description", "profile_deep_link", "is_verified", "username"},
    "user.info.stats": {"follower_count", "following_count", "likes_count", "video_count"},
}


@get("/tiktok/v2/user/info/", sync_to_thread=False)
def display_user_info(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _user_token(request)
    if isinstance(token, Response):
        return token
    creator = creator_for_open_id(token.subject)
    if creator is None:
        return fail(401, "access_token_invalid", "Unknown user.")
    fields = _fields(request, ["open_id", "display_name", "avatar_url"])
    for scope, names in USER_FIELDS_BY_SCOPE.items():
        if names.intersection(fields) and scope not in token.scopes:
            return fail(401, "scope_not_authorized", f"The user did not authorize the scope required: {scope}.")
    videos = _user_video_ids(creator, token.subject)
    full = {
        "open_id": token.subject,
        "union_id": f"u{token.subject}",
        "avatar_url": _avatar(request, creator.handle),
        "avatar_url_100": _avatar(request, creator.handle),
        "avatar_large_url": _avatar(request, creator.handle),
        "display_name": creator.nickname,
        "bio_description": creator.bio,
        "profile_deep_link": f"https://vm.tiktok.com/{creator.handle}",
        "is_verified": creator.verified,
        "username": creator.handle,
        "follower_count": creator.followers,
        "following_count": creator.following,
        "likes_count": creator.likes,
        "video_count": len(videos),
    }
    return ok({"user": {k: full[k] for k in fields if k in full}})


def _user_video_ids(creator: Any, open_id: str) -> list[int]:
    now = get_state().clock.now()
    world = get_world()
    own = [vid for vid in world.videos_of(creator, now) if world.stats(vid, now) is not None]
    posted = [
        p.post_id
        for p in _publishes().by_id.values()
        if p.open_id == open_id and p.post_id and (p.post_id >> 32) <= now
    ]
    return sorted(set(own) | set(posted), reverse=True)


def _display_video(request: Request[Any, Any, Any], vid: int, fields: list[str]) -> dict[str, Any] | None:
    world = get_world()
    now = get_state().clock.now()
    stats = world.stats(vid, now)
    if stats is None:
        return None
    video = world.video(vid)
    share = f"https://www.tiktok.com/@{video.author.handle}/video/{vid}"
    title = video.description.split(" #")[0]
    full = {
        "id": str(vid),
        "create_time": video.create_time,
        "cover_image_url": f"{str(request.base_url).rstrip('/')}/sandbox/media/cover.jpg?v={vid}",
        "share_url": share,
        "video_description": video.description[:150],
        "duration": video.duration,
        "height": video.height,
        "width": video.width,
        "title": title,
        "embed_html": f'<blockquote class="tiktok-embed" cite="{share}"></blockquote>',
        "embed_link": f"https://www.tiktok.com/player/v1/{vid}",
        "like_count": stats.likes,
        "comment_count": stats.comments,
        "share_count": stats.shares,
        "view_count": stats.views,
    }
    return {k: full[k] for k in fields if k in full}


@post("/tiktok/v2/video/list/", status_code=200)
async def display_video_list(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _user_token(request, "video.list")
    if isinstance(token, Response):
        return token
    body = await _json(request) or {}
    max_count = body.get("max_count", 10)
    if not isinstance(max_count, int) or not 1 <= max_count <= 20:
        return fail(400, "invalid_params", "max_count must be between 1 and 20.")
    cursor_ms = body.get("cursor")
    creator = creator_for_open_id(token.subject)
    ids = _user_video_ids(creator, token.subject)
    if cursor_ms:
        ids = [v for v in ids if (v >> 32) * 1000 < int(cursor_ms)]
    page = ids[:max_count]
    fields = _fields(request, ["id", "create_time", "title"])
    videos = [v for v in (_display_video(request, vid, fields) for vid in page) if v is not None]
    next_cursor = (page[-1] >> 32) * 1000 if page else int(cursor_ms or 0)
    return ok({"videos": videos, "cursor": next_cursor, "has_more": len(ids) > max_count})


@post("/tiktok/v2/video/query/", status_code=200)
async def display_video_query(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _user_token(request, "video.list")
    if isinstance(token, Response):
        return token
    body = await _json(request) or {}
    ids = ((body.get("filters") or {}).get("video_ids")) or []
    if not isinstance(ids, list) or not 1 <= len(ids) <= 20:
        return fail(400, "invalid_params", "filters.video_ids must hold 1 to 20 ids.")
    creator = creator_for_open_id(token.subject)
    own = set(_user_video_ids(creator, token.subject))
    fields = _fields(request, ["id", "title"])
    videos = []
    for raw in ids:
        vid = int(raw) if str(raw).isdigit() else -1
        if vid in own:
            item = _display_video(request, vid, fields)
            if item is not None:
                videos.append(item)
    return ok({"videos": videos, "cursor": 0, "has_more": False})


# --- Content Posting API -------------------------------------------------------------------


@dataclass
class _Publish:
    publish_id: str
    open_id: str
    source: str
    title: str
    privacy_level: str
    video_size: int = 0
    chunk_size: int = 0
    total_chunk_count: int = 0
    received: int = 0
    upload_id: str = ""
    upload_expires_at: float = 0.0
    video_url: str = ""
    created_at: float = 0.0
    ready_at: float | None = None
    fail_reason: str | None = None
    post_id: int | None = None
    completed_recorded: bool = False
    inbox: bool = False


@dataclass
class _PublishStore:
    by_id: dict[str, _Publish] = field(default_factory=dict)
    by_upload: dict[str, str] = field(default_factory=dict)
    counter: int = 0


def _publishes() -> _PublishStore:
    return get_state().store("tiktok.publishes", _PublishStore)


@post("/tiktok/v2/post/publish/creator_info/query/", status_code=200)
async def creator_info(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _user_token(request, "video.publish")
    if isinstance(token, Response):
        return token
    creator = creator_for_open_id(token.subject)
    return ok(
        {
            "creator_avatar_url": _avatar(request, creator.handle),
            "creator_username": creator.handle,
            "creator_nickname": creator.nickname,
            "privacy_level_options": PRIVACY_PUBLIC,
            "comment_disabled": False,
            "duet_disabled": False,
            "stitch_disabled": creator.idx % 5 == 0,
            "max_video_post_duration_sec": 600,
        }
    )


def chunk_rules_error(size: int, chunk: int, count: int) -> str | None:
    """The Media Transfer Guide's rules; None when the plan is valid."""
    if size <= 0:
        return "video_size must be positive"
    if size < MIN_CHUNK:
        return None if chunk == size and count == 1 else "files under 5 MB must be sent whole"
    if size <= MAX_CHUNK and chunk == size and count == 1:
        return None
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        return "chunk size is invalid (5 MB to 64 MB)"
    if count != size // chunk or not 1 <= count <= 1000:
        return "total_chunk_count must be floor(video_size / chunk_size), 1 to 1000"
    if size - chunk * (count - 1) > MAX_FINAL_CHUNK:
        return "the final chunk may not exceed 128 MB"
    return None


@post("/tiktok/v2/post/publish/video/init/", status_code=200)
async def publish_video_init(request: Request[Any, Any, Any]) -> Response[Any]:
    """Direct Post: post_info (privacy required) and source_info."""
    return await _init(request, inbox=False)


@post("/tiktok/v2/post/publish/inbox/video/init/", status_code=200)
async def publish_inbox_init(request: Request[Any, Any, Any]) -> Response[Any]:
    """Upload to the creator's inbox (draft): source_info only; the user posts from the app."""
    return await _init(request, inbox=True)


async def _init(request: Request[Any, Any, Any], *, inbox: bool) -> Response[Any]:
    token = _user_token(request, "video.upload" if inbox else "video.publish")
    if isinstance(token, Response):
        return token
    body = await _json(request)
    if body is None:
        return fail(400, "invalid_param", "The request body is not valid JSON.")
    post_info = body.get("post_info") or {}
    source_info = body.get("source_info") or {}
    privacy = "SELF_ONLY" if inbox else post_info.get("privacy_level")
    if privacy not in PRIVACY_PUBLIC:
        return fail(403, "privacy_level_option_mismatch", "privacy_level is not one of privacy_level_options.")
    title = str(post_info.get("title", ""))
    if len(title.encode("utf-16-le")) // 2 > 2200:
        return fail(400, "invalid_param", "title exceeds 2200 UTF-16 runes.")
    state = get_state()
    store = _publishes()
    source = source_info.get("source")
    now = state.clock.now()
    base = str(request.base_url).rstrip("/")
    store.counter += 1
    if source == "FILE_UPLOAD":
        try:
            size, chunk, count = (int(source_info[k]) for k in ("video_size", "chunk_size", "total_chunk_count"))
        except (KeyError, TypeError, ValueError):
            return fail(400, "invalid_param", "video_size, chunk_size and total_chunk_count are required.")
        problem = chunk_rules_error(size, chunk, count)
        if problem:
            return fail(400, "invalid_param", problem)
        publish_id = f"{'v_inbox_file' if inbox else 'v_pub_file'}~v2-1.{secrets.token_hex(12)}"
        upload_id = secrets.token_hex(16)
        pub = _Publish(
            publish_id,
            token.subject,
            source,
            title,
            privacy,
            size,
            chunk,
            count,
            0,
            upload_id,
            now + 3600,
            created_at=now,
        )
        store.by_upload[upload_id] = publish_id
        upload_url = f"{base}/tiktok-upload/video/?upload_id={upload_id}&upload_token={secrets.token_hex(8)}"
        data = {"publish_id": publish_id, "upload_url": upload_url}
    elif source == "PULL_FROM_URL":
        url = str(source_info.get("video_url", ""))
        parts = urlsplit(url)
        if parts.netloc != urlsplit(base).netloc or not parts.path.startswith("/sandbox/media/"):
            return fail(403, "url_ownership_unverified", "The domain or URL prefix of video_url is not verified.")
        publish_id = f"{'v_inbox_url' if inbox else 'v_pub_url'}~v2-1.{secrets.token_hex(12)}"
        pub = _Publish(publish_id, token.subject, source, title, privacy, video_url=url, created_at=now)
        from reelflow.sandbox.app import MEDIA_DIR

        media = MEDIA_DIR / parts.path.rsplit("/", 1)[-1]
        if not media.is_file():
            pub.fail_reason = "video_pull_failed"
        pub.video_size = media.stat().st_size if media.is_file() else 0
        pub.ready_at = now + float(state.config["tiktok_processing_s"])
        data = {"publish_id": publish_id}
    else:
        return fail(400, "invalid_param", "source_info.source must be FILE_UPLOAD or PULL_FROM_URL.")
    pub.inbox = inbox
    marker = re.search(r"\[fail:([a-z_]+)\]", title)
    if marker:
        pub.fail_reason = marker.group(1)
    store.by_id[publish_id] = pub
    state.record(
        "tiktok.publish.init", publish_id=publish_id, open_id=token.subject, source=source, title=title, inbox=inbox
    )
    return ok(data)


_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@put("/tiktok-upload/video/", status_code=201)
async def upload_chunk(request: Request[Any, Any, Any]) -> Response[Any]:
    store = _publishes()
    publish_id = store.by_upload.get(request.query_params.get("upload_id", ""))
    pub = store.by_id.get(publish_id or "")
    state = get_state()
    if pub is None:
        return fail(404, "invalid_params", "No upload task for this upload_id.")
    if pub.upload_expires_at <= state.clock.now():
        return fail(403, "access_denied", "upload_url has expired.")
    if request.headers.get("content-type", "") not in ("video/mp4", "video/quicktime", "video/webm"):
        return fail(400, "invalid_params", "Content-Type must be video/mp4, video/quicktime or video/webm.")
    match = _RANGE.match(request.headers.get("content-range", ""))
    body = await request.body()
    if not match:
        return fail(400, "invalid_params", "Content-Range must be 'bytes {first}-{last}/{total}'.")
    first, last, total = (int(g) for g in match.groups())
    if total != pub.video_size or last - first + 1 != len(body) or last >= total:
        return fail(400, "invalid_params", "Content-Range or Content-Length does not match the upload.")
    if first != pub.received:
        return Response(
            render_error(416, "invalid_params", "Content-Range does not match the upload progress.")[1],
            status_code=416,
            headers={"Content-Range": f"bytes 0-{pub.received - 1}/{total}" if pub.received else f"bytes */{total}"},
        )
    index = first // pub.chunk_size if pub.chunk_size else 0
    final = index == pub.total_chunk_count - 1
    expected = (total - first) if final else pub.chunk_size
    if len(body) != expected:
        return fail(400, "invalid_params", f"chunk {index} must be {expected} bytes.")
    pub.received = last + 1
    state.record(
        "tiktok.upload.chunk",
        publish_id=pub.publish_id,
        first=first,
        last=last,
        total=total,
        sha256=hashlib.sha256(body).hexdigest(),
    )
    headers = {"Content-Range": f"bytes 0-{last}/{total}"}
    if pub.received < total:
        return Response(b"", status_code=206, headers=headers)
    pub.ready_at = state.clock.now() + float(state.config["tiktok_processing_s"])
    return Response(b"", status_code=201, headers=headers)


@post("/tiktok/v2/post/publish/status/fetch/", status_code=200)
async def publish_status(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _user_token(request)
    if isinstance(token, Response):
        return token
    if not {"video.publish", "video.upload"} & set(token.scopes):
        return fail(401, "scope_not_authorized", "video.publish or video.upload is required.")
    body = await _json(request) or {}
    pub = _publishes().by_id.get(str(body.get("publish_id", "")))
    if pub is None or pub.open_id != token.subject:
        return fail(400, "invalid_params", "publish_id is invalid.")
    return ok(_status_view(pub))


def _status_view(pub: _Publish) -> dict[str, Any]:
    state = get_state()
    now = state.clock.now()
    data: dict[str, Any] = {}
    if pub.source == "FILE_UPLOAD":
        data["uploaded_bytes"] = pub.received
    else:
        data["downloaded_bytes"] = pub.video_size if pub.ready_at and now >= pub.ready_at else 0
    if pub.ready_at is None or now < pub.ready_at:
        data["status"] = "PROCESSING_UPLOAD" if pub.source == "FILE_UPLOAD" else "PROCESSING_DOWNLOAD"
        return data
    if pub.fail_reason:
        data["status"] = "FAILED"
        data["fail_reason"] = pub.fail_reason
        if not pub.completed_recorded:
            pub.completed_recorded = True
            state.record("tiktok.publish.failed", publish_id=pub.publish_id, reason=pub.fail_reason)
        return data
    if pub.inbox:  # the creator finishes the post in the app
        data["status"] = "SEND_TO_USER_INBOX"
        if not pub.completed_recorded:
            pub.completed_recorded = True
            state.record("tiktok.publish.inbox_delivered", publish_id=pub.publish_id)
        return data
    data["status"] = "PUBLISH_COMPLETE"
    if pub.post_id is None:
        creator = creator_for_open_id(pub.open_id)
        world = get_world()
        store = _publishes()
        pub.post_id = world.make_id(int(pub.ready_at), creator.idx, 4000 + store.counter % 96)
    if not pub.completed_recorded:
        pub.completed_recorded = True
        state.record("tiktok.publish.complete", publish_id=pub.publish_id, post_id=str(pub.post_id))
    # the public id appears only after moderation (a few simulated seconds later)
    moderated = now >= pub.ready_at + 5 and pub.privacy_level == "PUBLIC_TO_EVERYONE"
    data["publicaly_available_post_id"] = [pub.post_id] if moderated else []
    return data


# --- www.tiktok.com short links --------------------------------------------------------------


@get("/tiktok-www/t/{code:str}", sync_to_thread=False)
def short_link(code: str) -> Response[Any]:
    vid = from_short_code(code.strip("/"))
    if vid is None or vid <= 0:
        return Response(b"Not found", status_code=404)
    video = get_world().video(vid)
    return Response(
        b"", status_code=301, headers={"Location": f"https://www.tiktok.com/@{video.author.handle}/video/{vid}"}
    )


# --- world samples (for tests and demos) ---------------------------------------------------


@get("/sandbox/world/videos", sync_to_thread=False)
def world_videos(request: Request[Any, Any, Any], limit: int = 20, hashtag: str | None = None) -> list[dict[str, Any]]:
    world = get_world()
    now = get_state().clock.now()
    ids = world.index.by_hashtag.get(hashtag, []) if hashtag else world.index.ids_desc
    out = []
    for vid in ids:
        stats = world.stats(vid, now)
        if stats is None:
            continue
        video = world.video(vid)
        out.append(
            {
                "id": str(vid),
                "username": video.author.handle,
                "description": video.description,
                "hashtags": video.hashtags,
                "create_time": video.create_time,
                "short_code": short_code(vid),
                "views": stats.views,
            }
        )
        if len(out) >= limit:
            break
    return out


@get("/sandbox/world/creators", sync_to_thread=False)
def world_creators(limit: int = 20, topic: str | None = None) -> list[dict[str, Any]]:
    world = get_world()
    world.index  # noqa: B018 - counts videos per creator
    picked = [c for c in world.creators if topic is None or c.topic == topic][:limit]
    return [
        {
            "handle": c.handle,
            "user_id": c.user_id,
            "nickname": c.nickname,
            "topic": c.topic,
            "followers": c.followers,
            "region": c.region,
            "video_count": c.video_count,
        }
        for c in picked
    ]


route_handlers = [
    authorize,
    oauth_token,
    oauth_revoke,
    research_video_query,
    research_user_info,
    display_user_info,
    display_video_list,
    display_video_query,
    creator_info,
    publish_video_init,
    publish_inbox_init,
    upload_chunk,
    publish_status,
    short_link,
    world_videos,
    world_creators,
]
