"""TikTok Content Posting API in the sandbox: creator_info, init (FILE_UPLOAD / PULL_FROM_URL),
chunk uploads, status with processing delays and failures."""

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from litestar import Request, Response, get, post, put

from reelflow.sandbox.core import get_state
from reelflow.sandbox.tiktok_common import (
    MAX_CHUNK,
    MAX_FINAL_CHUNK,
    MIN_CHUNK,
    PRIVACY_PUBLIC,
    _avatar,
    _json,
    _user_token,
    fail,
    ok,
    render_error,
)
from reelflow.sandbox.tiktok_oauth import creator_for_open_id
from reelflow.sandbox.world import get_world

# --- Content Posting API -------------------------------------------------------------------


@dataclass
class _Publish:
    publish_id: str
    open_id: str
    source: str
    title: str
    privacy_level: str
    video_size: int = 0
    chunk_size: int = 0
    total_chunk_count: int = 0
    received: int = 0
    upload_id: str = ""
    upload_expires_at: float = 0.0
    video_url: str = ""
    created_at: float = 0.0
    ready_at: float | None = None
    fail_reason: str | None = None
    post_id: int | None = None
    completed_recorded: bool = False
    inbox: bool = False
    seq: int = 0  # the store's counter at init: makes each post's id unique


@dataclass
class _PublishStore:
    by_id: dict[str, _Publish] = field(default_factory=dict)
    by_upload: dict[str, str] = field(default_factory=dict)
    counter: int = 0


def _publishes() -> _PublishStore:
    return get_state().store("tiktok.publishes", _PublishStore)


@post("/tiktok/v2/post/publish/creator_info/query/", status_code=200)
async def creator_info(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _user_token(request, "video.publish")
    if isinstance(token, Response):
        return token
    creator = creator_for_open_id(token.subject)
    return ok(
        {
            "creator_avatar_url": _avatar(request, creator.handle),
            "creator_username": creator.handle,
            "creator_nickname": creator.nickname,
            "privacy_level_options": PRIVACY_PUBLIC,
            "comment_disabled": False,
            "duet_disabled": False,
            "stitch_disabled": creator.idx % 5 == 0,
            "max_video_post_duration_sec": 600,
        }
    )


def chunk_rules_error(size: int, chunk: int, count: int) -> str | None:
    """The Media Transfer Guide's rules; None when the plan is valid."""
    if size <= 0:
        return "video_size must be positive"
    if size < MIN_CHUNK:
        return None if chunk == size and count == 1 else "files under 5 MB must be sent whole"
    if size <= MAX_CHUNK and chunk == size and count == 1:
        return None
    if not MIN_CHUNK <= chunk <= MAX_CHUNK:
        return "chunk size is invalid (5 MB to 64 MB)"
    if count != size // chunk or not 1 <= count <= 1000:
        return "total_chunk_count must be floor(video_size / chunk_size), 1 to 1000"
    if size - chunk * (count - 1) > MAX_FINAL_CHUNK:
        return "the final chunk may not exceed 128 MB"
    return None


@post("/tiktok/v2/post/publish/video/init/", status_code=200)
async def publish_video_init(request: Request[Any, Any, Any]) -> Response[Any]:
    """Direct Post: post_info (privacy required) and source_info."""
    return await _init(request, inbox=False)


@post("/tiktok/v2/post/publish/inbox/video/init/", status_code=200)
async def publish_inbox_init(request: Request[Any, Any, Any]) -> Response[Any]:
    """Upload to the creator's inbox (draft): source_info only; the user posts from the app."""
    return await _init(request, inbox=True)


async def _init(request: Request[Any, Any, Any], *, inbox: bool) -> Response[Any]:
    token = _user_token(request, "video.upload" if inbox else "video.publish")
    if isinstance(token, Response):
        return token
    body = await _json(request)
    if body is None:
        return fail(400, "invalid_param", "The request body is not valid JSON.")
    post_info = body.get("post_info") or {}
    source_info = body.get("source_info") or {}
    privacy = "SELF_ONLY" if inbox else post_info.get("privacy_level")
    if privacy not in PRIVACY_PUBLIC:
        return fail(403, "privacy_level_option_mismatch", "privacy_level is not one of privacy_level_options.")
    title = str(post_info.get("title", ""))
    if len(title.encode("utf-16-le")) // 2 > 2200:
        return fail(400, "invalid_param", "title exceeds 2200 UTF-16 runes.")
    state = get_state()
    store = _publishes()
    source = source_info.get("source")
    now = state.clock.now()
    base = str(request.base_url).rstrip("/")
    store.counter += 1
    if source == "FILE_UPLOAD":
        try:
            size, chunk, count = (int(source_info[k]) for k in ("video_size", "chunk_size", "total_chunk_count"))
        except (KeyError, TypeError, ValueError):
            return fail(400, "invalid_param", "video_size, chunk_size and total_chunk_count are required.")
        problem = chunk_rules_error(size, chunk, count)
        if problem:
            return fail(400, "invalid_param", problem)
        publish_id = f"{'v_inbox_file' if inbox else 'v_pub_file'}~v2-1.{secrets.token_hex(12)}"
        upload_id = secrets.token_hex(16)
        pub = _Publish(
            publish_id,
            token.subject,
            source,
            title,
            privacy,
            size,
            chunk,
            count,
            0,
            upload_id,
            now + 3600,
            created_at=now,
        )
        store.by_upload[upload_id] = publish_id
        upload_url = f"{base}/tiktok-upload/video/?upload_id={upload_id}&upload_token={secrets.token_hex(8)}"
        data = {"publish_id": publish_id, "upload_url": upload_url}
    elif source == "PULL_FROM_URL":
        url = str(source_info.get("video_url", ""))
        parts = urlsplit(url)
        if parts.netloc != urlsplit(base).netloc or not parts.path.startswith("/sandbox/media/"):
            return fail(403, "url_ownership_unverified", "The domain or URL prefix of video_url is not verified.")
        publish_id = f"{'v_inbox_url' if inbox else 'v_pub_url'}~v2-1.{secrets.token_hex(12)}"
        pub = _Publish(publish_id, token.subject, source, title, privacy, video_url=url, created_at=now)
        from reelflow.sandbox.app import MEDIA_DIR

        media = MEDIA_DIR / parts.path.rsplit("/", 1)[-1]
        if not media.is_file():
            pub.fail_reason = "video_pull_failed"
        pub.video_size = media.stat().st_size if media.is_file() else 0
        pub.ready_at = now + float(state.config["tiktok_processing_s"])
        data = {"publish_id": publish_id}
    else:
        return fail(400, "invalid_param", "source_info.source must be FILE_UPLOAD or PULL_FROM_URL.")
    pub.inbox = inbox
    pub.seq = store.counter
    marker = re.search(r"\[fail:([a-z_]+)\]", title)
    if marker:
        pub.fail_reason = marker.group(1)
    store.by_id[publish_id] = pub
    state.record(
        "tiktok.publish.init", publish_id=publish_id, open_id=token.subject, source=source, title=title, inbox=inbox
    )
    return ok(data)


_RANGE = re.compile(r"^bytes (\d+)-(\d+)/(\d+)$")


@put("/tiktok-upload/video/", status_code=201)
async def upload_chunk(request: Request[Any, Any, Any]) -> Response[Any]:
    store = _publishes()
    publish_id = store.by_upload.get(request.query_params.get("upload_id", ""))
    pub = store.by_id.get(publish_id or "")
    state = get_state()
    if pub is None:
        return fail(404, "invalid_params", "No upload task for this upload_id.")
    if pub.upload_expires_at <= state.clock.now():
        return fail(403, "access_denied", "upload_url has expired.")
    if request.headers.get("content-type", "") not in ("video/mp4", "video/quicktime", "video/webm"):
        return fail(400, "invalid_params", "Content-Type must be video/mp4, video/quicktime or video/webm.")
    match = _RANGE.match(request.headers.get("content-range", ""))
    body = await request.body()
    if not match:
        return fail(400, "invalid_params", "Content-Range must be 'bytes {first}-{last}/{total}'.")
    first, last, total = (int(g) for g in match.groups())
    if total != pub.video_size or last - first + 1 != len(body) or last >= total:
        return fail(400, "invalid_params", "Content-Range or Content-Length does not match the upload.")
    if first != pub.received:
        return Response(
            render_error(416, "invalid_params", "Content-Range does not match the upload progress.")[1],
            status_code=416,
            headers={"Content-Range": f"bytes 0-{pub.received - 1}/{total}" if pub.received else f"bytes */{total}"},
        )
    index = first // pub.chunk_size if pub.chunk_size else 0
    final = index == pub.total_chunk_count - 1
    expected = (total - first) if final else pub.chunk_size
    if len(body) != expected:
        return fail(400, "invalid_params", f"chunk {index} must be {expected} bytes.")
    pub.received = last + 1
    state.record(
        "tiktok.upload.chunk",
        publish_id=pub.publish_id,
        first=first,
        last=last,
        total=total,
        sha256=hashlib.sha256(body).hexdigest(),
    )
    headers = {"Content-Range": f"bytes 0-{last}/{total}"}
    if pub.received < total:
        return Response(b"", status_code=206, headers=headers)
    pub.ready_at = state.clock.now() + float(state.config["tiktok_processing_s"])
    if not pub.fail_reason and not pub.inbox:  # all bytes in: this publish becomes a post
        state.record("tiktok.post.created", publish_id=pub.publish_id, open_id=pub.open_id, title=pub.title)
    return Response(b"", status_code=201, headers=headers)


@post("/tiktok/v2/post/publish/status/fetch/", status_code=200)
async def publish_status(request: Request[Any, Any, Any]) -> Response[Any]:
    token = _user_token(request)
    if isinstance(token, Response):
        return token
    if not {"video.publish", "video.upload"} & set(token.scopes):
        return fail(401, "scope_not_authorized", "video.publish or video.upload is required.")
    body = await _json(request) or {}
    pub = _publishes().by_id.get(str(body.get("publish_id", "")))
    if pub is None or pub.open_id != token.subject:
        return fail(400, "invalid_params", "publish_id is invalid.")
    return ok(_status_view(pub))


def _status_view(pub: _Publish) -> dict[str, Any]:
    state = get_state()
    now = state.clock.now()
    data: dict[str, Any] = {}
    if pub.source == "FILE_UPLOAD":
        data["uploaded_bytes"] = pub.received
    else:
        data["downloaded_bytes"] = pub.video_size if pub.ready_at and now >= pub.ready_at else 0
    if pub.ready_at is None or now < pub.ready_at:
        data["status"] = "PROCESSING_UPLOAD" if pub.source == "FILE_UPLOAD" else "PROCESSING_DOWNLOAD"
        return data
    if pub.fail_reason:
        data["status"] = "FAILED"
        data["fail_reason"] = pub.fail_reason
        if not pub.completed_recorded:
            pub.completed_recorded = True
            state.record("tiktok.publish.failed", publish_id=pub.publish_id, reason=pub.fail_reason)
        return data
    if pub.inbox:  # the creator finishes the post in the app
        data["status"] = "SEND_TO_USER_INBOX"
        if not pub.completed_recorded:
            pub.completed_recorded = True
            state.record("tiktok.publish.inbox_delivered", publish_id=pub.publish_id)
        return data
    data["status"] = "PUBLISH_COMPLETE"
    if pub.post_id is None:
        creator = creator_for_open_id(pub.open_id)
        world = get_world()
        for k in range(64):  # skip ids the world would treat as deleted (3% of all ids)
            pub.post_id = world.make_id(int(pub.ready_at), creator.idx, (pub.seq + 97 * k) % 4096)
            if world.stats(pub.post_id, pub.ready_at + 86_400) is not None:
                break
    if not pub.completed_recorded:
        pub.completed_recorded = True
        state.record("tiktok.publish.complete", publish_id=pub.publish_id, post_id=str(pub.post_id))
    # the public id appears only after moderation (a few simulated seconds later)
    moderated = now >= pub.ready_at + 5 and pub.privacy_level == "PUBLIC_TO_EVERYONE"
    data["publicaly_available_post_id"] = [pub.post_id] if moderated else []
    return data


@get("/sandbox/tiktok/posts", sync_to_thread=False)
def sandbox_posts(open_id: str | None = None) -> list[dict[str, Any]]:
    """Every Direct Post that received all its bytes (what the creator's profile would show)."""
    out = []
    for pub in _publishes().by_id.values():
        if pub.inbox or pub.fail_reason or pub.ready_at is None or (open_id and pub.open_id != open_id):
            continue
        out.append({"publish_id": pub.publish_id, "open_id": pub.open_id, "title": pub.title})
    return out


route_handlers = [sandbox_posts, creator_info, publish_video_init, publish_inbox_init, upload_chunk, publish_status]
