"""Apify's `clockworks~tiktok-scraper` in the sandbox (`/apify` = api.apify.com, platform-apis.md §3).

`POST /v2/acts/{actor}/run-sync-get-dataset-items` with the actor input as the body and the
token as `?token=` or `Authorization: Bearer`; answers the dataset items as a JSON array
(camelCase, counters at the top level). `postURLs` may be canonical video URLs or `/t/...`
short links; a deleted/private post comes back as an item with `error`.

Asynchronous runs (what batches use; run-sync times out at 300 s with a 408):
`POST /v2/acts/{actor}/runs` → `{"data": {"id", "status": "RUNNING", "defaultDatasetId"}}`;
`GET /v2/actor-runs/{id}[?waitForFinish=S]` → the run (held up to S ≤ 60 s until it ends),
its status `SUCCEEDED` once its simulated duration
has passed, or `FAILED`; `GET /v2/datasets/{id}/items` → the items, read at the run's finish
time (reading again answers the same items). Knobs in `/sandbox/config`:
`apify_run_seconds` (base duration, default 0.2), `apify_run_seconds_per_url` (default 0),
`apify_fail_runs` (the next N runs end `FAILED`), `apify_gone` ({video id: reason}: reported
deleted/private), `apify_views` ({video id: views}: a forced count, e.g. one that goes down).
Events: `apify.run.start`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msgspec
from litestar import Request, Response, get, post

from reelflow.sandbox import core
from reelflow.sandbox.core import get_state
from reelflow.sandbox.world import from_short_code, get_world

ACTORS = {"clockworks~tiktok-scraper", "clockworks/tiktok-scraper"}
_VIDEO = re.compile(r"/video/(\d+)")


def render_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
    kind = (
        str(code)
        if code
        else {401: "token-not-valid", 404: "record-not-found", 429: "rate-limit-exceeded"}.get(status, "internal-error")
    )
    return status, {"error": {"type": kind, "message": message}}


core.register_platform("/apify", render_error)


def _fail(status: int, kind: str, message: str) -> Response[Any]:
    return Response(render_error(status, kind, message)[1], status_code=status)


def video_id_from_url(url: str) -> int | None:
    parts = urlsplit(url)
    match = _VIDEO.search(parts.path)
    if match:
        return int(match.group(1))
    segments = [s for s in parts.path.split("/") if s]
    if segments and (segments[0] == "t" or parts.netloc.startswith(("vm.", "vt."))):
        return from_short_code(segments[-1])
    return None


def item_for(request: Request[Any, Any, Any], url: str, now: float) -> dict[str, Any]:
    vid = video_id_from_url(url)
    world = get_world()
    stats = world.stats(vid, now) if vid else None
    config = get_state().config
    if vid is not None and str(vid) in (config.get("apify_gone") or {}):
        stats = None
    if vid is None or stats is None:
        return {"url": url, "submittedVideoUrl": url, "error": "Post not found or private"}
    override = (config.get("apify_views") or {}).get(str(vid))
    if override is not None:
        stats = dataclasses.replace(stats, views=int(override))
    video = world.video(vid)
    c = video.author
    base = str(request.base_url).rstrip("/")
    web = f"https://www.tiktok.com/@{c.handle}/video/{vid}"
    return {
        "id": str(vid),
        "text": video.description,
        "textLanguage": "en",
        "createTime": video.create_time,
        "createTimeISO": datetime.fromtimestamp(video.create_time, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        "locationCreated": video.region,
        "isAd": False,
        "isSponsored": False,
        "isPinned": False,
        "isSlideshow": False,
        "webVideoUrl": web,
        "mediaUrls": [],
        "submittedVideoUrl": url,
        "playCount": stats.views,
        "diggCount": stats.likes,
        "shareCount": stats.shares,
        "commentCount": stats.comments,
        "collectCount": stats.saves,
        "authorMeta": {
            "id": c.user_id,
            "name": c.handle,
            "nickName": c.nickname,
            "profileUrl": f"https://www.tiktok.com/@{c.handle}",
            "verified": c.verified,
            "signature": c.bio,
            "bioLink": c.bio_url,
            "avatar": f"{base}/sandbox/media/avatar.jpg",
            "privateAccount": False,
            "following": c.following,
            "fans": c.followers,
            "heart": c.likes,
            "video": c.video_count,
            "digg": 0,
        },
        "musicMeta": {
            "musicId": str(video.music_id),
            "musicName": "original sound",
            "musicAuthor": c.nickname,
            "musicOriginal": True,
        },
        "videoMeta": {
            "height": video.height,
            "width": video.width,
            "duration": video.duration,
            "coverUrl": f"{base}/sandbox/media/cover.jpg",
            "definition": "720p",
            "format": "mp4",
        },
        "hashtags": [{"name": t} for t in video.hashtags],
        "mentions": [],
    }


@post("/apify/v2/acts/{actor:str}/run-sync-get-dataset-items", status_code=201)
async def run_sync_get_dataset_items(request: Request[Any, Any, Any], actor: str) -> Response[Any]:
    token = request.query_params.get("token") or core.bearer(request.headers.get("authorization"))
    if token != core.credential("apify_token"):
        return _fail(401, "token-not-valid", "Authentication token is not valid.")
    if actor not in ACTORS:
        return _fail(404, "record-not-found", "Actor was not found")
    try:
        body = msgspec.json.decode(await request.body()) or {}
    except msgspec.DecodeError:
        return _fail(400, "invalid-input", "Input is not valid JSON")
    urls = body.get("postURLs") or []
    if not isinstance(urls, list) or not urls:
        return _fail(400, "invalid-input", "Input: postURLs must be a non-empty array (the sandbox runs only those)")
    now = get_state().clock.now()
    items = [item_for(request, str(u), now) for u in urls]
    get_state().record("apify.run", actor=actor, urls=len(urls))
    return Response(items, status_code=201)


def _runs() -> dict[str, dict[str, Any]]:
    return get_state().store("apify_runs", dict)


def _authorised(request: Request[Any, Any, Any]) -> bool:
    token = request.query_params.get("token") or core.bearer(request.headers.get("authorization"))
    return token == core.credential("apify_token")


def _run_view(run: dict[str, Any], now: float) -> dict[str, Any]:
    done = now >= run["finishes_at"]
    status = ("FAILED" if run["fail"] else "SUCCEEDED") if done else "RUNNING"
    return {
        "id": run["id"],
        "actId": run["actor"],
        "status": status,
        "defaultDatasetId": run["dataset_id"],
        "startedAt": datetime.fromtimestamp(run["started_at"], UTC).isoformat(),
        "finishedAt": datetime.fromtimestamp(run["finishes_at"], UTC).isoformat() if done else None,
        "stats": {"inputUrls": len(run["urls"])},
    }


@post("/apify/v2/acts/{actor:str}/runs", status_code=201)
async def start_run(request: Request[Any, Any, Any], actor: str) -> Response[Any]:
    if not _authorised(request):
        return _fail(401, "token-not-valid", "Authentication token is not valid.")
    if actor not in ACTORS:
        return _fail(404, "record-not-found", "Actor was not found")
    try:
        body = msgspec.json.decode(await request.body()) or {}
    except msgspec.DecodeError:
        return _fail(400, "invalid-input", "Input is not valid JSON")
    urls = body.get("postURLs") or []
    if not isinstance(urls, list) or not urls:
        return _fail(400, "invalid-input", "Input: postURLs must be a non-empty array (the sandbox runs only those)")
    state = get_state()
    config = state.config
    now = state.clock.now()
    fail = int(config.get("apify_fail_runs", 0) or 0) > 0
    if fail:
        config["apify_fail_runs"] = int(config["apify_fail_runs"]) - 1
    duration = float(config.get("apify_run_seconds", 0.2)) + float(config.get("apify_run_seconds_per_url", 0.0)) * len(
        urls
    )
    seq = state.next_seq()
    run: dict[str, Any] = {
        "id": f"run{seq:08d}{secrets.token_hex(4)}",
        "dataset_id": f"ds{seq:08d}{secrets.token_hex(4)}",
        "actor": actor,
        "urls": [str(u) for u in urls],
        "started_at": now,
        "finishes_at": now + duration,
        "fail": fail,
    }
    _runs()[run["id"]] = run
    _runs()["dataset:" + run["dataset_id"]] = run
    state.record("apify.run.start", actor=actor, run_id=run["id"], urls=len(urls))
    return Response({"data": _run_view(run, now)}, status_code=201)


@get("/apify/v2/actor-runs/{run_id:str}")
async def get_run(request: Request[Any, Any, Any], run_id: str) -> Response[Any]:
    if not _authorised(request):
        return _fail(401, "token-not-valid", "Authentication token is not valid.")
    run = _runs().get(run_id)
    if run is None:
        return _fail(404, "record-not-found", "Actor run was not found")
    try:  # Apify's long poll: hold the answer until the run finishes, at most 60 s
        wait = min(60.0, max(0.0, float(request.query_params.get("waitForFinish") or 0)))
    except ValueError:
        wait = 0.0
    left = run["finishes_at"] - get_state().clock.now()
    if wait > 0 and left > 0:
        await asyncio.sleep(min(wait, left))
    return Response({"data": _run_view(run, get_state().clock.now())})


@get("/apify/v2/datasets/{dataset_id:str}/items")
async def dataset_items(request: Request[Any, Any, Any], dataset_id: str) -> Response[Any]:
    if not _authorised(request):
        return _fail(401, "token-not-valid", "Authentication token is not valid.")
    run = _runs().get("dataset:" + dataset_id)
    if run is None:
        return _fail(404, "record-not-found", "Dataset was not found")
    now = get_state().clock.now()
    if run["fail"] or now < run["finishes_at"]:
        return Response([])  # Apify answers what is there so far; a failed run has nothing
    return Response([item_for(request, u, run["finishes_at"]) for u in run["urls"]])


route_handlers = [run_sync_get_dataset_items, start_run, get_run, dataset_items]
