"""TikTok Content Posting API: creator_info, Direct Post init (FILE_UPLOAD / PULL_FROM_URL),
chunked upload with Content-Range, status fetch (publishing.md §5.2, §6).

    posting = PostingClient(access_token)
    info = await posting.creator_info()                      # privacy options, max duration...
    plan = chunk_plan(size)                                  # the Media Transfer Guide's rules
    init = await posting.init_file_upload(PostInfo(title=..., privacy_level=...), plan)
    # persist init.publish_id (and init.upload_url) BEFORE uploading: init is not idempotent
    await posting.upload(init.upload_url, path, plan)
    status = await posting.fetch_status(init.publish_id)     # PublicationStatus

`init_*` are sent with `idempotent=False`: a timeout after sending raises `errors.Ambiguous`
and the caller reconciles (e.g. fetch_status on a publish_id it stored) instead of posting
twice. Chunk PUTs are idempotent (same bytes, same range); a 416 resumes from the
progress the upload host reports.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import httpx
import msgspec

from reelflow.adapters import httpclient
from reelflow.adapters.ratelimit import RateLimit, account_key
from reelflow.adapters.records import PublicationStatus, PublishState, tiktok_video_url
from reelflow.adapters.tiktok.common import PLATFORM, base_url, data_of, v2_error
from reelflow.errors import InvalidInput, Permanent, ReelflowError
from reelflow.settings import get_settings

MB = 1024 * 1024
MIN_CHUNK = 5 * MB
MAX_CHUNK = 64 * MB
MAX_FINAL_CHUNK = 128 * MB
DEFAULT_CHUNK = 10 * MB
PrivacyLevel = Literal["PUBLIC_TO_EVERYONE", "MUTUAL_FOLLOW_FRIENDS", "FOLLOWER_OF_CREATOR", "SELF_ONLY"]
RETRYABLE_FAIL_REASONS = {"internal", "video_pull_failed", "photo_pull_failed"}
_STATES: dict[str, PublishState] = {
    "PROCESSING_UPLOAD": "processing",
    "PROCESSING_DOWNLOAD": "processing",
    "SEND_TO_USER_INBOX": "inbox",
    "PUBLISH_COMPLETE": "published",
    "FAILED": "failed",
}


class CreatorInfo(msgspec.Struct, kw_only=True):
    username: str
    nickname: str
    avatar_url: str | None
    privacy_level_options: list[str]
    comment_disabled: bool
    duet_disabled: bool
    stitch_disabled: bool
    max_video_post_duration_sec: int


class PostInfo(msgspec.Struct, kw_only=True, omit_defaults=True):
    """`post_info` of a Direct Post; privacy_level must be one of creator_info's options."""

    title: str
    privacy_level: PrivacyLevel
    disable_duet: bool = False
    disable_comment: bool = False
    disable_stitch: bool = False
    video_cover_timestamp_ms: int | None = None
    brand_content_toggle: bool = False
    brand_organic_toggle: bool = False
    is_aigc: bool = False


class PublishInit(msgspec.Struct, kw_only=True):
    publish_id: str
    upload_url: str | None = None


@dataclass(frozen=True)
class ChunkPlan:
    video_size: int
    chunk_size: int
    total_chunk_count: int

    def ranges(self) -> list[tuple[int, int]]:
        """(first, last) byte of each chunk; the last chunk takes the remainder."""
        out = []
        for i in range(self.total_chunk_count):
            first = i * self.chunk_size
            last = self.video_size - 1 if i == self.total_chunk_count - 1 else first + self.chunk_size - 1
            out.append((first, last))
        return out


def chunk_plan(video_size: int, chunk_size: int = DEFAULT_CHUNK) -> ChunkPlan:
    """Files up to 64 MB go whole; larger ones in `chunk_size` chunks (5–64 MB), the last one
    carrying the remainder (≤128 MB), `total_chunk_count = floor(size / chunk_size)` ≤ 1000."""
    if video_size <= 0:
        raise InvalidInput("video_size must be positive", field="video_size")
    if video_size <= MAX_CHUNK:
        return ChunkPlan(video_size, video_size, 1)
    if not MIN_CHUNK <= chunk_size <= MAX_CHUNK:
        raise InvalidInput("chunk_size must be 5 MB to 64 MB", field="chunk_size")
    count = video_size // chunk_size
    if count > 1000:
        raise InvalidInput("too many chunks (max 1000): use a larger chunk_size", field="chunk_size")
    if video_size - chunk_size * (count - 1) > MAX_FINAL_CHUNK:
        raise InvalidInput("the final chunk would exceed 128 MB", field="chunk_size")
    return ChunkPlan(video_size, chunk_size, count)


def map_publish_status(publish_id: str, data: dict[str, Any], handle: str | None = None) -> PublicationStatus:
    raw = str(data.get("status") or "")
    reason = data.get("fail_reason") or None
    state: PublishState = _STATES.get(raw, "processing")
    if state == "failed" and reason == "publish_cancelled":
        state = "cancelled"
    post_ids = data.get("publicaly_available_post_id") or data.get("publicly_available_post_id") or []
    post_id = str(post_ids[0]) if post_ids else None
    return PublicationStatus(
        platform="tiktok",
        publish_id=publish_id,
        state=state,
        raw_status=raw,
        post_id=post_id,
        url=tiktok_video_url(handle, post_id) if post_id else None,
        fail_reason=reason,
        retryable=state == "failed" and reason in RETRYABLE_FAIL_REASONS,
        uploaded_bytes=data.get("uploaded_bytes"),
        downloaded_bytes=data.get("downloaded_bytes"),
    )


def _upload_error(response: httpx.Response) -> ReelflowError | None:
    if response.status_code in (200, 201, 206, 416):
        return None
    if response.status_code == 403:
        return Permanent("TikTok upload_url expired (valid 1 hour): start a new publish", vendor_code="upload_expired")
    if response.status_code == 404:
        return Permanent("TikTok has no upload task for this upload_url", vendor_code="upload_not_found")
    return v2_error(response)


class PostingClient:
    def __init__(self, access_token: str) -> None:
        self.token = access_token
        self.base = base_url()
        self._account = account_key(access_token)

    def _limit(self, name: str, per_minute: int) -> list[RateLimit]:
        return [RateLimit.per_minute(f"tiktok.post.{name}:{self._account}", per_minute, burst=1)] if per_minute else []

    async def _post(self, path: str, body: dict[str, Any], *, idempotent: bool, limits: list[RateLimit]) -> Any:
        response = await httpclient.request(
            "POST",
            f"{self.base}{path}",
            idempotent=idempotent,
            platform=PLATFORM,
            json=body,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json; charset=UTF-8"},
            error_mapper=v2_error,
            rate_limits=limits,
        )
        return data_of(response)

    async def creator_info(self) -> CreatorInfo:
        data = await self._post(
            "/v2/post/publish/creator_info/query/",
            {},
            idempotent=True,
            limits=self._limit("creator_info", get_settings().quotas.tiktok_creator_info_per_minute),
        )
        return CreatorInfo(
            username=str(data.get("creator_username") or ""),
            nickname=str(data.get("creator_nickname") or ""),
            avatar_url=data.get("creator_avatar_url"),
            privacy_level_options=list(data.get("privacy_level_options") or []),
            comment_disabled=bool(data.get("comment_disabled")),
            duet_disabled=bool(data.get("duet_disabled")),
            stitch_disabled=bool(data.get("stitch_disabled")),
            max_video_post_duration_sec=int(data.get("max_video_post_duration_sec") or 0),
        )

    async def _init(self, post_info: PostInfo | None, source_info: dict[str, Any]) -> PublishInit:
        path = "/v2/post/publish/video/init/" if post_info else "/v2/post/publish/inbox/video/init/"
        body: dict[str, Any] = {"source_info": source_info}
        if post_info is not None:
            body["post_info"] = msgspec.to_builtins(post_info)
        data = await self._post(
            path, body, idempotent=False, limits=self._limit("init", get_settings().quotas.tiktok_post_init_per_minute)
        )
        if not data.get("publish_id"):
            raise Permanent("TikTok init answered without publish_id")
        return PublishInit(publish_id=str(data["publish_id"]), upload_url=data.get("upload_url"))

    async def init_inbox_upload(self, plan: ChunkPlan) -> PublishInit:
        """Upload to the creator's inbox (scope video.upload): they finish the post in the app."""
        return await self._init(None, _file_source(plan))

    async def init_inbox_pull(self, video_url: str) -> PublishInit:
        return await self._init(None, {"source": "PULL_FROM_URL", "video_url": video_url})

    async def init_file_upload(self, post_info: PostInfo, plan: ChunkPlan) -> PublishInit:
        """Direct Post, FILE_UPLOAD: returns publish_id and the upload_url (valid 1 h)."""
        return await self._init(post_info, _file_source(plan))

    async def init_pull_from_url(self, post_info: PostInfo, video_url: str) -> PublishInit:
        """Direct Post, PULL_FROM_URL: the URL's domain must be verified for the app."""
        return await self._init(post_info, {"source": "PULL_FROM_URL", "video_url": video_url})

    async def upload(
        self, upload_url: str, source: Path | bytes, plan: ChunkPlan, *, content_type: str = "video/mp4"
    ) -> int:
        """PUT every chunk in order; returns the bytes the host confirmed (== video_size)."""
        ranges = plan.ranges()
        index = 0
        confirmed = 0
        resumes = 0
        while index < len(ranges):
            first, last = ranges[index]
            chunk = await _read(source, first, last)
            response = await httpclient.request(
                "PUT",
                upload_url,
                idempotent=True,  # the same bytes at the same range
                platform=PLATFORM,
                content=chunk,
                headers={
                    "Content-Type": content_type,
                    "Content-Length": str(len(chunk)),
                    "Content-Range": f"bytes {first}-{last}/{plan.video_size}",
                },
                error_mapper=_upload_error,
                success_statuses={206, 416},
                read_timeout=max(60.0, get_settings().http.timeout_seconds),
            )
            if response.status_code == 416:  # our range is not where the host is: resume from there
                received = _received(response.headers.get("Content-Range"))
                if received == plan.video_size:  # it has every byte: an earlier answer was lost
                    return received
                starts = [r[0] for r in ranges]
                if received is None or received not in starts or resumes >= 3:
                    raise Permanent(f"TikTok upload out of step (host has {received} bytes)")
                resumes += 1
                index = starts.index(received)
                continue
            confirmed = _received(response.headers.get("Content-Range")) or last + 1
            index += 1
        return confirmed

    async def fetch_status(self, publish_id: str, *, handle: str | None = None) -> PublicationStatus:
        data = await self._post(
            "/v2/post/publish/status/fetch/",
            {"publish_id": publish_id},
            idempotent=True,
            limits=self._limit("status", get_settings().quotas.tiktok_post_status_per_minute),
        )
        return map_publish_status(publish_id, data, handle)


def _file_source(plan: ChunkPlan) -> dict[str, Any]:
    return {
        "source": "FILE_UPLOAD",
        "video_size": plan.video_size,
        "chunk_size": plan.chunk_size,
        "total_chunk_count": plan.total_chunk_count,
    }


def _received(content_range: str | None) -> int | None:
    """Bytes the host has, from `Content-Range: bytes 0-{last}/{total}` (or `bytes */total`)."""
    if not content_range:
        return None
    spec = content_range.split(" ", 1)[-1].split("/", 1)[0]
    if spec == "*":
        return 0
    try:
        return int(spec.split("-", 1)[1]) + 1
    except (IndexError, ValueError):
        return None


async def _read(source: Path | bytes, first: int, last: int) -> bytes:
    if isinstance(source, bytes):
        return source[first : last + 1]

    def read() -> bytes:
        with source.open("rb") as handle:
            handle.seek(first)
            return handle.read(last - first + 1)

    return await asyncio.to_thread(read)
