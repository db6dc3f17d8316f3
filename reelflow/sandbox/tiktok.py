"""TikTok for Developers v2 in the sandbox: OAuth, Research, Display, Content Posting.

Paths mirror the real hosts under prefixes: `/tiktok` = open.tiktokapis.com,
`/tiktok-www` = www.tiktok.com (authorize page, `/t/...` short links), `/tiktok-upload` =
the upload host of `upload_url`. Envelopes: `{"data": ..., "error": {"code", "message",
"log_id"}}` (code "ok" on success); OAuth answers flat `{error, error_description, log_id}`.

Events recorded (GET /sandbox/events): `tiktok.oauth.*`, `tiktok.publish.init`,
`tiktok.upload.chunk`, `tiktok.publish.complete`, `tiktok.publish.failed`.

The platform is split along its seams: `tiktok_common` (envelopes, token and rate checks),
`tiktok_oauth` (Login Kit), `tiktok_research`, `tiktok_display`, `tiktok_posting` (Content
Posting API). This module serves them together, plus short links and world samples.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, get

from reelflow.sandbox import tiktok_display, tiktok_oauth, tiktok_posting, tiktok_research
from reelflow.sandbox.core import get_state
from reelflow.sandbox.tiktok_research import _run_query as _run_query
from reelflow.sandbox.world import from_short_code, get_world, short_code

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
    *tiktok_oauth.route_handlers,
    *tiktok_research.route_handlers,
    *tiktok_display.route_handlers,
    *tiktok_posting.route_handlers,
    short_link,
    world_videos,
    world_creators,
]
