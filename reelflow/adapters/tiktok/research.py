"""TikTok Research API: video query (and/or/not, ≤30-day windows, cursor + search_id), user info,
batched stats, daily quota accounting (platform-apis.md §1.2–1.4, §9).

    research = ResearchClient()
    query = VideoQuery.build(start=date(2026, 1, 1), end=date(2026, 3, 1), hashtags=["fitness"])
    async for page in research.iter_pages(query):        # windows split, pages followed
        ...page.videos (list[Video])...
    async for video in research.iter_videos(query, limit=500):
        ...
    stats = await research.fetch_stats(["7311...", ...])  # list[VideoStats], missing ids left out
    creator = await research.user_info("some.handle")     # Creator

`fetch_stats` batches ids 100 per request (`video_id IN [...]`) and runs batches with
bounded concurrency. A TikTok id carries its creation time in its top 32 bits, which gives
each batch the date window the API requires (ids created within 30 days of each other share
a request).

Quotas: every request is charged to `tiktok_research_daily_requests` (1,000/day) and the
records returned to `tiktok_research_daily_records` (100,000/day), per client key, resetting
at 00:00 UTC; over either → `QuotaExhausted` (retry_after = until midnight). 0 disables.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from reelflow.adapters import httpclient
from reelflow.adapters.ratelimit import DailyQuota, account_key, get_limiter
from reelflow.adapters.records import Creator, Video, VideoStats, from_unix, tiktok_video_url
from reelflow.adapters.tiktok.common import PLATFORM, base_url, data_of, v2_error
from reelflow.adapters.tiktok.oauth import TikTokOAuth
from reelflow.errors import AuthExpired, InvalidInput, NotFound, Permanent
from reelflow.settings import get_settings

Operation = Literal["EQ", "IN", "GT", "GTE", "LT", "LTE"]
MAX_COUNT = 100
MAX_WINDOW_DAYS = 30
DEFAULT_FIELDS = (
    "id",
    "video_description",
    "create_time",
    "region_code",
    "share_count",
    "view_count",
    "like_count",
    "comment_count",
    "favorites_count",
    "music_id",
    "hashtag_names",
    "username",
    "video_duration",
)
STATS_FIELDS = (
    "id",
    "create_time",
    "username",
    "view_count",
    "like_count",
    "comment_count",
    "share_count",
    "favorites_count",
)
USER_FIELDS = (
    "display_name",
    "bio_description",
    "avatar_url",
    "is_verified",
    "follower_count",
    "following_count",
    "likes_count",
    "video_count",
    "bio_url",
)
# TikTok launched in 2016; an id whose top bits fall outside [then, now] is not time-based.
_EPOCH_MIN = int(datetime(2016, 1, 1, tzinfo=UTC).timestamp())


@dataclass(frozen=True)
class Condition:
    field_name: str
    operation: Operation
    field_values: tuple[str, ...]

    def to_json(self) -> dict[str, Any]:
        return {"field_name": self.field_name, "operation": self.operation, "field_values": list(self.field_values)}


def any_of(field_name: str, values: Iterable[str]) -> Condition:
    values = tuple(str(v) for v in values)
    return Condition(field_name, "IN" if len(values) > 1 else "EQ", values)


@dataclass(frozen=True)
class VideoQuery:
    """A Research video query over [start, end] (UTC dates, any length: split in 30-day windows)."""

    start: date
    end: date
    and_: tuple[Condition, ...] = ()
    or_: tuple[Condition, ...] = ()
    not_: tuple[Condition, ...] = ()
    max_count: int = MAX_COUNT
    fields: tuple[str, ...] = DEFAULT_FIELDS

    @classmethod
    def build(
        cls,
        *,
        start: date,
        end: date,
        keywords: Sequence[str] = (),
        hashtags: Sequence[str] = (),
        usernames: Sequence[str] = (),
        regions: Sequence[str] = (),
        exclude_keywords: Sequence[str] = (),
        exclude_hashtags: Sequence[str] = (),
    ) -> VideoQuery:
        """Each non-empty list is one AND condition (any of its values matches)."""
        ands = []
        if keywords:
            ands.append(any_of("keyword", keywords))
        if hashtags:
            ands.append(any_of("hashtag_name", [h.lstrip("#").lower() for h in hashtags]))
        if usernames:
            ands.append(any_of("username", [u.lstrip("@") for u in usernames]))
        if regions:
            ands.append(any_of("region_code", [r.upper() for r in regions]))
        nots = []
        if exclude_keywords:
            nots.append(any_of("keyword", exclude_keywords))
        if exclude_hashtags:
            nots.append(any_of("hashtag_name", [h.lstrip("#").lower() for h in exclude_hashtags]))
        return cls(start=start, end=end, and_=tuple(ands), not_=tuple(nots))

    def windows(self) -> list[tuple[date, date]]:
        """[start, end] cut into windows of at most 30 days, newest first."""
        if self.end < self.start:
            raise InvalidInput("end must not be before start", field="end")
        out = []
        window_end = self.end
        while window_end >= self.start:
            window_start = max(self.start, window_end - timedelta(days=MAX_WINDOW_DAYS - 1))
            out.append((window_start, window_end))
            window_end = window_start - timedelta(days=1)
        return out

    def body(self, window: tuple[date, date]) -> dict[str, Any]:
        query: dict[str, Any] = {}
        for key, conditions in (("and", self.and_), ("or", self.or_), ("not", self.not_)):
            if conditions:
                query[key] = [c.to_json() for c in conditions]
        if not query:
            raise InvalidInput("a Research query needs at least one condition", field="query")
        return {
            "query": query,
            "start_date": window[0].strftime("%Y%m%d"),
            "end_date": window[1].strftime("%Y%m%d"),
            "max_count": min(MAX_COUNT, max(1, self.max_count)),
        }


@dataclass
class VideoPage:
    videos: list[Video]
    cursor: int
    has_more: bool
    search_id: str | None
    window: tuple[date, date]
    raw_count: int = 0


@dataclass
class _TokenCache:
    token: str | None = None
    expires_at: datetime = field(default_factory=lambda: datetime.min.replace(tzinfo=UTC))


_tokens: dict[tuple[str, str], _TokenCache] = {}
_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def _lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _locks.get(loop)
    if lock is None:
        lock = _locks[loop] = asyncio.Lock()
    return lock


def video_created_at(video_id: str) -> int | None:
    """Unix seconds encoded in a TikTok video id's top 32 bits (None if it is not such an id)."""
    try:
        ts = int(video_id) >> 32
    except ValueError:
        return None
    now = datetime.now(UTC).timestamp()
    return ts if _EPOCH_MIN <= ts <= now + 86_400 else None


def map_research_video(item: dict[str, Any]) -> Video:
    """Research video object → Video (accepts `video_id` for `id`, as the official example does)."""
    video_id = str(item.get("id", item.get("video_id", "")))
    username = item.get("username")
    return Video(
        platform="tiktok",
        id=video_id,
        url=tiktok_video_url(username, video_id),
        caption=item.get("video_description"),
        created_at=from_unix(item.get("create_time")),
        author_handle=username,
        hashtags=list(item.get("hashtag_names") or []),
        duration_s=float(item["video_duration"]) if item.get("video_duration") is not None else None,
        region=item.get("region_code"),
        sound_id=str(item["music_id"]) if item.get("music_id") else None,
        stats=map_research_stats(item),
    )


def map_research_stats(item: dict[str, Any], fetched_at: datetime | None = None) -> VideoStats:
    return VideoStats(
        platform="tiktok",
        video_id=str(item.get("id", item.get("video_id", ""))),
        views=item.get("view_count"),
        likes=item.get("like_count"),
        comments=item.get("comment_count"),
        shares=item.get("share_count"),
        saves=item.get("favorites_count"),
        fetched_at=fetched_at or datetime.now(UTC),
    )


class SearchExpired(Permanent):
    """The cached search behind a search_id is gone ("Search Id … is invalid or expired")."""

    code = "search_expired"


class ResearchClient:
    def __init__(self, *, concurrency: int = 8) -> None:
        self.base = base_url()
        self.oauth = TikTokOAuth(research=True)
        self.concurrency = concurrency
        settings = get_settings()
        app = account_key(self.oauth.client_key)
        self.request_quota = DailyQuota(
            f"tiktok_research:{app}:requests", settings.quotas.tiktok_research_daily_requests
        )
        self.record_quota = DailyQuota(f"tiktok_research:{app}:records", settings.quotas.tiktok_research_daily_records)

    # --- token ----------------------------------------------------------------------------

    async def token(self, *, force: bool = False) -> str:
        """The client access token, fetched once and reused until a minute before expiry."""
        cache = _tokens.setdefault((self.base, self.oauth.client_key), _TokenCache())
        if not force and cache.token and cache.expires_at > datetime.now(UTC) + timedelta(seconds=60):
            return cache.token
        async with _lock():
            if not force and cache.token and cache.expires_at > datetime.now(UTC) + timedelta(seconds=60):
                return cache.token
            tokens = await self.oauth.client_token()
            cache.token, cache.expires_at = tokens.access_token, tokens.expires_at
            return cache.token

    async def _post(self, path: str, fields: Sequence[str], body: dict[str, Any]) -> dict[str, Any]:
        settings = get_settings()
        if settings.quotas.enabled and self.record_quota.limit > 0:
            used = await get_limiter().used(self.record_quota)
            if used >= self.record_quota.limit:
                await get_limiter().charge(self.record_quota, 1)  # raises QuotaExhausted
        for attempt in (1, 2):
            token = await self.token(force=attempt == 2)
            try:
                response = await httpclient.request(
                    "POST",
                    f"{self.base}{path}",
                    idempotent=True,  # queries read; repeating one changes nothing
                    platform=PLATFORM,
                    params={"fields": ",".join(fields)},
                    json=body,
                    headers={"Authorization": f"Bearer {token}"},
                    error_mapper=self._map_error,
                    quota=self.request_quota,
                )
            except AuthExpired as exc:
                if attempt == 2 or exc.reauth_required:
                    raise
                continue  # the cached client token expired early: fetch a new one once
            return data_of(response)
        raise AssertionError("unreachable")

    @staticmethod
    def _map_error(response: Any) -> Any:
        error = v2_error(response)
        if error is not None and "search id" in error.detail.lower() and "expired" in error.detail.lower():
            return SearchExpired(error.detail, **error.extra)
        return error

    async def _charge_records(self, count: int) -> None:
        if get_settings().quotas.enabled and self.record_quota.limit > 0 and count:
            await get_limiter().charge(self.record_quota, count, enforce=False)

    # --- video query ----------------------------------------------------------------------

    async def iter_pages(self, query: VideoQuery) -> AsyncIterator[VideoPage]:
        """Every page of every window (newest window first), until has_more is false.

        If a search_id expires mid-way, the window is searched again (up to 3 times) and videos
        already yielded in it are skipped.
        """
        for window in query.windows():
            seen: set[str] = set()
            restarts = 0
            body = query.body(window)
            while True:
                try:
                    data = await self._post("/v2/research/video/query/", query.fields, body)
                except SearchExpired:
                    if restarts >= 3:
                        raise
                    restarts += 1
                    body = query.body(window)
                    continue
                raw = data.get("videos") or []
                videos = [v for v in (map_research_video(item) for item in raw) if v.id not in seen]
                seen.update(v.id for v in videos)
                await self._charge_records(len(raw))
                has_more = bool(data.get("has_more"))
                cursor = int(data.get("cursor") or 0)
                search_id = data.get("search_id")
                yield VideoPage(videos, cursor, has_more, search_id, window, raw_count=len(raw))
                if not has_more:
                    break
                body = {**query.body(window), "cursor": cursor, "search_id": search_id}

    async def iter_videos(self, query: VideoQuery, *, limit: int | None = None) -> AsyncIterator[Video]:
        count = 0
        async for page in self.iter_pages(query):
            for video in page.videos:
                yield video
                count += 1
                if limit is not None and count >= limit:
                    return

    # --- batched stats --------------------------------------------------------------------

    async def fetch_stats(self, video_ids: Sequence[str], *, concurrency: int | None = None) -> list[VideoStats]:
        """Current counters for many videos: 100 ids per request, batches run concurrently.

        Ids the API does not return (deleted, private, unknown) are left out; the result
        keeps the input order.
        """
        batches = plan_stat_batches(video_ids)
        semaphore = asyncio.Semaphore(concurrency or self.concurrency)
        found: dict[str, VideoStats] = {}

        async def run(batch: _Batch) -> None:
            async with semaphore:
                query = VideoQuery(
                    start=batch.start,
                    end=batch.end,
                    and_=(any_of("video_id", batch.ids),),
                    fields=STATS_FIELDS,
                )
                async for page in self.iter_pages(query):
                    for video in page.videos:
                        if video.stats is not None:
                            found[video.id] = video.stats

        await asyncio.gather(*(run(b) for b in batches))
        return [found[v] for v in dict.fromkeys(str(v) for v in video_ids) if v in found]

    # --- user info ------------------------------------------------------------------------

    async def user_info(self, username: str) -> Creator:
        username = username.lstrip("@")
        try:
            data = await self._post("/v2/research/user/info/", USER_FIELDS, {"username": username})
        except Permanent as exc:
            if exc.extra.get("vendor_code") in ("invalid_params", "invalid_param"):
                raise NotFound(f"TikTok user {username!r} not found or private") from exc
            raise
        await self._charge_records(1)
        return Creator(
            platform="tiktok",
            handle=username,
            display_name=data.get("display_name"),
            bio=data.get("bio_description"),
            avatar_url=data.get("avatar_url"),
            followers=data.get("follower_count"),
            following=data.get("following_count"),
            likes=data.get("likes_count"),
            video_count=data.get("video_count"),
            verified=data.get("is_verified"),
            url=f"https://www.tiktok.com/@{username}",
            external_url=data.get("bio_url") or None,
        )


@dataclass
class _Batch:
    ids: tuple[str, ...]
    start: date
    end: date


def plan_stat_batches(video_ids: Sequence[str]) -> list[_Batch]:
    """Group ids into requests of ≤100 whose creation dates fit one ≤30-day window."""
    dated: list[tuple[int, str]] = []
    undated: list[str] = []
    for raw in dict.fromkeys(str(v) for v in video_ids):
        ts = video_created_at(raw)
        if ts is None:
            undated.append(raw)
        else:
            dated.append((ts, raw))
    dated.sort()
    batches: list[_Batch] = []
    group: list[tuple[int, str]] = []
    limit_s = (MAX_WINDOW_DAYS - 1) * 86_400

    def close() -> None:
        if group:
            first = datetime.fromtimestamp(group[0][0], UTC).date()
            last = datetime.fromtimestamp(group[-1][0], UTC).date()
            batches.append(_Batch(tuple(v for _, v in group), first, last))
            group.clear()

    for ts, vid in dated:
        if group and (len(group) >= MAX_COUNT or ts - group[0][0] > limit_s):
            close()
        group.append((ts, vid))
    close()
    today = datetime.now(UTC).date()
    for i in range(0, len(undated), MAX_COUNT):  # no date in the id: try the last 30 days
        batches.append(_Batch(tuple(undated[i : i + MAX_COUNT]), today - timedelta(days=MAX_WINDOW_DAYS - 1), today))
    return batches
