"""ScrapeCreators in the sandbox (`/scrapecreators` = api.scrapecreators.com, platform-apis.md §2).

- `GET /v1/tiktok/search/keyword`: aweme-shaped items, 20–30 per page, `cursor`, `has_more`
  as 1/0, `total` 0; each page repeats the last 2 items of the previous one (dedupe on
  `aweme_id`); `region` only picks the proxy, so it does not filter.
- `GET /v1/tiktok/profile`, `GET /v1/instagram/profile` (about 80 related profiles without
  follower counts; very large accounts have none).
Auth: `x-api-key`. Errors: `{"success": false, "message": ...}` with 400/401/404/500.

Discovery behaviours, set with `POST /sandbox/config` (all off by default):
- `scrapecreators_credits`: credits in the account (each search page or profile costs 1;
  answers carry `credits_remaining`); when spent, 402 "out of credits".
- `scrapecreators_empty_every`: every Nth page of a search comes back empty with
  `has_more: 1` (the provider has been seen doing that).
- `scrapecreators_latency_s` (+ uniform `scrapecreators_latency_jitter_s`): a latency model
  for every call; `scrapecreators_slow_every` / `scrapecreators_slow_s`: every Nth page slow.
- `scrapecreators_max_results`: results a query can page through (default 1000).
A CDN stand-in for avatars: `GET /scrapecreators/cdn/avatar.heic` (a small HEIC image, as
TikTok serves many avatars) and `GET /scrapecreators/cdn/redirect?to=URL` (a 302 to `to`).
Search results carry the author's bio (`signature`) for about half of the authors: it is
"often empty in search" on the real API.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

from litestar import Request, Response, get

from reelflow.sandbox import core
from reelflow.sandbox.core import get_state
from reelflow.sandbox.world import Creator, get_world, mix64

MAX_RESULTS = 1000
DATE_POSTED = {"yesterday": 1, "this-week": 7, "this-month": 30, "last-3-months": 90, "last-6-months": 180}


def render_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
    return status, {"success": False, "error": str(code) if code else str(status), "message": message}


core.register_platform("/scrapecreators", render_error)


def _fail(status: int, message: str) -> Response[Any]:
    return Response(render_error(status, None, message)[1], status_code=status)


class _Account:
    def __init__(self) -> None:
        self.spent = 0
        self.calls = 0


def _charge() -> tuple[Response[Any] | None, int | None]:
    """Spend one credit; a 402 when none are left. Returns (error, credits remaining)."""
    state = get_state()
    account = state.store("scrapecreators.account", _Account)
    credits = state.config.get("scrapecreators_credits")
    if credits is None:
        account.spent += 1
        return None, None
    if account.spent >= int(credits):
        return _fail(402, "You have run out of credits. Buy more at https://scrapecreators.com"), 0
    account.spent += 1
    return None, int(credits) - account.spent


async def _latency(page_index: int | None = None) -> None:
    config = get_state().config
    delay = float(config.get("scrapecreators_latency_s") or 0)
    jitter = float(config.get("scrapecreators_latency_jitter_s") or 0)
    if jitter:
        delay += random.uniform(0, jitter)
    slow_every = int(config.get("scrapecreators_slow_every") or 0)
    if page_index is not None and slow_every and page_index % slow_every == slow_every - 1:
        delay += float(config.get("scrapecreators_slow_s") or 0)
    if delay > 0:
        await asyncio.sleep(delay)


def _auth(request: Request[Any, Any, Any]) -> Response[Any] | None:
    if request.headers.get("x-api-key") != core.credential("scrapecreators_api_key"):
        return _fail(401, "Invalid or missing API key")
    return None


def _media(request: Request[Any, Any, Any], name: str, key: str) -> dict[str, Any]:
    return {
        "uri": key,
        "url_list": [f"{str(request.base_url).rstrip('/')}/sandbox/media/{name}?k={key}"],
        "width": 720,
        "height": 720,
    }


def _avatar(request: Request[Any, Any, Any], c: Creator) -> dict[str, Any]:
    if mix64(c.idx ^ 0xA7A7) % 3 == 0:  # some avatars are HEIC, like TikTok's
        url = f"{str(request.base_url).rstrip('/')}/scrapecreators/cdn/avatar.heic?k={c.handle}"
        return {"uri": c.handle, "url_list": [url], "width": 96, "height": 96}
    return _media(request, "avatar.jpg", c.handle)


def _author(request: Request[Any, Any, Any], c: Creator) -> dict[str, Any]:
    return {
        "uid": c.user_id,
        "sec_uid": f"MS4wLjABAAAA{mix64(c.idx):x}",
        "unique_id": c.handle,
        "nickname": c.nickname,
        # often empty in search results (here: for about half the authors)
        "signature": c.bio if mix64(c.idx ^ 0x5EED) % 2 else "",
        "follower_count": c.followers,
        "following_count": c.following,
        "aweme_count": c.video_count,
        "total_favorited": c.likes,
        "verification_type": 1 if c.verified else 0,
        "avatar_thumb": _avatar(request, c),
        "avatar_medium": _avatar(request, c),
        "avatar_larger": _avatar(request, c),
        "region": c.region,
    }


def aweme(request: Request[Any, Any, Any], vid: int, now: float) -> dict[str, Any] | None:
    world = get_world()
    stats = world.stats(vid, now)
    if stats is None:
        return None
    video = world.video(vid)
    share = f"https://www.tiktok.com/@{video.author.handle}/video/{vid}"
    return {
        "aweme_id": str(vid),
        "desc": video.description,
        "create_time": video.create_time,
        "share_url": share + "?is_from_webapp=1",
        "region": video.region,
        "desc_language": "en",
        "is_ad": False,
        "statistics": {
            "aweme_id": str(vid),
            "play_count": stats.views,
            "digg_count": stats.likes,
            "comment_count": stats.comments,
            "share_count": stats.shares,
            "collect_count": stats.saves,
            "download_count": stats.shares // 10,
            "forward_count": 0,
            "repost_count": 0,
            "whatsapp_share_count": stats.shares // 20,
        },
        "author": _author(request, video.author),
        "video": {
            "duration": video.duration * 1000,
            "width": video.width,
            "height": video.height,
            "ratio": "720p",
            "cover": _media(request, "cover.jpg", str(vid)),
            "origin_cover": _media(request, "cover.jpg", str(vid)),
            "play_addr": _media(request, "tiny-vertical.mp4", str(vid)),
        },
        "text_extra": [{"type": 1, "hashtag_name": t, "start": 0, "end": 0} for t in video.hashtags],
        "music": {
            "id": video.music_id,
            "id_str": str(video.music_id),
            "title": "original sound",
            "author": video.author.nickname,
        },
    }


@get("/scrapecreators/v1/tiktok/search/keyword")
async def keyword_search(request: Request[Any, Any, Any]) -> Response[Any]:
    denied = _auth(request)
    if denied:
        return denied
    q = request.query_params
    query = (q.get("query") or "").strip().lower()
    if not query:
        return _fail(400, "query is required")
    try:
        cursor = int(q.get("cursor") or 0)
    except ValueError:
        return _fail(400, "cursor must be an integer")
    config = get_state().config
    await _latency(cursor // 25)
    failed, remaining = _charge()
    if failed is not None:
        return failed
    body = await asyncio.to_thread(_search_body, request, query, cursor, q.get("date_posted"), q.get("sort_by"))
    empty_every = int(config.get("scrapecreators_empty_every") or 0)
    if empty_every and body["search_item_list"] and (cursor // 25) % empty_every == empty_every - 1:
        body["search_item_list"] = []
        body["has_more"] = 1
    if remaining is not None:
        body["credits_remaining"] = remaining
    return Response(body)


def _search_body(
    request: Request[Any, Any, Any], query: str, cursor: int, date_posted: str | None, sort_by: str | None
) -> dict[str, Any]:
    now = get_state().clock.now()
    matched = _matches(query, date_posted, sort_by, now)
    size = 20 + mix64(cursor + 11) % 11
    start = max(0, cursor - 2) if cursor else 0  # the last 2 of the previous page come again
    page = matched[start : cursor + size]
    items = [{"aweme_info": a} for a in (aweme(request, vid, now) for vid in page) if a is not None]
    next_cursor = cursor + size
    has_more = 1 if next_cursor < len(matched) else 0
    return {
        "search_item_list": items,
        "cursor": next_cursor,
        "has_more": has_more,
        "total": 0,
        "extra": {"logid": core.log_id(), "now": int(now * 1000)},
    }


class _MatchCache:
    """A query's ordered results, kept for a few simulated minutes: a provider answers the
    pages of one search from one result list (and the sandbox should not spend its CPU
    re-ranking thousands of videos for every page)."""

    def __init__(self) -> None:
        self.entries: dict[tuple[str, str, str, int, int], list[int]] = {}


def _matches(query: str, date_posted: str | None, sort_by: str | None, now: float) -> list[int]:
    state = get_state()
    limit = int(state.config.get("scrapecreators_max_results") or MAX_RESULTS)
    key = (query, date_posted or "all-time", sort_by or "relevance", int(now // 300), limit)
    cache = state.store("scrapecreators.matches", _MatchCache)
    cached = cache.entries.get(key)
    if cached is not None:
        return cached
    world = get_world()
    index = world.index
    words = [w.lstrip("#") for w in query.split()]
    candidates: set[int] = set()
    for word in words:
        candidates.update(index.by_keyword.get(word, []))
        candidates.update(index.by_hashtag.get(word, []))
    days = DATE_POSTED.get(date_posted or "all-time")
    matched = []
    for vid in candidates:
        created = vid >> 32
        if created > now or (days is not None and created < now - days * 86_400):
            continue
        video = world.video(vid)
        if all(w in video.description.lower() for w in words):
            matched.append(vid)
    if (sort_by or "relevance") == "date-posted":
        matched.sort(reverse=True)
    else:  # relevance and most-liked: by likes (deterministic at a given clock)
        matched.sort(key=lambda v: ((world.stats(v, now) or _ZERO).likes, v), reverse=True)
    matched = matched[:limit]
    if len(cache.entries) > 256:
        cache.entries.clear()
    cache.entries[key] = matched
    return matched


class _Zero:
    likes = 0


_ZERO = _Zero()


@get("/scrapecreators/v1/tiktok/profile", sync_to_thread=False)
def tiktok_profile(request: Request[Any, Any, Any]) -> Response[Any]:
    denied = _auth(request)
    if denied:
        return denied
    world = get_world()
    creator = world.by_handle.get((request.query_params.get("handle") or "").lstrip("@"))
    if creator is None:
        return _fail(404, "User not found")
    world.index  # noqa: B018 - counts videos per creator
    avatar = _media(request, "avatar.jpg", creator.handle)["url_list"][0]
    return Response(
        {
            "success": True,
            "credits_remaining": 9999,
            "user": {
                "id": creator.user_id,
                "uniqueId": creator.handle,
                "nickname": creator.nickname,
                "signature": creator.bio,
                "verified": creator.verified,
                "avatarLarger": avatar,
                "avatarMedium": avatar,
                "region": creator.region,
                "privateAccount": False,
                "bioLink": {"link": creator.bio_url} if creator.bio_url else None,
            },
            "stats": {
                "followerCount": creator.followers,
                "followingCount": creator.following,
                "heartCount": creator.likes,
                "videoCount": creator.video_count,
            },
        }
    )


@get("/scrapecreators/v1/instagram/profile")
async def instagram_profile(request: Request[Any, Any, Any]) -> Response[Any]:
    denied = _auth(request)
    if denied:
        return denied
    await _latency()
    failed, remaining = _charge()
    if failed is not None:
        return failed
    world = get_world()
    creator = world.by_handle.get((request.query_params.get("handle") or "").lstrip("@"))
    if creator is None:
        return _fail(404, "Profile not found")
    pic = _media(request, "avatar.jpg", creator.handle)["url_list"][0]
    related = [
        {
            "node": {
                "id": f"{mix64(c.idx) % 10**11}",
                "username": c.handle,
                "full_name": c.nickname,
                "is_verified": c.verified,
                "is_private": False,
                "profile_pic_url": _media(request, "avatar.jpg", c.handle)["url_list"][0],
            }
        }
        for c in world.related_profiles(creator)
    ]
    user = {
        "id": f"{mix64(creator.idx) % 10**11}",
        "username": creator.handle,
        "full_name": creator.nickname,
        "biography": creator.bio,
        "is_verified": creator.verified,
        "is_private": False,
        "is_business_account": creator.followers > 1_000_000,
        "profile_pic_url": pic,
        "external_url": creator.bio_url,
        "edge_followed_by": {"count": int(creator.followers * 0.6)},
        "edge_follow": {"count": creator.following},
        "edge_owner_to_timeline_media": {"count": creator.video_count * 2, "edges": []},
        "edge_related_profiles": {"edges": related},
    }
    body: dict[str, Any] = {"data": {"user": user}, "status": "ok"}
    if remaining is not None:
        body["credits_remaining"] = remaining
    return Response(body)


_HEIC: list[bytes] = []


def heic_avatar() -> bytes:
    """A 96×96 HEIC image, made once (pillow-heif)."""
    if not _HEIC:
        import io

        import pillow_heif
        from PIL import Image, ImageDraw

        image = Image.new("RGB", (96, 96), (236, 72, 153))
        ImageDraw.Draw(image).ellipse((18, 18, 78, 78), fill=(255, 255, 255))
        heif = pillow_heif.from_pillow(image)
        out = io.BytesIO()
        heif.save(out, quality=60)
        _HEIC.append(out.getvalue())
    return _HEIC[0]


@get("/scrapecreators/cdn/avatar.heic", sync_to_thread=False)
def cdn_heic() -> Response[bytes]:
    return Response(heic_avatar(), media_type="image/heic", headers={"Cache-Control": "max-age=60"})


@get("/scrapecreators/cdn/redirect", sync_to_thread=False)
def cdn_redirect(to: str) -> Response[bytes]:
    return Response(b"", status_code=302, headers={"Location": to})


route_handlers = [keyword_search, tiktok_profile, instagram_profile, cdn_heic, cdn_redirect]
