"""ScrapeCreators: TikTok keyword search (aweme items) and profiles, Instagram profile with
related profiles (platform-apis.md §2).

    sc = ScrapeCreatorsClient()
    page = await sc.search_keyword("protein", cursor=0)          # SearchPage (may repeat items)
    async for video in sc.iter_keyword_search("protein", max_items=500):  # deduplicated
        ...video.author (Creator)...
    creator = await sc.tiktok_profile("handle")
    profile = await sc.instagram_profile("handle")               # .creator, .related (no follower counts)

`region` only moves the vendor's proxy: results are not filtered by region. Auth `x-api-key`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
import msgspec

from reelflow.adapters import httpclient
from reelflow.adapters.ratelimit import RateLimit
from reelflow.adapters.records import Creator, Video, VideoStats, from_unix
from reelflow.errors import LimitExceeded, NotFound, Permanent, ReelflowError, Retryable
from reelflow.settings import get_settings

PLATFORM = "scrapecreators"
DatePosted = Literal["yesterday", "this-week", "this-month", "last-3-months", "last-6-months", "all-time"]
SortBy = Literal["relevance", "most-liked", "date-posted"]


@dataclass
class SearchPage:
    videos: list[Video]
    cursor: int
    has_more: bool
    items: int = 0  # provider items on the page, duplicates included
    credits_remaining: int | None = None  # when the provider reports it


@dataclass
class InstagramProfile:
    creator: Creator
    related: list[Creator] = field(default_factory=list)
    credits_remaining: int | None = None


def _credits(body: dict[str, Any]) -> int | None:
    value = body.get("credits_remaining")
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None


def scrapecreators_error(response: httpx.Response) -> ReelflowError | None:
    status = response.status_code
    if status < 400:
        return None
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        body = {}
    message = str((body or {}).get("message") or (body or {}).get("error") or response.text[:200])
    detail = f"ScrapeCreators {status}: {message}"
    if status == 401:  # a bad key is configuration, not a user's expired grant
        return Permanent(detail, vendor_code="unauthorized")
    if status == 402:
        return LimitExceeded(detail, limit="scrapecreators.credits")
    if status == 404:
        return NotFound(detail)
    if status == 429 or status >= 500:
        return Retryable(detail)
    return Permanent(detail)


# --- awemes, decoded straight into the fields used ------------------------------------------------
# A search page (`trim=false`) is mostly media URLs and encodings nobody reads; decoding only the
# fields below into typed structs skips the rest without building dicts for it. Scalars are `Any`
# (the provider mixes ints and strings); a page whose shape differs is mapped entry by entry.


class _UrlList(msgspec.Struct):
    url_list: list[Any] | None = None


class _Author(msgspec.Struct):
    unique_id: Any = None
    uid: Any = None
    nickname: Any = None
    signature: Any = None
    avatar_medium: _UrlList | None = None
    avatar_thumb: _UrlList | None = None
    follower_count: Any = None
    following_count: Any = None
    total_favorited: Any = None
    aweme_count: Any = None
    is_verified: Any = None
    verification_type: Any = None
    region: Any = None


class _Stats(msgspec.Struct):
    play_count: Any = None
    digg_count: Any = None
    comment_count: Any = None
    share_count: Any = None
    collect_count: Any = None


class _Media(msgspec.Struct):
    duration: Any = None
    cover: _UrlList | None = None
    width: Any = None
    height: Any = None


class _Music(msgspec.Struct):
    id: Any = None
    id_str: Any = None


class _TextExtra(msgspec.Struct):
    type: Any = None
    hashtag_name: Any = None


class _Aweme(msgspec.Struct):
    aweme_id: Any = ""
    desc: Any = None
    create_time: Any = None
    share_url: Any = None
    region: Any = None
    author: _Author | None = None
    statistics: _Stats | None = None
    video: _Media | None = None
    music: _Music | None = None
    text_extra: list[_TextExtra] | None = None


class _Entry(msgspec.Struct):
    aweme_info: _Aweme | None = None


class _SearchBody(msgspec.Struct):
    search_item_list: list[_Entry] | None = None
    cursor: Any = None
    has_more: Any = None
    credits_remaining: Any = None


_SEARCH_DECODER = msgspec.json.Decoder(_SearchBody)


def _url(media: _UrlList | None) -> str | None:
    urls = media.url_list if media is not None else None
    return str(urls[0]) if urls else None


def _typed_author(author: _Author | None) -> Creator:
    a = author or _Author()
    handle = str(a.unique_id or "")
    verified = a.is_verified
    if verified is None and a.verification_type is not None:
        verified = bool(a.verification_type)
    return Creator(
        platform="tiktok",
        handle=handle,
        id=str(a.uid) if a.uid else None,
        display_name=a.nickname,
        bio=a.signature or None,
        avatar_url=_url(a.avatar_medium) or _url(a.avatar_thumb),
        followers=a.follower_count,
        following=a.following_count,
        likes=a.total_favorited,
        video_count=a.aweme_count,
        verified=verified,
        region=a.region,
        url=f"https://www.tiktok.com/@{handle}" if handle else None,
    )


def _typed_aweme(item: _Aweme, fetched_at: datetime) -> Video:
    """A typed aweme → Video (`video.duration` is in milliseconds)."""
    video_id = str(item.aweme_id or "")
    stats = item.statistics or _Stats()
    media = item.video or _Media()
    author = _typed_author(item.author)
    music = item.music or _Music()
    return Video(
        platform="tiktok",
        id=video_id,
        url=str(item.share_url or "").split("?", 1)[0] or None,
        caption=item.desc,
        created_at=from_unix(item.create_time),
        author_handle=author.handle or None,
        author=author,
        hashtags=[t.hashtag_name for t in item.text_extra or [] if t.type == 1 and t.hashtag_name],
        duration_s=media.duration / 1000 if media.duration is not None else None,
        region=item.region,
        sound_id=str(music.id_str or music.id) if music.id else None,
        cover_url=_url(media.cover),
        width=media.width,
        height=media.height,
        stats=VideoStats(
            platform="tiktok",
            video_id=video_id,
            views=stats.play_count,
            likes=stats.digg_count,
            comments=stats.comment_count,
            shares=stats.share_count,
            saves=stats.collect_count,
            fetched_at=fetched_at,
        ),
    )


def map_aweme(item: dict[str, Any]) -> Video:
    """An aweme (TikTok app format, as decoded JSON) → Video, by the same mapping as a typed
    search page; `video.duration` is in milliseconds."""
    return _typed_aweme(msgspec.convert(item, _Aweme), datetime.now(UTC))


def _search_page(content: bytes) -> SearchPage | None:
    """A keyword search body → SearchPage, or None when it is not in the expected shape."""
    try:
        body = _SEARCH_DECODER.decode(content)
        entries = body.search_item_list or []
        now = datetime.now(UTC)
        videos = [_typed_aweme(e.aweme_info, now) for e in entries if e.aweme_info is not None]
        credits = None if body.credits_remaining is None else int(body.credits_remaining)
        return SearchPage(
            videos, int(body.cursor or 0), bool(body.has_more), items=len(entries), credits_remaining=credits
        )
    except (msgspec.ValidationError, msgspec.DecodeError, TypeError, ValueError):
        return None


class ScrapeCreatorsClient:
    def __init__(self) -> None:
        settings = get_settings()
        self.base = settings.platform_url("scrapecreators_base_url")
        self.api_key = settings.credential("scrapecreators_api_key")
        rate = settings.quotas.scrapecreators_per_second
        # never more than `rate` in any sliding second (a burst-of-`rate` bucket lets twice that through)
        self._limits = [RateLimit.within_window("scrapecreators", rate)] if rate else []

    async def _get(self, path: str, params: dict[str, Any]) -> dict[str, Any]:
        body = httpclient.json_body(await self._response(path, params))
        return body if isinstance(body, dict) else {}

    async def _response(self, path: str, params: dict[str, Any]) -> httpx.Response:
        return await httpclient.request(
            "GET",
            f"{self.base}{path}",
            idempotent=True,
            platform=PLATFORM,
            params={k: v for k, v in params.items() if v is not None},
            headers={"x-api-key": self.api_key},
            error_mapper=scrapecreators_error,
            rate_limits=self._limits,
        )

    async def search_keyword(
        self,
        query: str,
        *,
        cursor: int = 0,
        date_posted: DatePosted = "all-time",
        sort_by: SortBy = "relevance",
        region: str | None = None,
    ) -> SearchPage:
        response = await self._response(
            "/v1/tiktok/search/keyword",
            {
                "query": query,
                "cursor": cursor,
                "date_posted": date_posted,
                "sort_by": sort_by,
                "region": region,
                "trim": "false",
            },
        )
        page = _search_page(response.content)
        if page is not None:
            return page
        body = httpclient.json_body(response)
        body = body if isinstance(body, dict) else {}
        entries = body.get("search_item_list") or []
        videos = [map_aweme(entry["aweme_info"]) for entry in entries if entry.get("aweme_info")]
        return SearchPage(
            videos,
            int(body.get("cursor") or 0),
            bool(body.get("has_more")),
            items=len(entries),
            credits_remaining=_credits(body),
        )

    async def iter_keyword_search(
        self,
        query: str,
        *,
        max_items: int | None = None,
        date_posted: DatePosted = "all-time",
        sort_by: SortBy = "relevance",
        region: str | None = None,
    ) -> AsyncIterator[Video]:
        """Unique videos across pages (pages repeat items): stops at has_more=0, an empty page,
        a page with nothing new, or `max_items`."""
        seen: set[str] = set()
        cursor = 0
        while True:
            page = await self.search_keyword(
                query, cursor=cursor, date_posted=date_posted, sort_by=sort_by, region=region
            )
            fresh = [v for v in page.videos if v.id not in seen]
            for video in fresh:
                seen.add(video.id)
                yield video
                if max_items is not None and len(seen) >= max_items:
                    return
            if not page.has_more or not page.videos or not fresh or page.cursor <= cursor:
                return
            cursor = page.cursor

    async def tiktok_profile(self, handle: str) -> Creator:
        body = await self._get("/v1/tiktok/profile", {"handle": handle.lstrip("@")})
        user, stats = body.get("user") or {}, body.get("stats") or {}
        bio_link = user.get("bioLink") or {}
        return Creator(
            platform="tiktok",
            handle=str(user.get("uniqueId") or handle.lstrip("@")),
            id=str(user["id"]) if user.get("id") else None,
            display_name=user.get("nickname"),
            bio=user.get("signature"),
            avatar_url=user.get("avatarMedium") or user.get("avatarLarger"),
            followers=stats.get("followerCount"),
            following=stats.get("followingCount"),
            likes=stats.get("heartCount"),
            video_count=stats.get("videoCount"),
            verified=user.get("verified"),
            region=user.get("region"),
            url=f"https://www.tiktok.com/@{user.get('uniqueId') or handle.lstrip('@')}",
            external_url=bio_link.get("link") if isinstance(bio_link, dict) else None,
            is_private=user.get("privateAccount"),
        )

    async def instagram_profile(self, handle: str) -> InstagramProfile:
        body = await self._get("/v1/instagram/profile", {"handle": handle.lstrip("@"), "trim": "false"})
        user = (body.get("data") or {}).get("user") or {}
        if not user:
            raise NotFound(f"Instagram profile {handle!r} not found")
        creator = Creator(
            platform="instagram",
            handle=str(user.get("username") or handle.lstrip("@")),
            id=str(user["id"]) if user.get("id") else None,
            display_name=user.get("full_name"),
            bio=user.get("biography"),
            avatar_url=user.get("profile_pic_url"),
            followers=(user.get("edge_followed_by") or {}).get("count"),
            following=(user.get("edge_follow") or {}).get("count"),
            video_count=(user.get("edge_owner_to_timeline_media") or {}).get("count"),
            verified=user.get("is_verified"),
            url=f"https://www.instagram.com/{user.get('username') or handle.lstrip('@')}/",
            external_url=user.get("external_url"),
            is_private=user.get("is_private"),
        )
        related = []
        for edge in (user.get("edge_related_profiles") or {}).get("edges") or []:
            node = edge.get("node") or {}
            if not node.get("username"):
                continue
            related.append(
                Creator(
                    platform="instagram",
                    handle=node["username"],
                    id=str(node.get("id") or "") or None,
                    display_name=node.get("full_name"),
                    avatar_url=node.get("profile_pic_url"),
                    verified=node.get("is_verified"),
                    is_private=node.get("is_private"),
                    url=f"https://www.instagram.com/{node['username']}/",
                )
            )  # nodes carry no follower counts
        return InstagramProfile(creator=creator, related=related, credits_remaining=_credits(body))
