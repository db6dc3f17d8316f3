"""TikTok Research API in the sandbox: video query (cached searches, warm-up failures, daily quota), user info."""

import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from litestar import Request, Response, post

from reelflow.sandbox import core
from reelflow.sandbox.core import get_state
from reelflow.sandbox.tiktok_common import (
    _avatar,
    _fields,
    _json,
    _stable,
    fail,
    ok,
)
from reelflow.sandbox.world import Video, get_world

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


route_handlers = [research_video_query, research_user_info]
