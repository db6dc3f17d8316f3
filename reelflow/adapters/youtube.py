"""Google OAuth and YouTube Data API v3: resumable upload, channel, videos.list
(publishing.md §5.3–5.4, §6).

    oauth = GoogleOAuth(redirect_uri)
    url = oauth.authorize_url(YOUTUBE_SCOPES, state=state)     # offline access, consent prompt
    tokens = await oauth.exchange_code(code)                   # refresh_token on first consent
    tokens = await oauth.refresh(tokens.refresh_token)         # invalid_grant → AuthExpired(reauth_required)

    yt = YouTubeClient(tokens.access_token)
    session = await yt.start_upload(VideoMetadata(title=..., privacy_status="private"), size)
    # persist the session URI: nothing exists on YouTube until the final byte
    video_id = await yt.upload(session, path, size)            # resumes from what YouTube has
    status = await yt.video_status(video_id)                   # PublicationStatus
    stats = await yt.fetch_stats(ids)                          # 50 ids per request

    public = YouTubeDataClient()                               # API key: public data, no OAuth
    stats = await public.fetch_stats(ids)                      # videos.list statistics, 50 ids a unit

An expired session (404 on a chunk or probe) raises `UploadSessionExpired`: start a new
session and upload from byte 0 (`upload_video()` does that once by itself).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlencode

import httpx
import msgspec

from reelflow.adapters import httpclient
from reelflow.adapters.ratelimit import DailyQuota, RateLimit
from reelflow.adapters.records import Creator, PublicationStatus, TokenSet, VideoStats
from reelflow.errors import AuthExpired, Permanent, QuotaExhausted, ReelflowError, Retryable
from reelflow.settings import get_settings

PLATFORM = "youtube"
CHUNK_UNIT = 256 * 1024
DEFAULT_CHUNK = 32 * CHUNK_UNIT  # 8 MiB
YOUTUBE_SCOPES = [
    "https://www.googleapis.com/auth/youtube.upload",
    "https://www.googleapis.com/auth/youtube.readonly",
]
Privacy = Literal["public", "private", "unlisted"]


class UploadSessionExpired(Permanent):
    """The resumable session is gone (404/410): start a new one and upload from byte 0."""

    code = "upload_session_expired"


class VideoMetadata(msgspec.Struct, kw_only=True):
    title: str
    description: str = ""
    tags: list[str] = msgspec.field(default_factory=list)
    category_id: str | None = None
    privacy_status: Privacy = "private"
    publish_at: datetime | None = None
    made_for_kids: bool = False
    contains_synthetic_media: bool | None = None

    def resource(self) -> dict[str, Any]:
        snippet: dict[str, Any] = {"title": self.title, "description": self.description}
        if self.tags:
            snippet["tags"] = self.tags
        if self.category_id:
            snippet["categoryId"] = self.category_id
        status: dict[str, Any] = {"privacyStatus": self.privacy_status, "selfDeclaredMadeForKids": self.made_for_kids}
        if self.publish_at:
            status["publishAt"] = self.publish_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.contains_synthetic_media is not None:
            status["containsSyntheticMedia"] = self.contains_synthetic_media
        return {"snippet": snippet, "status": status}


class UploadProgress(msgspec.Struct, kw_only=True):
    received: int  # bytes YouTube has (the next byte to send)
    done: bool
    video_id: str | None = None


def _next_pacific_midnight() -> datetime:
    # YouTube quotas reset at midnight Pacific time; UTC-8 is close enough for a retry hint.
    now = datetime.now(UTC) - timedelta(hours=8)
    return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(hours=8)


def google_error(response: httpx.Response) -> ReelflowError | None:
    """Google's `{"error": {code, message, errors: [{reason}], status}}` and OAuth's flat shape."""
    if response.status_code < 400:
        return None
    try:
        body = msgspec.json.decode(response.content)
    except msgspec.DecodeError:
        return None
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, str):
        description = str(body.get("error_description") or error)
        detail = f"Google OAuth {error}: {description}"
        if error == "invalid_grant":
            return AuthExpired(detail, reauth_required=True, vendor_code=error)
        if response.status_code >= 500:
            return Retryable(detail, vendor_code=error)
        return Permanent(detail, vendor_code=error)
    if not isinstance(error, dict):
        return None
    errors = error.get("errors") or [{}]
    reason = str(errors[0].get("reason") or error.get("status") or "")
    detail = f"YouTube {reason or response.status_code}: {error.get('message', '')}"
    if response.status_code == 401:
        return AuthExpired(detail, vendor_code=reason)
    if reason == "insufficientPermissions":
        return AuthExpired(detail, reauth_required=True, vendor_code=reason)
    if reason in ("quotaExceeded", "uploadLimitExceeded", "dailyLimitExceeded"):
        resets = _next_pacific_midnight()
        return QuotaExhausted(
            detail,
            limit=f"youtube.{reason}",
            resets_at=resets,
            retry_after=(resets - datetime.now(UTC)).total_seconds(),
            vendor_code=reason,
        )
    if (
        reason in ("rateLimitExceeded", "userRateLimitExceeded")
        or response.status_code in (429,)
        or (response.status_code >= 500)
    ):
        return Retryable(detail, vendor_code=reason)
    return Permanent(detail, vendor_code=reason)


def _session_error(response: httpx.Response) -> ReelflowError | None:
    if response.status_code in (404, 410):
        return UploadSessionExpired("YouTube upload session expired: start a new one", vendor_code="notFound")
    return google_error(response)


class GoogleOAuth:
    def __init__(self, redirect_uri: str | None = None) -> None:
        settings = get_settings()
        self.client_id = settings.credential("google_client_id")
        self.client_secret = settings.credential("google_client_secret")
        self.redirect_uri = redirect_uri
        self.base = settings.platform_url("google_oauth_base_url")
        self.authorize_base = settings.platform_url("google_auth_url")

    def authorize_url(self, scopes: Sequence[str], *, state: str, login_hint: str | None = None) -> str:
        params = {
            "client_id": self.client_id,
            "redirect_uri": self.redirect_uri or "",
            "response_type": "code",
            "scope": " ".join(scopes),
            "access_type": "offline",  # a refresh token
            "prompt": "consent select_account",  # re-issue it; show the Brand Account picker
            "include_granted_scopes": "true",
            "state": state,
        }
        if login_hint:
            params["login_hint"] = login_hint
        return f"{self.authorize_base}?{urlencode(params)}"

    async def _token(self, form: dict[str, str]) -> TokenSet:
        response = await httpclient.request(
            "POST",
            f"{self.base}/token",
            idempotent=form["grant_type"] == "refresh_token",  # codes are single-use; Google refresh does not rotate
            platform=PLATFORM,
            data={"client_id": self.client_id, "client_secret": self.client_secret, **form},
            error_mapper=google_error,
        )
        body = httpclient.json_body(response)
        if not isinstance(body, dict) or not body.get("access_token"):
            raise Permanent("Google token answer without access_token")
        now = datetime.now(UTC)
        return TokenSet(
            access_token=str(body["access_token"]),
            expires_at=now + timedelta(seconds=float(body.get("expires_in") or 3600)),
            token_type=str(body.get("token_type") or "Bearer"),
            refresh_token=body.get("refresh_token") or None,
            scopes=str(body.get("scope") or "").split(),
        )

    async def exchange_code(self, code: str, *, redirect_uri: str | None = None) -> TokenSet:
        """Tokens for a consent code; check `scopes`: granular consent may grant fewer."""
        return await self._token(
            {"code": code, "grant_type": "authorization_code", "redirect_uri": redirect_uri or self.redirect_uri or ""}
        )

    async def refresh(self, refresh_token: str) -> TokenSet:
        tokens = await self._token({"grant_type": "refresh_token", "refresh_token": refresh_token})
        if not tokens.refresh_token:  # Google usually sends none: keep the one we have
            tokens.refresh_token = refresh_token
        return tokens

    async def revoke(self, token: str) -> None:
        await httpclient.request(
            "POST",
            f"{self.base}/revoke",
            idempotent=True,
            platform=PLATFORM,
            data={"token": token},
            error_mapper=google_error,
        )


class YouTubeClient:
    def __init__(self, access_token: str) -> None:
        settings = get_settings()
        self.token = access_token
        self.base = settings.platform_url("youtube_base_url")
        self._limits = (
            [RateLimit.per_second("youtube.api", settings.quotas.youtube_per_second)]
            if settings.quotas.youtube_per_second
            else []
        )

    def _headers(self, **extra: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}", **extra}

    async def _my_channel(self, part: str) -> dict[str, Any]:
        """The signed-in account's channel resource with `part`; Permanent when it has none."""
        response = await httpclient.request(
            "GET",
            f"{self.base}/youtube/v3/channels",
            idempotent=True,
            platform=PLATFORM,
            params={"part": part, "mine": "true"},
            headers=self._headers(),
            error_mapper=google_error,
            rate_limits=self._limits,
        )
        items = (httpclient.json_body(response) or {}).get("items") or []
        if not items:
            raise Permanent("this Google account has no YouTube channel", vendor_code="youtubeSignupRequired")
        return dict(items[0])

    async def channel(self) -> Creator:
        item = await self._my_channel("snippet,statistics")
        snippet, stats = item.get("snippet") or {}, item.get("statistics") or {}
        return Creator(
            platform="youtube",
            handle=str(snippet.get("customUrl") or item["id"]).lstrip("@"),
            id=item["id"],
            display_name=snippet.get("title"),
            bio=snippet.get("description"),
            avatar_url=((snippet.get("thumbnails") or {}).get("default") or {}).get("url"),
            followers=int(stats["subscriberCount"]) if stats.get("subscriberCount") else None,
            video_count=int(stats["videoCount"]) if stats.get("videoCount") else None,
            url=f"https://www.youtube.com/channel/{item['id']}",
        )

    async def uploads_playlist(self) -> str:
        """The id of the channel's uploads playlist (`UU…`)."""
        item = await self._my_channel("contentDetails")
        return str(item["contentDetails"]["relatedPlaylists"]["uploads"])

    async def latest_upload_ids(self, limit: int = 50) -> list[str]:
        """Ids of the channel's newest uploads (playlistItems.list on the uploads playlist)."""
        playlist = await self.uploads_playlist()
        response = await httpclient.request(
            "GET",
            f"{self.base}/youtube/v3/playlistItems",
            idempotent=True,
            platform=PLATFORM,
            params={"part": "contentDetails", "playlistId": playlist, "maxResults": str(min(50, limit))},
            headers=self._headers(),
            error_mapper=google_error,
            rate_limits=self._limits,
        )
        items = (httpclient.json_body(response) or {}).get("items") or []
        return [str(i["contentDetails"]["videoId"]) for i in items if (i.get("contentDetails") or {}).get("videoId")]

    async def find_upload_by_tag(self, tag: str, *, limit: int = 50) -> str | None:
        """The id of a recent upload carrying `tag` (a marker set at upload), else None.

        Reconciles an upload whose final answer was lost and whose session is gone: 3 calls,
        3 quota units."""
        ids = await self.latest_upload_ids(limit)
        if not ids:
            return None
        for item in await self.videos(ids, ["snippet"]):
            if tag in ((item.get("snippet") or {}).get("tags") or []):
                return str(item["id"])
        return None

    async def start_upload(
        self, metadata: VideoMetadata, size: int, *, content_type: str = "video/mp4", notify_subscribers: bool = True
    ) -> str:
        """Open a resumable session; returns its URI (safe to repeat: nothing exists yet)."""
        response = await httpclient.request(
            "POST",
            f"{self.base}/upload/youtube/v3/videos",
            idempotent=True,
            platform=PLATFORM,
            params={
                "uploadType": "resumable",
                "part": "snippet,status",
                "notifySubscribers": "true" if notify_subscribers else "false",
            },
            json=metadata.resource(),
            headers=self._headers(**{"X-Upload-Content-Length": str(size), "X-Upload-Content-Type": content_type}),
            error_mapper=google_error,
            rate_limits=self._limits,
        )
        location = response.headers.get("Location")
        if not location:
            raise Permanent("YouTube did not return an upload session URI")
        return str(location)

    async def probe(self, session_uri: str, size: int) -> UploadProgress:
        """Ask the session what it has (`Content-Range: bytes */size`)."""
        response = await httpclient.request(
            "PUT",
            session_uri,
            idempotent=True,
            platform=PLATFORM,
            content=b"",
            headers=self._headers(**{"Content-Range": f"bytes */{size}", "Content-Length": "0"}),
            error_mapper=_session_error,
            success_statuses={308},
        )
        return _progress(response)

    async def upload(
        self,
        session_uri: str,
        source: Path | bytes,
        size: int,
        *,
        chunk_size: int = DEFAULT_CHUNK,
        content_type: str = "video/mp4",
    ) -> str:
        """Send the bytes YouTube does not have yet, in chunks; returns the video id."""
        if chunk_size % CHUNK_UNIT:
            raise ValueError("chunk_size must be a multiple of 256 KiB")
        progress = await self.probe(session_uri, size)
        while not progress.done:
            first = progress.received
            last = min(size, first + chunk_size) - 1
            chunk = await _read(source, first, last)
            response = await httpclient.request(
                "PUT",
                session_uri,
                idempotent=True,
                platform=PLATFORM,
                content=chunk,
                headers=self._headers(
                    **{
                        "Content-Type": content_type,
                        "Content-Length": str(len(chunk)),
                        "Content-Range": f"bytes {first}-{last}/{size}",
                    }
                ),
                error_mapper=_session_error,
                success_statuses={308},
                read_timeout=max(60.0, get_settings().http.timeout_seconds),
            )
            progress = _progress(response)  # trust Range, never assume the chunk arrived
        if not progress.video_id:
            raise Permanent("YouTube finished the upload without a video id")
        return progress.video_id

    async def upload_video(
        self,
        metadata: VideoMetadata,
        source: Path | bytes,
        size: int,
        *,
        on_session: Callable[[str], Awaitable[None]] | None = None,
        chunk_size: int = DEFAULT_CHUNK,
    ) -> str:
        """Start a session (given to `on_session` to persist), upload; one restart on expiry."""
        for attempt in (1, 2):
            session = await self.start_upload(metadata, size)
            if on_session is not None:
                await on_session(session)
            try:
                return await self.upload(session, source, size, chunk_size=chunk_size)
            except UploadSessionExpired:
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    async def videos(self, video_ids: Sequence[str], parts: Sequence[str]) -> list[dict[str, Any]]:
        """videos.list (1 unit per call) in batches of 50 ids; unknown ids are left out."""
        out: list[dict[str, Any]] = []
        ids = list(dict.fromkeys(video_ids))
        for i in range(0, len(ids), 50):
            response = await httpclient.request(
                "GET",
                f"{self.base}/youtube/v3/videos",
                idempotent=True,
                platform=PLATFORM,
                params={"part": ",".join(parts), "id": ",".join(ids[i : i + 50])},
                headers=self._headers(),
                error_mapper=google_error,
                rate_limits=self._limits,
            )
            out.extend((httpclient.json_body(response) or {}).get("items") or [])
        return out

    async def fetch_stats(self, video_ids: Sequence[str]) -> list[VideoStats]:
        return [_stats_of(item) for item in await self.videos(video_ids, ["statistics"])]

    async def video_status(self, video_id: str) -> PublicationStatus:
        items = await self.videos([video_id], ["status", "processingDetails"])
        if not items:
            return PublicationStatus(
                platform="youtube", publish_id=video_id, state="failed", raw_status="missing", fail_reason="deleted"
            )
        status = items[0].get("status") or {}
        processing = (items[0].get("processingDetails") or {}).get("processingStatus")
        upload_status = str(status.get("uploadStatus") or "")
        if upload_status in ("failed", "rejected", "deleted") or processing in ("failed", "terminated"):
            reason = status.get("failureReason") or status.get("rejectionReason") or upload_status
            return PublicationStatus(
                platform="youtube",
                publish_id=video_id,
                state="failed",
                raw_status=upload_status,
                fail_reason=reason,
                post_id=video_id,
            )
        done = upload_status == "processed" or processing == "succeeded"
        return PublicationStatus(
            platform="youtube",
            publish_id=video_id,
            state="published" if done else "processing",
            raw_status=upload_status or str(processing),
            post_id=video_id,
            url=f"https://www.youtube.com/shorts/{video_id}",
        )


class YouTubeDataClient:
    """The YouTube Data API v3 with an API key, for public data (no OAuth): the statistics of
    anyone's public videos, e.g. the Shorts clippers posted on their own channels.

    `videos.list` costs 1 quota unit per call of up to 50 ids. Every call (retries included:
    Google charges them too) is counted against `quotas.youtube_daily_units` client-side
    (Redis, with Postgres as the authority in workers), so the product stops before Google's
    403 `quotaExceeded`; that 403, when it comes anyway, maps to `QuotaExhausted` (a
    `Retryable` whose `retry_after` is the next reset) for the job runtime to schedule. 5xx and
    `rateLimitExceeded` are retried by httpclient, then by the runtime. A video that is deleted,
    private or unknown is simply absent from the answer.
    """

    UNITS_PER_CALL = 1
    MAX_IDS = 50

    def __init__(self, api_key: str | None = None) -> None:
        settings = get_settings()
        self.key = api_key or settings.credential("youtube_api_key")
        self.base = settings.platform_url("youtube_base_url")
        rate = settings.quotas.youtube_per_second
        self._limits = [RateLimit.within_window("youtube.data", rate, 1.0)] if rate else []
        units = settings.quotas.youtube_daily_units
        self._quota = DailyQuota("youtube.data_units", units) if units else None
        self.calls = 0  # videos.list calls made by this client (quota units spent, retries aside)

    async def videos(self, video_ids: Sequence[str], parts: Sequence[str]) -> list[dict[str, Any]]:
        """videos.list in batches of 50 ids (1 unit each); unknown, private or deleted ids are left out."""
        out: list[dict[str, Any]] = []
        ids = list(dict.fromkeys(i for i in video_ids if i))
        for i in range(0, len(ids), self.MAX_IDS):
            self.calls += 1
            response = await httpclient.request(
                "GET",
                f"{self.base}/youtube/v3/videos",
                idempotent=True,
                platform=PLATFORM,
                params={"part": ",".join(parts), "id": ",".join(ids[i : i + self.MAX_IDS]), "key": self.key},
                error_mapper=google_error,
                rate_limits=self._limits,
                quota=self._quota,
            )
            out.extend((httpclient.json_body(response) or {}).get("items") or [])
        return out

    async def fetch_stats(self, video_ids: Sequence[str]) -> list[VideoStats]:
        """Views, likes, comments of public videos (absent ones are not public)."""
        return [_stats_of(item) for item in await self.videos(video_ids, ["statistics"])]


def _stats_of(item: dict[str, Any]) -> VideoStats:
    stats = item.get("statistics") or {}
    return VideoStats(
        platform="youtube",
        video_id=str(item["id"]),
        views=_int(stats.get("viewCount")),
        likes=_int(stats.get("likeCount")),
        comments=_int(stats.get("commentCount")),
        saves=_int(stats.get("favoriteCount")),
        fetched_at=datetime.now(UTC),
    )


def _int(value: Any) -> int | None:
    return int(value) if value not in (None, "") else None


def _progress(response: httpx.Response) -> UploadProgress:
    if response.status_code in (200, 201):
        body = httpclient.json_body(response)
        return UploadProgress(received=-1, done=True, video_id=(body or {}).get("id"))
    header = response.headers.get("Range")  # "bytes=0-N": N+1 bytes received; none: nothing
    received = int(header.rsplit("-", 1)[1]) + 1 if header else 0
    return UploadProgress(received=received, done=False)


async def _read(source: Path | bytes, first: int, last: int) -> bytes:
    if isinstance(source, bytes):
        return source[first : last + 1]

    def read() -> bytes:
        with source.open("rb") as handle:
            handle.seek(first)
            return handle.read(last - first + 1)

    return await asyncio.to_thread(read)
