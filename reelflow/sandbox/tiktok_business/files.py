"""Sandbox TikTok Business: video upload by file (MD5 signature, unique names)."""

from __future__ import annotations

import hashlib
from datetime import timedelta
from typing import Any

from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile

from reelflow.sandbox.tiktok_business.base import (
    API,
    PREFIX,
    BizError,
    _advertiser,
    _fmt,
    _json_param,
    _ok,
    _page,
    _require_token,
    state,
)

# --- video upload --------------------------------------------------------------------------------


def _probe(content: bytes) -> dict[str, Any]:
    """Duration and size of the uploaded video (PyAV); unreadable files get no metadata."""
    import io

    import av

    try:
        with av.open(io.BytesIO(content), mode="r") as container:
            duration = float(container.duration / 1_000_000) if container.duration else None
            meta: dict[str, Any] = {"duration": duration, "format": (container.format.name or "").split(",")[0]}
            if container.streams.video:
                video = container.streams.video[0]
                meta.update(width=video.width, height=video.height)
            return meta
    except (av.FFmpegError, ValueError, StopIteration):
        return {}


@post(f"{PREFIX}{API}/file/video/ad/upload/", status_code=200)
async def video_upload(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    form = await request.form()
    advertiser = _advertiser(token, st, form.get("advertiser_id"))
    upload_type = form.get("upload_type") or "UPLOAD_BY_FILE"
    if upload_type != "UPLOAD_BY_FILE":
        raise BizError(40009, f"{upload_type} is not supported in the sandbox.")
    upload = form.get("video_file")
    if not isinstance(upload, UploadFile):
        raise BizError(40002, "video_file: Missing data for required field.")
    signature = str(form.get("video_signature") or "").lower()
    if not signature:
        raise BizError(40002, "video_signature: Missing data for required field.")
    content = await upload.read()
    if not content:
        raise BizError(40906, "The file is empty.")
    if len(content) > 500 * 1024 * 1024:
        raise BizError(40907, "The file is too large.")
    if hashlib.md5(content).hexdigest() != signature:  # the API's own checksum, not security
        raise BizError(40900, "video_signature does not match the file's MD5.")
    file_name = str(form.get("file_name") or upload.filename or "video.mp4")
    if not 1 <= len(file_name) <= 100:
        raise BizError(40002, "file_name: Length must be between 1 and 100.")
    if any(v["advertiser_id"] == advertiser and v["file_name"] == file_name for v in st.videos.values()):
        raise BizError(40911, f"Material name {file_name} already exists.")
    video_id = st.next_id("video")
    now = st.now()
    meta = _probe(content)
    video = {
        "video_id": video_id,
        "advertiser_id": advertiser,
        "file_name": file_name,
        "signature": signature,
        "size": len(content),
        "duration": meta.get("duration"),
        "width": meta.get("width"),
        "height": meta.get("height"),
        "format": meta.get("format") or "mp4",
        "bit_rate": None,
        "material_id": str(7_400_000_000_000_000_000 + st.counters["video"]),
        "video_cover_url": f"https://sandbox.invalid/covers/{video_id}.jpg",
        "preview_url": f"https://sandbox.invalid/previews/{video_id}.mp4",
        "preview_url_expire_time": _fmt(now + timedelta(hours=6)),
        "displayable": True,
        "allowed_placements": ["PLACEMENT_TIKTOK"],
        "allow_download": False,
        "create_time": _fmt(now),
        "modify_time": _fmt(now),
    }
    st.videos[video_id] = video
    st.record("upload", "video", video_id, {"file_name": file_name, "size": len(content)})
    return _ok([{k: v for k, v in video.items() if k != "advertiser_id"}])  # data is an array


@get(f"{PREFIX}{API}/file/video/ad/search/", sync_to_thread=False)
def video_search(request: Request[Any, Any, Any]) -> Response[Any]:
    """The advertiser's videos, filtered by ``video_ids`` or ``video_name`` (paged)."""
    st = state()
    token = _require_token(request, st)
    advertiser = _advertiser(token, st, request.query_params.get("advertiser_id"))
    filtering = _json_param(request, "filtering", {}) or {}
    if not isinstance(filtering, dict):
        raise BizError(40002, "filtering: Must be a JSON object.")
    videos = [v for v in st.videos.values() if v["advertiser_id"] == advertiser]
    if filtering.get("video_ids"):
        wanted = {str(v) for v in filtering["video_ids"]}
        videos = [v for v in videos if v["video_id"] in wanted]
    if filtering.get("video_name"):
        videos = [v for v in videos if str(filtering["video_name"]) in v["file_name"]]
    page = _page([{k: v for k, v in video.items() if k != "advertiser_id"} for video in videos], request, 100)
    return _ok(page)
