"""TikTok Display API in the sandbox: user info, video list, video query (the user's own videos, posts included)."""

from typing import Any

from litestar import Request, Response, get, post

from reelflow.sandbox.core import get_state
from reelflow.sandbox.tiktok_common import (
    _avatar,
    _fields,
    _json,
    _user_token,
    fail,
    ok,
)
from reelflow.sandbox.tiktok_oauth import creator_for_open_id
from reelflow.sandbox.tiktok_posting import _publishes
from reelflow.sandbox.world import get_world

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


route_handlers = [display_user_info, display_video_list, display_video_query]
