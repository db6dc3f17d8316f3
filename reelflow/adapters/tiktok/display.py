"""TikTok Display API with a user's `act.` token: user info, video list, video query
(platform-apis.md §1.5). Limits: 600 requests/minute per endpoint (kept per token here).

    display = DisplayClient(access_token)
    me = await display.user_info()                         # Creator (id = open_id)
    async for video in display.iter_videos(): ...          # newest first, cursor in ms
    videos = await display.query_videos(ids)               # any count: 20 ids per request
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

from reelflow.adapters import httpclient
from reelflow.adapters.ratelimit import RateLimit, account_key
from reelflow.adapters.records import Creator, Video, VideoStats, from_unix
from reelflow.adapters.tiktok.common import PLATFORM, base_url, data_of, v2_error
from reelflow.settings import get_settings

USER_FIELDS = (
    "open_id",
    "union_id",
    "avatar_url",
    "display_name",
    "bio_description",
    "profile_deep_link",
    "is_verified",
    "username",
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
)
VIDEO_FIELDS = (
    "id",
    "create_time",
    "cover_image_url",
    "share_url",
    "video_description",
    "duration",
    "height",
    "width",
    "title",
    "embed_link",
    "like_count",
    "comment_count",
    "share_count",
    "view_count",
)
MAX_LIST = 20
MAX_QUERY = 20


@dataclass
class DisplayPage:
    videos: list[Video]
    cursor: int  # UTC unix milliseconds: send it back for the next (older) page
    has_more: bool


def map_display_video(item: dict[str, Any], handle: str | None = None) -> Video:
    video_id = str(item.get("id", ""))
    return Video(
        platform="tiktok",
        id=video_id,
        url=item.get("share_url"),
        caption=item.get("video_description") or item.get("title"),
        created_at=from_unix(item.get("create_time")),
        author_handle=handle,
        hashtags=[w[1:] for w in str(item.get("video_description") or "").split() if w.startswith("#") and len(w) > 1],
        duration_s=float(item["duration"]) if item.get("duration") is not None else None,
        cover_url=item.get("cover_image_url"),
        width=item.get("width"),
        height=item.get("height"),
        stats=VideoStats(
            platform="tiktok",
            video_id=video_id,
            views=item.get("view_count"),
            likes=item.get("like_count"),
            comments=item.get("comment_count"),
            shares=item.get("share_count"),
        ),
    )


class DisplayClient:
    def __init__(self, access_token: str) -> None:
        self.token = access_token
        self.base = base_url()
        self._account = account_key(access_token)

    async def _call(self, method: str, path: str, fields: Sequence[str], body: dict[str, Any] | None = None) -> Any:
        per_minute = get_settings().quotas.tiktok_display_per_minute
        limits = [RateLimit.per_minute(f"tiktok.display:{path}:{self._account}", per_minute)] if per_minute else []
        response = await httpclient.request(
            method,
            f"{self.base}{path}",
            idempotent=True,
            platform=PLATFORM,
            params={"fields": ",".join(fields)},
            json=body,
            headers={"Authorization": f"Bearer {self.token}"},
            error_mapper=v2_error,
            rate_limits=limits,
        )
        return data_of(response)

    async def user_info(self, fields: Sequence[str] = USER_FIELDS) -> Creator:
        user = (await self._call("GET", "/v2/user/info/", fields)).get("user") or {}
        handle = user.get("username") or user.get("display_name") or ""
        return Creator(
            platform="tiktok",
            handle=handle,
            id=user.get("open_id"),
            display_name=user.get("display_name"),
            bio=user.get("bio_description"),
            avatar_url=user.get("avatar_url"),
            followers=user.get("follower_count"),
            following=user.get("following_count"),
            likes=user.get("likes_count"),
            video_count=user.get("video_count"),
            verified=user.get("is_verified"),
            url=user.get("profile_deep_link"),
        )

    async def list_videos(self, cursor: int | None = None, *, max_count: int = MAX_LIST) -> DisplayPage:
        body: dict[str, Any] = {"max_count": max(1, min(MAX_LIST, max_count))}
        if cursor:
            body["cursor"] = cursor
        data = await self._call("POST", "/v2/video/list/", VIDEO_FIELDS, body)
        videos = [map_display_video(item) for item in data.get("videos") or []]
        return DisplayPage(videos, int(data.get("cursor") or 0), bool(data.get("has_more")))

    async def iter_videos(self, *, limit: int | None = None) -> AsyncIterator[Video]:
        cursor: int | None = None
        count = 0
        while True:
            page = await self.list_videos(cursor)
            for video in page.videos:
                yield video
                count += 1
                if limit is not None and count >= limit:
                    return
            if not page.has_more or not page.videos:
                return
            cursor = page.cursor

    async def query_videos(self, video_ids: Sequence[str]) -> list[Video]:
        """The user's own videos by id (20 per request); others' ids are not returned."""
        out: list[Video] = []
        ids = list(dict.fromkeys(str(v) for v in video_ids))
        for i in range(0, len(ids), MAX_QUERY):
            body = {"filters": {"video_ids": ids[i : i + MAX_QUERY]}}
            data = await self._call("POST", "/v2/video/query/", VIDEO_FIELDS, body)
            out.extend(map_display_video(item) for item in data.get("videos") or [])
        return out

    async def fetch_stats(self, video_ids: Sequence[str]) -> list[VideoStats]:
        return [v.stats for v in await self.query_videos(video_ids) if v.stats is not None]
