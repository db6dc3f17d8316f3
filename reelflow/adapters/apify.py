"""Apify `clockworks~tiktok-scraper` for post stats by URL, with short links resolved
(platform-apis.md §3).

    apify = ApifyClient()
    videos = await apify.fetch_posts(["https://www.tiktok.com/@a/video/73...", "https://vm.tiktok.com/ZT.../"])
    # {submitted url: Video}; posts that are gone are absent
    canonical = await apify.resolve_short_link("https://www.tiktok.com/t/ZTabc/")

`run-sync-get-dataset-items` waits for the run (up to 300 s) and answers the dataset as a
JSON array. It is a read: repeating it after a timeout costs a run but changes nothing.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import msgspec

from reelflow.adapters import httpclient
from reelflow.adapters.ratelimit import RateLimit
from reelflow.adapters.records import Creator, Video, VideoStats, from_unix
from reelflow.errors import AuthExpired, InvalidInput, Permanent, ReelflowError, Retryable
from reelflow.settings import get_settings

PLATFORM = "apify"
ACTOR = "clockworks~tiktok-scraper"
SHORT_HOSTS = {"vm.tiktok.com", "vt.tiktok.com"}
_VIDEO = re.compile(r"/@([^/]+)/video/(\d+)")
MAX_URLS_PER_RUN = 100


def apify_error(response: httpx.Response) -> ReelflowError | None:
    status = response.status_code
    if status < 400:
        return None
    try:
        error = (msgspec.json.decode(response.content) or {}).get("error") or {}
    except (msgspec.DecodeError, AttributeError):
        error = {}
    kind = str(error.get("type") or status)
    detail = f"Apify {kind}: {error.get('message') or response.text[:200]}"
    if status == 401:
        return AuthExpired(detail, reauth_required=True, vendor_code=kind)
    if status in (408, 429) or status >= 500:
        return Retryable(detail, vendor_code=kind)
    return Permanent(detail, vendor_code=kind)


def is_short_link(url: str) -> bool:
    parts = urlsplit(url)
    return parts.netloc in SHORT_HOSTS or (parts.netloc.endswith("tiktok.com") and parts.path.startswith("/t/"))


def video_id_of(url: str) -> str | None:
    match = _VIDEO.search(urlsplit(url).path)
    return match.group(2) if match else None


def map_apify_item(item: dict[str, Any]) -> Video:
    meta = item.get("authorMeta") or {}
    video_meta = item.get("videoMeta") or {}
    music = item.get("musicMeta") or {}
    video_id = str(item.get("id", ""))
    handle = meta.get("name")
    hashtags = [h.get("name") if isinstance(h, dict) else str(h) for h in item.get("hashtags") or []]
    return Video(
        platform="tiktok",
        id=video_id,
        url=item.get("webVideoUrl"),
        caption=item.get("text"),
        created_at=from_unix(item.get("createTime")),
        author_handle=handle,
        author=Creator(
            platform="tiktok",
            handle=str(handle or ""),
            id=str(meta["id"]) if meta.get("id") else None,
            display_name=meta.get("nickName"),
            bio=meta.get("signature"),
            avatar_url=meta.get("avatar"),
            followers=meta.get("fans"),
            following=meta.get("following"),
            likes=meta.get("heart"),
            video_count=meta.get("video"),
            verified=meta.get("verified"),
            url=meta.get("profileUrl"),
            is_private=meta.get("privateAccount"),
        ),
        hashtags=[h for h in hashtags if h],
        duration_s=float(video_meta["duration"]) if video_meta.get("duration") is not None else None,
        region=item.get("locationCreated"),
        sound_id=str(music["musicId"]) if music.get("musicId") else None,
        cover_url=video_meta.get("coverUrl"),
        width=video_meta.get("width"),
        height=video_meta.get("height"),
        stats=VideoStats(
            platform="tiktok",
            video_id=video_id,
            views=item.get("playCount"),
            likes=item.get("diggCount"),
            comments=item.get("commentCount"),
            shares=item.get("shareCount"),
            saves=item.get("collectCount"),
        ),
    )


class ApifyClient:
    def __init__(self) -> None:
        settings = get_settings()
        self.base = settings.platform_url("apify_base_url")
        self.web_base = settings.platform_url("tiktok_web_base_url")
        self.sandboxed = not settings.platforms.tiktok_web_base_url
        self.token = settings.credential("apify_token")
        rate = settings.quotas.apify_per_second
        # Under Apify's per-second window (burst 1, margin for jitter): a 5/s bucket with
        # burst 5 overshot the window and met 429s with 32 runs in flight. A 429 that still
        # comes is retried after its Retry-After (httpclient), then by the job runtime.
        self._limits = [RateLimit.within_window("apify", rate, 1.0)] if rate else []

    async def resolve_short_link(self, url: str) -> str:
        """Follow a `/t/...` or vm.tiktok.com link one hop to the canonical video URL."""
        if not is_short_link(url):
            return url
        parts = urlsplit(url)
        code = [s for s in parts.path.split("/") if s][-1]
        # vm./vt. links go to their own host for real; www.tiktok.com/t/... (and all in the
        # sandbox) to the configured web host
        target = url if parts.netloc in SHORT_HOSTS and not self.sandboxed else f"{self.web_base}/t/{code}/"
        response = await httpclient.request(
            "GET", target, idempotent=True, platform="tiktok-web", success_statuses={301, 302, 303, 307, 308}
        )
        location = response.headers.get("Location")
        if response.status_code not in (301, 302, 303, 307, 308) or not location:
            raise InvalidInput(f"not a TikTok short link that resolves: {url}", field="url")
        return str(location)

    async def run_sync(self, actor_input: dict[str, Any], *, actor: str = ACTOR) -> list[dict[str, Any]]:
        response = await httpclient.request(
            "POST",
            f"{self.base}/v2/acts/{actor}/run-sync-get-dataset-items",
            idempotent=True,
            platform=PLATFORM,
            json=actor_input,
            headers={"Authorization": f"Bearer {self.token}"},
            error_mapper=apify_error,
            rate_limits=self._limits,
            read_timeout=get_settings().platforms.apify_timeout_seconds,
        )
        items = httpclient.json_body(response)
        if not isinstance(items, list):
            raise Permanent("Apify dataset items are not a JSON array")
        return items

    # --- asynchronous runs (batches: never run-sync, which times out at 300 s) ----------
    async def _call(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        idempotent: bool = True,
        params: dict[str, Any] | None = None,
        read_timeout: float | None = None,
    ) -> Any:
        response = await httpclient.request(
            method,
            f"{self.base}{path}",
            params=params,
            read_timeout=read_timeout,
            idempotent=idempotent,
            platform=PLATFORM,
            json=json,
            headers={"Authorization": f"Bearer {self.token}"},
            error_mapper=apify_error,
            rate_limits=self._limits,
        )
        return httpclient.json_body(response)

    async def start_post_run(self, urls: Sequence[str], *, actor: str = ACTOR) -> tuple[str, str]:
        """Start an asynchronous scraper run for post URLs: (run id, dataset id).

        Not idempotent (each call is a paid run): it is never retried blindly here; callers
        record the run id and read that run again instead of starting another."""
        body = await self._call(
            "POST",
            f"/v2/acts/{actor}/runs",
            json={
                "postURLs": list(urls),
                "resultsPerPage": 1,
                "shouldDownloadVideos": False,
                "shouldDownloadCovers": False,
            },
            idempotent=False,
        )
        data = (body or {}).get("data") or {}
        if not data.get("id") or not data.get("defaultDatasetId"):
            raise Permanent("Apify run object without id or defaultDatasetId")
        return str(data["id"]), str(data["defaultDatasetId"])

    async def run_status(self, run_id: str, *, wait_s: float = 0.0) -> str:
        """The run's status; with `wait_s` (≤ 60) Apify holds the answer until the run ends."""
        wait = int(min(60.0, max(0.0, wait_s)))
        body = await self._call(
            "GET",
            f"/v2/actor-runs/{run_id}",
            params={"waitForFinish": wait} if wait else None,
            read_timeout=wait + 30.0 if wait else None,
        )
        return str(((body or {}).get("data") or {}).get("status") or "UNKNOWN")

    async def dataset_items(self, dataset_id: str) -> list[dict[str, Any]]:
        items = await self._call("GET", f"/v2/datasets/{dataset_id}/items?clean=true&format=json")
        if not isinstance(items, list):
            raise Permanent("Apify dataset items are not a JSON array")
        return items

    async def fetch_posts(self, urls: Sequence[str]) -> dict[str, Video]:
        """{submitted URL: Video} for the posts that exist; short links are resolved first."""
        canonical: dict[str, str] = {}
        for url in dict.fromkeys(urls):
            canonical[url] = await self.resolve_short_link(url)
        by_canonical: dict[str, Video] = {}
        targets = list(dict.fromkeys(canonical.values()))
        for i in range(0, len(targets), MAX_URLS_PER_RUN):
            batch = targets[i : i + MAX_URLS_PER_RUN]
            items = await self.run_sync(
                {"postURLs": batch, "resultsPerPage": 1, "shouldDownloadVideos": False, "shouldDownloadCovers": False}
            )
            for item in items:
                if item.get("error") or not item.get("id"):
                    continue
                video = map_apify_item(item)
                by_canonical[str(item.get("submittedVideoUrl") or video.url)] = video
        by_id = {v.id: v for v in by_canonical.values()}
        out: dict[str, Video] = {}
        for submitted, url in canonical.items():
            found = by_canonical.get(url) or by_id.get(video_id_of(url) or "")
            if found is not None:
                out[submitted] = found
        return out

    async def fetch_stats(self, urls: Sequence[str]) -> dict[str, VideoStats]:
        return {url: video.stats for url, video in (await self.fetch_posts(urls)).items() if video.stats}
