"""Google OAuth and the YouTube Data API v3 in the sandbox (publishing.md §5.3–5.4).

Prefixes: `/google-accounts` = accounts.google.com (consent page), `/google-oauth` =
oauth2.googleapis.com (token, revoke), `/youtube` = www.googleapis.com (`/youtube/v3/...`
and the resumable upload endpoint `/upload/youtube/v3/videos`).

Upload sessions follow the resumable protocol: 200 + `Location` session URI; chunk PUTs in
multiples of 256 KiB answered 308 with `Range: bytes=0-N`; the final byte creates the video
(201, then 200 on repeats); `bytes */TOTAL` probes; a session older than a simulated day → 404.
Events: `google.oauth.*`, `youtube.upload.session`, `youtube.upload.chunk`, `youtube.video.created`.

`videos.list` also takes an API key (`?key=`, public data, as clipper tracking uses it) and
answers `statistics` for the Shorts of the generated world, like Apify does for TikTok: every
world video has a YouTube id (`short_id(video id)`, 11 characters, reversible), so a clipper's
"posted" Short has views that follow the world's curve over the simulated clock. Deleted or
private ones are left out of `items`, as YouTube does. Each call with a key costs 1 unit of the
key's daily quota (`youtube_daily_units`, default 10,000, per simulated Pacific day); past it,
403 `quotaExceeded`. Knobs in `/sandbox/config`: `youtube_daily_units`, `youtube_gone` ({YouTube
id: reason}: left out), `youtube_views` ({YouTube id: views}: a forced count). Events:
`youtube.videos.list` (number of ids, parts), one per call charged to a key.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
import string
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

import msgspec
from litestar import Request, Response, get, post, put

from reelflow.sandbox import core
from reelflow.sandbox.core import get_state
from reelflow.sandbox.world import get_world, mix64, video_stats

ACCESS_TTL = 3599
SESSION_TTL = 86_400
CHUNK_UNIT = 256 * 1024
STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
}
REASONS = {
    400: "badRequest",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    429: "rateLimitExceeded",
    500: "backendError",
    503: "backendError",
}


def google_error_body(status: int, reason: str | int | None, message: str) -> dict[str, Any]:
    reason = str(reason) if reason and reason != "auth_expired" else REASONS.get(status, "backendError")
    return {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "youtube.api" if status != 401 else "global", "reason": reason}],
            "status": STATUS_NAMES.get(status, "UNKNOWN"),
        }
    }


def render_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
    return status, google_error_body(status, code, message)


def render_oauth_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
    error = str(code) if code and code != "auth_expired" else ("invalid_grant" if status < 500 else "server_error")
    return status, {"error": error, "error_description": message}


core.register_platform("/youtube", render_error)
core.register_platform("/google-oauth", render_oauth_error)
core.register_platform("/google-accounts", render_oauth_error)


def gfail(status: int, reason: str, message: str) -> Response[Any]:
    return Response(google_error_body(status, reason, message), status_code=status)


def ofail(status: int, error: str, description: str) -> Response[Any]:
    return Response({"error": error, "error_description": description}, status_code=status)


@dataclass
class _Channel:
    channel_id: str
    title: str
    creator_idx: int


@dataclass
class _Session:
    upload_id: str
    channel_id: str
    size: int
    content_type: str
    resource: dict[str, Any]
    created_at: float
    received: int = 0
    video_id: str | None = None


@dataclass
class _YouTubeVideo:
    video_id: str
    channel_id: str
    resource: dict[str, Any]
    size: int
    published_at: float
    seed_id: int


@dataclass
class _Store:
    channels: dict[str, _Channel] = field(default_factory=dict)
    sessions: dict[str, _Session] = field(default_factory=dict)
    videos: dict[str, _YouTubeVideo] = field(default_factory=dict)
    consented: set[tuple[str, str]] = field(default_factory=set)


def _store() -> _Store:
    return get_state().store("youtube", _Store)


def _client_ok(client_id: str | None, secret: str | None) -> bool:
    return client_id == core.credential("google_client_id") and secret == core.credential("google_client_secret")


SHORT_ID_KEY = 0x3C6E_F372_FE94_F82B


def short_id(video_id: int) -> str:
    """The YouTube id (11 characters of base64url, like YouTube's) of a world video."""
    raw = ((video_id ^ SHORT_ID_KEY) & ((1 << 64) - 1)).to_bytes(8, "big")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def from_short_id(value: str) -> int | None:
    """The world video behind a YouTube id made by `short_id`, else None."""
    if len(value) != 11:
        return None
    try:
        raw = base64.urlsafe_b64decode(value + "=")
    except (ValueError, TypeError):
        return None
    video_id = int.from_bytes(raw, "big") ^ SHORT_ID_KEY
    return video_id if short_id(video_id) == value else None


def _world_item(video_id: str, parts: set[str], now: float) -> dict[str, Any] | None:
    """A clipper's Short (a world video under its YouTube id): None when deleted or private."""
    config = get_state().config
    world_id = from_short_id(video_id)
    if world_id is None or video_id in (config.get("youtube_gone") or {}):
        return None
    stats = get_world().stats(world_id, now)
    if stats is None:
        return None
    views = (config.get("youtube_views") or {}).get(video_id)
    video = get_world().video(world_id)
    item: dict[str, Any] = {"kind": "youtube#video", "etag": secrets.token_hex(8), "id": video_id}
    if "snippet" in parts:
        item["snippet"] = {
            "publishedAt": datetime.fromtimestamp(video.create_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channelId": _channel_id(video.author.idx),
            "title": video.description[:100],
            "channelTitle": video.author.nickname,
        }
    if "status" in parts:
        item["status"] = {"uploadStatus": "processed", "privacyStatus": "public"}
    if "statistics" in parts:
        item["statistics"] = {
            "viewCount": str(int(views) if views is not None else stats.views),
            "likeCount": str(stats.likes),
            "favoriteCount": "0",
            "commentCount": str(stats.comments),
        }
    return item


def _charge_key(key: str, units: int) -> bool:
    """Count `units` against the key's quota for the simulated Pacific day; False when over."""
    state = get_state()
    day = datetime.fromtimestamp(state.clock.now() - 8 * 3600, UTC).date().isoformat()
    used: dict[tuple[str, str], int] = state.store("youtube_units", dict)
    limit = int(state.config.get("youtube_daily_units", 10_000))
    if used.get((key, day), 0) + units > limit:
        return False
    used[(key, day)] = used.get((key, day), 0) + units
    return True


def _channel_id(idx: int) -> str:
    alphabet = string.ascii_letters + string.digits + "-_"
    value = mix64(idx * 1_000_003 + 17)
    out = ""
    for _ in range(22):
        value, rem = divmod(value, 64)
        out += alphabet[rem]
        value = value or mix64(idx + len(out))
    return "UC" + out


@get("/google-accounts/o/oauth2/v2/auth", sync_to_thread=False)
def google_authorize(request: Request[Any, Any, Any]) -> Response[Any]:
    q = request.query_params
    redirect_uri = q.get("redirect_uri") or ""
    if q.get("client_id") != core.credential("google_client_id") or not redirect_uri:
        return ofail(400, "invalid_client", "The OAuth client was not found.")
    world = get_world()
    wanted = world.by_handle.get(q.get("login_hint") or q.get("sandbox_user") or "")
    seed = int(hashlib.blake2b((q.get("state") or "").encode(), digest_size=4).hexdigest(), 16)
    creator = wanted or world.creators[seed % min(97, len(world.creators))]
    store = _store()
    channel_id = _channel_id(creator.idx)
    store.channels[channel_id] = _Channel(channel_id, creator.nickname, creator.idx)
    scopes = (q.get("scope") or "").split()
    first_consent = (channel_id, q.get("client_id", "")) not in store.consented
    store.consented.add((channel_id, q.get("client_id", "")))
    offline = q.get("access_type") == "offline" and (first_consent or "consent" in (q.get("prompt") or ""))
    code = get_state().tokens.issue(
        "code",
        channel_id,
        ttl=600,
        scopes=scopes,
        client=q.get("client_id", ""),
        redirect_uri=redirect_uri,
        offline=offline,
    )
    get_state().record("google.oauth.authorized", channel_id=channel_id, scopes=scopes)
    params = {"code": code.value, "scope": " ".join(scopes), "state": q.get("state", "")}
    return Response(b"", status_code=302, headers={"Location": f"{redirect_uri}?{urlencode(params)}"})


@post("/google-oauth/token", status_code=200)
async def google_token(request: Request[Any, Any, Any]) -> Response[Any]:
    form = dict(parse_qsl((await request.body()).decode()))
    if not _client_ok(form.get("client_id"), form.get("client_secret")):
        return ofail(401, "invalid_client", "The OAuth client was not found.")
    tokens = get_state().tokens
    grant = form.get("grant_type")
    client = form.get("client_id", "")
    if grant == "authorization_code":
        code = tokens.check(form.get("code"), kind="code")
        if code is None or code.used or code.extra.get("redirect_uri") != form.get("redirect_uri"):
            return ofail(400, "invalid_grant", "Malformed auth code.")
        code.used = True
        access = tokens.issue("access", code.subject, ttl=ACCESS_TTL, prefix="ya29.", scopes=code.scopes, client=client)
        body: dict[str, Any] = {
            "access_token": access.value,
            "expires_in": ACCESS_TTL,
            "scope": " ".join(code.scopes),
            "token_type": "Bearer",
            "id_token": "sandbox." + secrets.token_urlsafe(16),
        }
        if code.extra.get("offline"):
            issued = tokens.issue(
                "refresh", code.subject, ttl=10 * 365 * 86_400, prefix="1//", scopes=code.scopes, client=client
            )
            body["refresh_token"] = issued.value
        return Response(body)
    if grant == "refresh_token":
        refresh = tokens.check(form.get("refresh_token"), kind="refresh")
        if refresh is None or refresh.client != client:
            return ofail(400, "invalid_grant", "Token has been expired or revoked.")
        access = tokens.issue(
            "access", refresh.subject, ttl=ACCESS_TTL, prefix="ya29.", scopes=refresh.scopes, client=client
        )
        get_state().record("google.oauth.refreshed", channel_id=refresh.subject)
        return Response(
            {
                "access_token": access.value,
                "expires_in": ACCESS_TTL,
                "scope": " ".join(refresh.scopes),
                "token_type": "Bearer",
            }
        )
    return ofail(400, "unsupported_grant_type", f"Invalid grant_type: {grant}")


@post("/google-oauth/revoke", status_code=200)
async def google_revoke(request: Request[Any, Any, Any]) -> Response[Any]:
    form = dict(parse_qsl((await request.body()).decode()))
    value = form.get("token") or request.query_params.get("token")
    state = get_state()
    token = state.tokens.get(value)
    if token is None:
        return ofail(400, "invalid_token", "Token expired or revoked")
    for other in state.tokens.all():  # revoking either token ends the grant
        if other.subject == token.subject and other.client == token.client:
            other.revoked = True
    state.record("google.oauth.revoked", channel_id=token.subject)
    return Response({})


def _auth(request: Request[Any, Any, Any], *scopes: str) -> core.Token | Response[Any]:
    token = get_state().tokens.check(core.bearer(request.headers.get("authorization")))
    if token is None:
        return gfail(401, "authError", "Request had invalid authentication credentials.")
    granted = {s.rsplit("/", 1)[-1] for s in token.scopes}
    if scopes and not granted.intersection(scopes):
        return gfail(403, "insufficientPermissions", "Request had insufficient authentication scopes.")
    return token


@get("/youtube/youtube/v3/channels", sync_to_thread=False)
def channels_list(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _auth(request, "youtube.readonly", "youtube", "youtube.upload", "youtube.force-ssl")
    if isinstance(token, Response):
        return token
    channel = _store().channels.get(token.subject)
    if channel is None:
        return Response({"kind": "youtube#channelListResponse", "items": [], "pageInfo": {"totalResults": 0}})
    creator = get_world().creators[channel.creator_idx]
    videos = [v for v in _store().videos.values() if v.channel_id == channel.channel_id]
    item = {
        "kind": "youtube#channel",
        "id": channel.channel_id,
        "contentDetails": {"relatedPlaylists": {"uploads": "UU" + channel.channel_id[2:]}},
        "snippet": {
            "title": channel.title,
            "description": creator.bio,
            "customUrl": "@" + creator.handle,
            "thumbnails": {"default": {"url": f"{str(request.base_url).rstrip('/')}/sandbox/media/avatar.jpg"}},
        },
        "statistics": {
            "viewCount": str(creator.likes * 3),
            "subscriberCount": str(creator.followers),
            "hiddenSubscriberCount": False,
            "videoCount": str(len(videos)),
        },
    }
    return Response(
        {"kind": "youtube#channelListResponse", "items": [item], "pageInfo": {"totalResults": 1, "resultsPerPage": 5}}
    )


_TITLE_BAD = re.compile(r"[<>]")


@post("/youtube/upload/youtube/v3/videos", status_code=200)
async def upload_start(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _auth(request, "youtube.upload", "youtube", "youtube.force-ssl")
    if isinstance(token, Response):
        return token
    if request.query_params.get("uploadType") != "resumable":
        return gfail(400, "badRequest", "Only uploadType=resumable is supported by the sandbox.")
    try:
        size = int(request.headers.get("x-upload-content-length", ""))
    except ValueError:
        return gfail(400, "badRequest", "X-Upload-Content-Length is required.")
    try:
        resource = msgspec.json.decode(await request.body()) or {}
    except msgspec.DecodeError:
        return gfail(400, "parseError", "Parse Error")
    snippet = resource.get("snippet") or {}
    title = str(snippet.get("title") or "")
    if not title or len(title) > 100 or _TITLE_BAD.search(title):
        return gfail(400, "invalidTitle", "The request metadata specifies an invalid or empty video title.")
    if len(str(snippet.get("description") or "").encode()) > 5000:
        return gfail(400, "invalidDescription", "The request metadata specifies an invalid video description.")
    privacy = (resource.get("status") or {}).get("privacyStatus", "public")
    if privacy not in ("public", "private", "unlisted"):
        return gfail(400, "invalidVideoMetadata", "privacyStatus must be public, private or unlisted.")
    state = get_state()
    upload_id = "ADPycd" + secrets.token_urlsafe(24)
    _store().sessions[upload_id] = _Session(
        upload_id,
        token.subject,
        size,
        request.headers.get("x-upload-content-type", "video/*"),
        resource,
        state.clock.now(),
    )
    state.record("youtube.upload.session", upload_id=upload_id, channel_id=token.subject, title=title)
    base = str(request.base_url).rstrip("/")
    location = f"{base}/youtube/upload/youtube/v3/videos?uploadType=resumable&upload_id={upload_id}"
    return Response(b"", status_code=200, headers={"Location": location, "X-GUploader-UploadID": upload_id})


_CONTENT_RANGE = re.compile(r"^bytes (?:(\d+)-(\d+)|\*)/(\d+|\*)$")


@put("/youtube/upload/youtube/v3/videos", status_code=200)
async def upload_put(request: Request[Any, Any, Any]) -> Response[Any]:
    store = _store()
    state = get_state()
    session = store.sessions.get(request.query_params.get("upload_id", ""))
    if session is None or session.created_at + SESSION_TTL <= state.clock.now():
        return gfail(404, "notFound", "The upload session was not found or has expired.")
    if session.video_id is not None:  # finished: the API repeats its final answer
        return Response(store.videos[session.video_id].resource, status_code=200)
    body = await request.body()
    header = request.headers.get("content-range")
    if header is None:
        first, last, total = 0, len(body) - 1, session.size
    else:
        match = _CONTENT_RANGE.match(header.strip())
        if not match:
            return gfail(400, "badRequest", "Invalid Content-Range.")
        total = int(match.group(3)) if match.group(3) != "*" else session.size
        if match.group(1) is None:  # a status probe: bytes */TOTAL
            return _resume_incomplete(session)
        first, last = int(match.group(1)), int(match.group(2))
    if total != session.size or last - first + 1 != len(body):
        return gfail(400, "badRequest", "Content-Range does not match the body or the declared size.")
    if first != session.received:  # not where we are: say where we are, keep nothing
        return _resume_incomplete(session)
    final = last + 1 == total
    if not final and len(body) % CHUNK_UNIT:
        return gfail(400, "badRequest", "Chunks must be a multiple of 256 KiB except the last one.")
    session.received = last + 1
    state.record("youtube.upload.chunk", upload_id=session.upload_id, first=first, last=last, total=total)
    if not final:
        return _resume_incomplete(session)
    return Response(_create_video(request, session), status_code=201)


def _resume_incomplete(session: _Session) -> Response[Any]:
    headers = {"Range": f"bytes=0-{session.received - 1}"} if session.received else {}
    return Response(b"", status_code=308, headers=headers)


def _create_video(request: Request[Any, Any, Any], session: _Session) -> dict[str, Any]:
    state = get_state()
    now = state.clock.now()
    alphabet = string.ascii_letters + string.digits + "-_"
    video_id = "".join(secrets.choice(alphabet) for _ in range(11))
    snippet = dict(session.resource.get("snippet") or {})
    status = dict(session.resource.get("status") or {})
    status.setdefault("privacyStatus", "public")
    channel = _store().channels.get(session.channel_id)
    snippet.update(
        {
            "publishedAt": datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "channelId": session.channel_id,
            "channelTitle": channel.title if channel else "",
        }
    )
    resource = {
        "kind": "youtube#video",
        "etag": secrets.token_hex(8),
        "id": video_id,
        "snippet": snippet,
        "status": {**status, "uploadStatus": "uploaded"},
    }
    seed_id = (int(now) << 32) | (
        mix64(int(hashlib.blake2b(video_id.encode(), digest_size=4).hexdigest(), 16)) & 0xFFFFFFFF
    )
    _store().videos[video_id] = _YouTubeVideo(video_id, session.channel_id, resource, session.size, now, seed_id)
    session.video_id = video_id
    state.record("youtube.video.created", video_id=video_id, upload_id=session.upload_id, channel_id=session.channel_id)
    return resource


@get("/youtube/youtube/v3/videos", sync_to_thread=False)
def videos_list(request: Request[Any, Any, Any]) -> Response[Any]:
    key = request.query_params.get("key")
    if key is not None and not request.headers.get("authorization"):
        if key != core.credential("youtube_api_key"):
            return gfail(400, "keyInvalid", "API key not valid. Please pass a valid API key.")
    else:
        token = _auth(request, "youtube.readonly", "youtube", "youtube.force-ssl")
        if isinstance(token, Response):
            return token
        key = None
    parts = {p.strip() for p in (request.query_params.get("part") or "").split(",") if p.strip()}
    if not parts:
        return gfail(400, "required", "Required parameter: part")
    ids = [i for i in (request.query_params.get("id") or "").split(",") if i]
    if len(ids) > 50:
        return gfail(400, "badRequest", "At most 50 ids per request.")
    state = get_state()
    if key is not None:
        if not _charge_key(key, 1):
            return gfail(
                403,
                "quotaExceeded",
                "The request cannot be completed because you have exceeded your quota.",
            )
        state.record("youtube.videos.list", ids=len(ids), parts=sorted(parts))
    now = state.clock.now()
    processing_s = float(state.config.get("youtube_processing_s", 30))
    items = []
    for video_id in ids:
        video = _store().videos.get(video_id)
        if video is None:
            world_item = _world_item(video_id, parts, now)
            if world_item is not None:
                items.append(world_item)
            continue
        item: dict[str, Any] = {"kind": "youtube#video", "etag": video.resource["etag"], "id": video_id}
        done = now >= video.published_at + processing_s
        if "snippet" in parts:
            item["snippet"] = video.resource["snippet"]
        if "status" in parts:
            item["status"] = {**video.resource["status"], "uploadStatus": "processed" if done else "uploaded"}
        if "processingDetails" in parts:
            item["processingDetails"] = {"processingStatus": "succeeded" if done else "processing"}
        if "statistics" in parts:
            channel = _store().channels.get(video.channel_id)
            followers = get_world().creators[channel.creator_idx].followers if channel else 1000
            stats = video_stats(get_world().seed, video.seed_id, followers, now) if done else None
            item["statistics"] = {
                "viewCount": str(stats.views if stats else 0),
                "likeCount": str(stats.likes if stats else 0),
                "favoriteCount": "0",
                "commentCount": str(stats.comments if stats else 0),
            }
        items.append(item)
    return Response(
        {
            "kind": "youtube#videoListResponse",
            "etag": secrets.token_hex(8),
            "items": items,
            "pageInfo": {"totalResults": len(items), "resultsPerPage": len(items)},
        }
    )


@get("/youtube/youtube/v3/playlistItems", sync_to_thread=False)
def playlist_items(request: Request[Any, Any, Any]) -> Response[Any]:
    """The uploads playlist (`UU…`) of a channel, newest first (maxResults ≤ 50, pageToken)."""
    token = _auth(request, "youtube.readonly", "youtube", "youtube.force-ssl")
    if isinstance(token, Response):
        return token
    playlist = request.query_params.get("playlistId") or ""
    if not playlist.startswith("UU"):
        return gfail(404, "playlistNotFound", "The playlist identified with the request's playlistId cannot be found.")
    channel_id = "UC" + playlist[2:]
    try:
        size = max(1, min(50, int(request.query_params.get("maxResults") or 5)))
        start = int(request.query_params.get("pageToken") or 0)
    except ValueError:
        return gfail(400, "invalidParameter", "maxResults and pageToken must be integers.")
    videos = sorted(
        (v for v in _store().videos.values() if v.channel_id == channel_id),
        key=lambda v: (v.published_at, v.video_id),
        reverse=True,
    )
    page = videos[start : start + size]
    items = [
        {
            "kind": "youtube#playlistItem",
            "id": f"{playlist}.{v.video_id}",
            "contentDetails": {"videoId": v.video_id},
            "snippet": {"title": v.resource["snippet"].get("title"), "resourceId": {"videoId": v.video_id}},
        }
        for v in page
    ]
    body: dict[str, Any] = {"kind": "youtube#playlistItemListResponse", "items": items}
    if start + size < len(videos):
        body["nextPageToken"] = str(start + size)
    return Response(body)


@get("/sandbox/youtube/videos", sync_to_thread=False)
def sandbox_videos(channel_id: str | None = None) -> list[dict[str, Any]]:
    """Every video created by an upload (what the channel would show)."""
    return [
        {"video_id": v.video_id, "channel_id": v.channel_id, "title": v.resource["snippet"].get("title")}
        for v in _store().videos.values()
        if channel_id is None or v.channel_id == channel_id
    ]


route_handlers = [
    playlist_items,
    sandbox_videos,
    google_authorize,
    google_token,
    google_revoke,
    channels_list,
    upload_start,
    upload_put,
    videos_list,
]
