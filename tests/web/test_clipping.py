"""The clipping product API: uploads, URL import, the pipeline through real jobs, clips,
transcripts, signed downloads, plan limits and workspace isolation."""

from __future__ import annotations

import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from reelflow.queue import run_inline
from tests.blob_helpers import fetch_blob
from tests.clipping_support import (
    OPTIONS,
    FileServer,
    Media,
    allow_file_server,
    fast_settings,
    file_server,
    media,
    project,
    upload_file,
)

__all__ = ["allow_file_server", "fast_settings", "file_server", "media"]  # fixtures used below


async def _clips(client: Any, headers: dict[str, str], project_id: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/v1/projects/{project_id}/clips", headers=headers)
    assert response.status_code == 200, response.text
    return list(response.json())


async def _set_usage(workspace_id: str, metric: str, used: int) -> None:
    from reelflow.domain.plans import period_start
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.base import utcnow
    from reelflow.storage.repositories.clipping import ClippingRepository

    async with session_scope() as session:
        await ClippingRepository(session).set_usage(uuid.UUID(workspace_id), period_start(utcnow()), metric, used)


# --- the pipeline end to end ---------------------------------------------------------------


async def test_upload_runs_pipeline_to_ready_clips(
    client: Any, signup: Any, run_jobs: Any, media: Media, fast_settings: Any, tmp_path: Path
) -> None:
    from reelflow.adapters.media.probe import probe
    from reelflow.domain.clipping import Transcript

    account = await signup()
    started = time.monotonic()
    sent = await upload_file(client, account.headers, media.talk, chunk=64 * 1024)
    assert sent["last"]["status"] == "complete" and sent["last"]["run_id"]
    await run_jobs(["media"])
    elapsed = time.monotonic() - started
    body = await project(client, account.headers, sent["project_id"])
    assert body["status"] == "clips_ready", body
    assert body["source"]["duration_s"] == pytest.approx(30, abs=0.5)
    assert body["source"]["width"] == 320 and body["source"]["has_audio"] is True
    for stage in ("probe", "extract_audio", "transcribe", "detect", "render"):
        assert stage in body["timings"], body["timings"]

    transcript_json = await client.get(
        f"/api/v1/projects/{sent['project_id']}/transcript", params={"format": "json"}, headers=account.headers
    )
    transcript = Transcript.from_dict(transcript_json.json())
    assert len(transcript.words) > 30
    srt = await client.get(f"/api/v1/projects/{sent['project_id']}/transcript?format=srt", headers=account.headers)
    vtt = await fetch_blob(client, body["transcript"]["vtt"])  # signed link, no bearer token
    assert "-->" in srt.text and vtt.text.startswith("WEBVTT")

    clips = await _clips(client, account.headers, sent["project_id"])
    assert len(clips) == OPTIONS["top_n"]
    for clip in clips:
        assert clip["status"] == "ready" and clip["links"]["video"]
        assert OPTIONS["min_len_s"] - 0.01 <= clip["duration_s"] <= OPTIONS["max_len_s"] + 0.01
        assert clip["reasons"] and clip["text"] and clip["score"] > 0
        for word in transcript.words:  # cut between words, never through one
            assert not (word.start < clip["start_s"] < word.end), (word, clip["start_s"])
            assert not (word.start < clip["end_s"] < word.end), (word, clip["end_s"])
        video = await fetch_blob(client, clip["links"]["video"])
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        out = tmp_path / f"{clip['id']}.mp4"
        out.write_bytes(video.content)
        info = probe(out)
        assert (info.width, info.height) == (540, 960)
        assert info.duration_s == pytest.approx(clip["duration_s"], abs=0.3)
        thumb = await fetch_blob(client, clip["links"]["thumbnail"])
        assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
        poster = tmp_path / f"{clip['id']}-poster.jpg"
        poster.write_bytes((await fetch_blob(client, clip["links"]["poster"])).content)
        assert (probe(poster).width, probe(poster).height) == (540, 960)
        assert poster.read_bytes() != thumb.content  # the title is drawn on it
        assert "-->" in (await fetch_blob(client, clip["links"]["srt"])).text
    print(f"pipeline for 30 s of speech: {elapsed:.1f} s; timings {body['timings']}")

    # Edit: the same inputs do nothing; a new caption style renders again.
    clip = clips[0]
    same = await client.patch(
        f"/api/v1/clips/{clip['id']}", json={"caption_style": clip["caption_style"]}, headers=account.headers
    )
    assert same.status_code == 200 and same.json()["rerender"] is False
    edited = await client.patch(
        f"/api/v1/clips/{clip['id']}",
        json={"caption_style": "minimal", "caption_text": "A brand new caption", "end_s": clip["end_s"] - 1},
        headers=account.headers,
    )
    assert edited.status_code == 202, edited.text
    assert edited.json()["clip"]["status"] == "pending" and edited.json()["clip"]["links"] is None
    await run_jobs(["media"])
    after = (await client.get(f"/api/v1/clips/{clip['id']}", headers=account.headers)).json()
    assert after["status"] == "ready" and after["caption_style"] == "minimal"
    assert after["links"]["video"].split("?")[0] != clip["links"]["video"].split("?")[0]
    srt_text = (await fetch_blob(client, after["links"]["srt"])).text
    cue_text = [ln for ln in srt_text.splitlines() if ln and "-->" not in ln and not ln.isdigit()]
    assert " ".join(cue_text) == "A brand new caption"  # cues of at most 7 s
    assert len(await _clips(client, account.headers, sent["project_id"])) == len(clips)

    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["plan"] == "free"
    assert usage["metrics"]["projects"]["used"] == 1
    assert usage["metrics"]["source_minutes"]["used"] == 1
    assert usage["metrics"]["clips"]["used"] == len(clips)

    deleted = await client.delete(f"/api/v1/clips/{clip['id']}", headers=account.headers)
    assert deleted.status_code == 204
    assert (await fetch_blob(client, after["links"]["video"])).status_code == 404
    assert len(await _clips(client, account.headers, sent["project_id"])) == len(clips) - 1


async def test_url_import_from_allowed_loopback_origin(
    client: Any, signup: Any, run_jobs: Any, allow_file_server: FileServer
) -> None:
    account = await signup()
    created = await client.post(
        "/api/v1/projects",
        json={"url": f"{allow_file_server.url}/talk.mp4", "options": {**OPTIONS, "top_n": 1}},
        headers=account.headers,
    )
    assert created.status_code == 202, created.text
    assert created.json()["status"] == "queued" and created.json()["run_id"]
    await run_jobs(["media"])
    body = await project(client, account.headers, created.json()["id"])
    assert body["status"] == "clips_ready", body
    assert (
        body["timings"]["import"] > 0
        and body["source"]["size_bytes"] == allow_file_server.folder.joinpath("talk.mp4").stat().st_size
    )
    clips = await _clips(client, account.headers, body["id"])
    assert len(clips) == 1 and clips[0]["status"] == "ready"


# --- uploads ----------------------------------------------------------------------------


async def _start_upload(client: Any, headers: dict[str, str], size: int, **extra: Any) -> dict[str, Any]:
    body = {"filename": "talk.mp4", "size_bytes": size, "content_type": "video/mp4", **extra}
    response = await client.post("/api/v1/uploads", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_chunked_upload_resumes_from_the_server_offset(client: Any, signup: Any, media: Media) -> None:
    account = await signup()
    data = media.talk.read_bytes()
    created = await _start_upload(client, account.headers, len(data))
    assert created["status"] == "uploading" and created["upload"]["received_bytes"] == 0
    url = created["upload"]["upload_url"]
    first = await client.put(url, content=data[:50_000], headers={"Content-Range": f"bytes 0-49999/{len(data)}"})
    assert first.status_code == 200 and first.json()["received_bytes"] == 50_000
    assert first.json()["status"] == "open"

    # The client lost track: HEAD and GET say where to resume.
    head = await client.head(url)
    assert head.status_code == 200 and head.headers["upload-offset"] == "50000"
    assert head.headers["range"] == "bytes=0-49999"
    status = await client.get(url)
    assert status.json()["received_bytes"] == 50_000

    # A chunk from the wrong offset is refused with the offset to resume from.
    wrong = await client.put(
        url, content=data[60_000:70_000], headers={"Content-Range": f"bytes 60000-69999/{len(data)}"}
    )
    assert wrong.status_code == 409 and wrong.json()["received_bytes"] == 50_000

    rest = await client.put(
        url, content=data[50_000:], headers={"Content-Range": f"bytes 50000-{len(data) - 1}/{len(data)}"}
    )
    assert rest.status_code == 200, rest.text
    assert rest.json()["status"] == "complete" and rest.json()["project_status"] == "queued"
    assert rest.json()["run_id"]
    # Retrying the last chunk after completion is harmless.
    again = await client.put(
        url, content=data[50_000:], headers={"Content-Range": f"bytes 50000-{len(data) - 1}/{len(data)}"}
    )
    assert again.status_code == 200 and again.json()["status"] == "complete"
    body = await project(client, account.headers, created["id"])
    assert body["status"] == "queued" and body["source"]["size_bytes"] == len(data)


async def test_upload_token_must_be_valid_and_unexpired(client: Any, signup: Any) -> None:
    from reelflow.domain.ingest import make_token
    from reelflow.storage.blobs import signing_secret

    account = await signup()
    created = await _start_upload(client, account.headers, 1000)
    upload_id = created["upload"]["id"]
    path = f"/api/v1/uploads/{upload_id}"
    missing = await client.put(path, content=b"x" * 1000)
    assert missing.status_code == 403
    forged = await client.put(f"{path}?token=9999999999.{'0' * 64}", content=b"x" * 1000)
    assert forged.status_code == 403 and "signature" in forged.json()["detail"]
    expired_token, _ = make_token(signing_secret(), "upload", upload_id, 60, now=time.time() - 3600)
    expired = await client.put(f"{path}?token={expired_token}", content=b"x" * 1000)
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    other_upload = await _start_upload(client, account.headers, 1000)
    swapped = other_upload["upload"]["upload_url"].replace(other_upload["upload"]["id"], upload_id)
    assert (await client.put(swapped, content=b"x" * 1000)).status_code == 403


async def test_upload_size_and_type_limits(client: Any, signup: Any, media: Media, monkeypatch: Any) -> None:
    from reelflow.settings import reset_settings_cache

    account = await signup()
    monkeypatch.setenv("REELFLOW_CLIPPING__MAX_UPLOAD_BYTES", "100000")
    reset_settings_cache()
    try:
        too_big = await client.post(
            "/api/v1/uploads",
            json={"filename": "big.mp4", "size_bytes": 100_001, "content_type": "video/mp4"},
            headers=account.headers,
        )
        assert too_big.status_code == 422 and too_big.json()["errors"][0]["field"] == "size_bytes"
    finally:
        monkeypatch.undo()
        reset_settings_cache()
    not_video_type = await client.post(
        "/api/v1/uploads",
        json={"filename": "notes.txt", "size_bytes": 10, "content_type": "text/plain"},
        headers=account.headers,
    )
    assert not_video_type.status_code == 422

    # Declared as video, but the bytes are text: refused at the first chunk.
    text = media.text.read_bytes()
    created = await _start_upload(client, account.headers, len(text))
    refused = await client.put(created["upload"]["upload_url"], content=text)
    assert refused.status_code == 415, refused.text
    assert (await client.head(created["upload"]["upload_url"])).headers["upload-offset"] == "0"

    # More bytes than the range announces, or a range past the declared size.
    created = await _start_upload(client, account.headers, 1000)
    url = created["upload"]["upload_url"]
    data = media.talk.read_bytes()[:1000]
    assert (await client.put(url, content=data[:600], headers={"Content-Range": "bytes 0-499/1000"})).status_code == 422
    assert (await client.put(url, content=data, headers={"Content-Range": "bytes 0-999/2000"})).status_code == 422
    assert (await client.put(url, content=data[:500])).status_code == 422  # partial body without a range


async def test_upload_that_stops_halfway_fails_the_project_when_the_link_expires(
    client: Any, signup: Any, media: Media
) -> None:
    from sqlalchemy import update

    from reelflow.storage.db import session_scope
    from reelflow.storage.models.base import utcnow
    from reelflow.storage.models.clipping import Upload

    account = await signup()
    data = media.talk.read_bytes()
    created = await _start_upload(client, account.headers, len(data))
    url = created["upload"]["upload_url"]
    await client.put(url, content=data[:40_000], headers={"Content-Range": f"bytes 0-39999/{len(data)}"})
    async with session_scope() as session:
        await session.execute(update(Upload).values(expires_at=utcnow()))
    # Reading never writes: the project is still uploading until the sweep job runs.
    assert (await project(client, account.headers, created["id"]))["status"] == "uploading"
    assert await run_inline("clipping.reconcile_projects", {}) == {"checked": 1, "failed": 1}
    body = await project(client, account.headers, created["id"])
    assert body["status"] == "failed"
    assert "40000 of" in body["failure_reason"] and "expired" in body["failure_reason"]
    clips = await _clips(client, account.headers, created["id"])
    assert clips == []


# --- URL import -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:9/video.mp4", "loopback"),
        ("http://localhost/video.mp4", "loopback"),
        ("http://10.1.2.3/video.mp4", "private"),
        ("http://192.168.0.10/video.mp4", "private"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::1]/video.mp4", "loopback"),
        ("http://224.0.0.1/video.mp4", "multicast"),
        ("ftp://example.com/video.mp4", "only http and https"),
        ("file:///etc/passwd", "only http and https"),
        ("http://user:pw@example.com/video.mp4", "credentials"),
        ("http://no-such-host.invalid/video.mp4", "does not resolve"),
    ],
)
async def test_url_import_refuses_private_and_bad_urls(client: Any, signup: Any, url: str, expected: str) -> None:
    account = await signup()
    response = await client.post("/api/v1/projects", json={"url": url}, headers=account.headers)
    assert response.status_code == 422, response.text
    assert expected in response.json()["detail"]
    assert (await client.get("/api/v1/projects", headers=account.headers)).json()["items"] == []
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["metrics"]["projects"]["used"] == 0  # a refused request charges nothing


async def test_url_import_failures_end_the_project_with_a_reason(
    client: Any, signup: Any, run_jobs: Any, allow_file_server: FileServer, monkeypatch: Any
) -> None:
    account = await signup()
    closed_port = allow_file_server.url.rsplit(":", 1)[0] + ":9"
    cases = {
        f"{allow_file_server.url}/notes.txt": "not an accepted video type",
        f"{allow_file_server.url}/fake/notes.txt": "not a video",
        f"{allow_file_server.url}/missing.mp4": "HTTP 404",
        f"{allow_file_server.url}/redirect-private": "loopback",
    }
    ids = {}
    for url in cases:
        created = await client.post("/api/v1/projects", json={"url": url}, headers=account.headers)
        assert created.status_code == 202, created.text
        ids[url] = created.json()["id"]
    # An allowed origin that is down: accepted, then the import fails (unreachable).
    import os

    from reelflow.settings import reset_settings_cache

    os.environ["REELFLOW_CLIPPING__URL_ALLOW_ORIGINS"] = f"{allow_file_server.url},{closed_port}"
    monkeypatch.setenv("REELFLOW_OPS__IMPORT_DEADLINE_S", "2")  # an outage is retried until the deadline
    reset_settings_cache()
    down = await client.post("/api/v1/projects", json={"url": f"{closed_port}/video.mp4"}, headers=account.headers)
    assert down.status_code == 202, down.text
    cases[f"{closed_port}/video.mp4"] = "could not be reached"
    ids[f"{closed_port}/video.mp4"] = down.json()["id"]
    await run_jobs(["media"])
    for url, reason in cases.items():
        body = await project(client, account.headers, ids[url])
        assert body["status"] == "failed", (url, body)
        assert reason in body["failure_reason"], (url, body["failure_reason"])
        assert await _clips(client, account.headers, ids[url]) == []


# --- bad media --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("corrupt", "not a video or audio file"),
        ("no_audio", "no audio track"),
        ("silent", "silent"),
        ("too_long", "accepts sources up to 30 min"),
    ],
)
async def test_bad_media_fails_the_project_without_clips(
    client: Any, signup: Any, run_jobs: Any, media: Media, fast_settings: Any, name: str, reason: str
) -> None:
    account = await signup()
    sent = await upload_file(client, account.headers, getattr(media, name))
    await run_jobs(["media"])
    body = await project(client, account.headers, sent["project_id"])
    assert body["status"] == "failed", body
    assert reason in body["failure_reason"], body["failure_reason"]
    assert await _clips(client, account.headers, sent["project_id"]) == []
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["metrics"]["clips"]["used"] == 0


# --- plans and usage ----------------------------------------------------------------------


async def test_plan_limits_at_the_api(client: Any, signup: Any) -> None:
    account = await signup()
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    limit = usage["metrics"]["projects"]["limit"]
    await _set_usage(account.workspace_id, "projects", limit)
    refused = await client.post(
        "/api/v1/uploads",
        json={"filename": "a.mp4", "size_bytes": 1000, "content_type": "video/mp4"},
        headers=account.headers,
    )
    assert refused.status_code == 429, refused.text
    problem = refused.json()
    assert problem["limit"] == "projects" and problem["resets_at"] == usage["resets_at"].replace("Z", "+00:00")
    assert "resets" in problem["detail"]

    await _set_usage(account.workspace_id, "projects", 0)
    await _set_usage(account.workspace_id, "source_minutes", usage["metrics"]["source_minutes"]["limit"])
    refused = await client.post("/api/v1/projects", json={"url": "https://example.com/a.mp4"}, headers=account.headers)
    assert refused.status_code == 429 and refused.json()["limit"] == "source_minutes"
    after = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert after["metrics"]["projects"]["used"] == 0  # the refused requests were not charged
    assert after["metrics"]["source_minutes"]["remaining"] == 0


async def test_plan_limits_at_pipeline_boundaries(
    client: Any, signup: Any, run_jobs: Any, media: Media, fast_settings: Any
) -> None:
    account = await signup()
    limits = (await client.get("/api/v1/usage", headers=account.headers)).json()["metrics"]
    # One minute left, the source needs two: the pipeline stops at the probe.
    await _set_usage(account.workspace_id, "source_minutes", limits["source_minutes"]["limit"] - 1)
    sent = await upload_file(client, account.headers, media.long_talk)
    await run_jobs(["media"])
    body = await project(client, account.headers, sent["project_id"])
    assert body["status"] == "failed" and "source minutes" in body["failure_reason"], body
    assert "import" not in body["timings"] and "transcribe" not in body["timings"]

    # Minutes left, but no clips: the pipeline stops before detection stores any clip.
    await _set_usage(account.workspace_id, "source_minutes", 0)
    await _set_usage(account.workspace_id, "clips", limits["clips"]["limit"])
    sent = await upload_file(client, account.headers, media.talk)
    await run_jobs(["media"])
    body = await project(client, account.headers, sent["project_id"])
    assert body["status"] == "failed" and "clips" in body["failure_reason"], body
    assert await _clips(client, account.headers, sent["project_id"]) == []
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()["metrics"]
    assert usage["clips"]["used"] == limits["clips"]["limit"]
    assert usage["source_minutes"]["used"] == 1


async def test_usage_charges_are_atomic_under_concurrency(services: Any) -> None:
    import asyncio

    from reelflow.domain.plans import period_start
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.base import utcnow
    from reelflow.storage.repositories.clipping import ClippingRepository
    from reelflow.storage.repositories.identity import IdentityRepository

    async with session_scope() as session:
        workspace = await IdentityRepository(session).create_workspace("W")
    period = period_start(utcnow())

    async def charge() -> int | None:
        async with session_scope() as session:
            return await ClippingRepository(session).charge(workspace.id, period, "clips", 3, 10)

    results = await asyncio.gather(*(charge() for _ in range(8)))
    assert sorted(r for r in results if r is not None) == [3, 6, 9]
    async with session_scope() as session:
        assert (await ClippingRepository(session).usage(workspace.id, period)) == {"clips": 9}


# --- isolation ----------------------------------------------------------------------------


async def test_other_workspaces_see_404(client: Any, signup: Any, media: Media) -> None:
    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.clipping import ClippingRepository, ClipSpec

    owner = await signup()
    stranger = await signup()
    created = await _start_upload(client, owner.headers, 1000)
    async with session_scope() as session:
        repo = ClippingRepository(session)
        proj = await repo.project_by_id(uuid.UUID(created["id"]))
        assert proj is not None
        (clip_id,) = await repo.upsert_clips(
            proj, [ClipSpec(1, 0.0, 10.0, 0.9, ["hook"], "hello")], caption_style="bold", preset="preview_540"
        )
    assert (await client.get(f"/api/v1/clips/{clip_id}", headers=owner.headers)).status_code == 200
    for method, path in [
        ("GET", f"/api/v1/projects/{created['id']}"),
        ("GET", f"/api/v1/projects/{created['id']}/clips"),
        ("GET", f"/api/v1/projects/{created['id']}/transcript"),
        ("DELETE", f"/api/v1/projects/{created['id']}"),
        ("GET", f"/api/v1/clips/{clip_id}"),
        ("PATCH", f"/api/v1/clips/{clip_id}"),
        ("DELETE", f"/api/v1/clips/{clip_id}"),
    ]:
        kwargs: dict[str, Any] = {"json": {"caption_style": "bold"}} if method == "PATCH" else {}
        response = await client.request(method, path, headers=stranger.headers, **kwargs)
        assert response.status_code == 404, (method, path, response.status_code)
    assert (await client.get("/api/v1/projects", headers=stranger.headers)).json()["items"] == []
    assert (await client.get(f"/api/v1/clips/{clip_id}", headers=owner.headers)).status_code == 200


async def test_blob_links_are_signed_and_expire(client: Any, services: Any) -> None:
    from reelflow.storage.blobs import get_blob_store, signed_blob_path

    await get_blob_store().write_bytes("projects/x/test.srt", b"1\n00:00:00,000 --> 00:00:01,000\nhi\n")
    good = await client.get(signed_blob_path("projects/x/test.srt"))
    assert good.status_code == 200 and good.content.startswith(b"1\n")
    assert good.headers["content-type"].startswith("application/x-subrip")
    expired = await client.get(signed_blob_path("projects/x/test.srt", ttl_s=-5))
    assert expired.status_code == 403 and "expired" in expired.json()["detail"]
    tampered = signed_blob_path("projects/x/test.srt").replace("test.srt", "other.srt")
    assert (await client.get(tampered)).status_code == 403
    assert (await client.get("/api/v1/blobs/projects/x/test.srt")).status_code == 403


async def test_idempotency_key_returns_the_first_project(
    client: Any, signup: Any, allow_file_server: FileServer
) -> None:
    account = await signup()
    headers = {**account.headers, "Idempotency-Key": "import-talk-1"}
    body = {"url": f"{allow_file_server.url}/talk.mp4"}
    first = await client.post("/api/v1/projects", json=body, headers=headers)
    again = await client.post("/api/v1/projects", json=body, headers=headers)
    assert first.status_code == 202 and again.status_code == 200
    assert again.headers["idempotent-replayed"] == "true" and again.json()["id"] == first.json()["id"]
    listed = (await client.get("/api/v1/projects", headers=account.headers)).json()["items"]
    assert len(listed) == 1
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["metrics"]["projects"]["used"] == 1


async def test_cancelled_pipeline_fails_the_project_and_it_can_be_deleted(
    client: Any, signup: Any, allow_file_server: FileServer
) -> None:
    account = await signup()
    created = await client.post(
        "/api/v1/projects", json={"url": f"{allow_file_server.url}/talk.mp4"}, headers=account.headers
    )
    project_id, run_id = created.json()["id"], created.json()["run_id"]
    busy = await client.delete(f"/api/v1/projects/{project_id}", headers=account.headers)
    assert busy.status_code == 409
    cancelled = await client.post(f"/api/v1/jobs/{run_id}/cancel", headers=account.headers)
    assert cancelled.status_code == 202, cancelled.text
    await run_inline("clipping.reconcile_projects", {})  # the sweep records the run's end on the project
    body = await project(client, account.headers, project_id)
    assert body["status"] == "failed" and "cancelled" in body["failure_reason"], body
    assert (await client.delete(f"/api/v1/projects/{project_id}", headers=account.headers)).status_code == 204
    assert (await client.get(f"/api/v1/projects/{project_id}", headers=account.headers)).status_code == 404


async def test_upload_dropped_mid_chunk_keeps_the_received_bytes_and_resumes(
    services: Any, signup: Any, client: Any, media: Media
) -> None:
    """A real server and a real socket closed halfway through a chunk."""
    import asyncio
    import socket
    import threading

    import httpx
    import uvicorn

    from reelflow.web.app import create_app

    with socket.socket() as probe_socket:
        probe_socket.bind(("127.0.0.1", 0))
        port = probe_socket.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            await asyncio.sleep(0.05)
        account = await signup()
        data = media.talk.read_bytes()
        created = await _start_upload(client, account.headers, len(data))
        path = created["upload"]["upload_url"].removeprefix("http://testserver")
        half = len(data) // 2

        def send_half_and_drop() -> None:
            with socket.create_connection(("127.0.0.1", port)) as sock:
                head = (
                    f"PUT {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: {len(data)}\r\n"
                    f"Content-Range: bytes 0-{len(data) - 1}/{len(data)}\r\n\r\n"
                )
                sock.sendall(head.encode() + data[:half])
                time.sleep(0.5)

        await asyncio.to_thread(send_half_and_drop)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as live:
            offset = 0
            for _ in range(50):  # the server notices the disconnect and flushes what it got
                offset = int((await live.head(path)).headers["upload-offset"])
                if offset == half:
                    break
                await asyncio.sleep(0.1)
            assert offset == half
            rest = await live.put(
                path, content=data[offset:], headers={"Content-Range": f"bytes {offset}-{len(data) - 1}/{len(data)}"}
            )
            assert rest.status_code == 200 and rest.json()["status"] == "complete", rest.text
        stored = await project(client, account.headers, created["id"])
        assert stored["source"]["size_bytes"] == len(data) and stored["status"] == "queued"
        from reelflow.storage.blobs import get_blob_store

        assert await get_blob_store().read_bytes(f"projects/{created['id']}/source.mp4") == data
    finally:
        server.should_exit = True
        thread.join(timeout=10)
