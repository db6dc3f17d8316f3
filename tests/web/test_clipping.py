"""The clipping product API: uploads, URL import, the pipeline through real jobs, clips,
transcripts, signed downloads, plan limits and workspace isolation."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

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
    vtt = await client.get(body["transcript"]["vtt"])  # signed link, no bearer token
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
        video = await client.get(clip["links"]["video"])
        assert video.status_code == 200 and video.headers["content-type"] == "video/mp4"
        out = tmp_path / f"{clip['id']}.mp4"
        out.write_bytes(video.content)
        info = probe(out)
        assert (info.width, info.height) == (540, 960)
        assert info.duration_s == pytest.approx(clip["duration_s"], abs=0.3)
        thumb = await client.get(clip["links"]["thumbnail"])
        assert thumb.headers["content-type"] == "image/jpeg" and thumb.content[:2] == b"\xff\xd8"
        assert "-->" in (await client.get(clip["links"]["srt"])).text
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
    assert "A brand new caption" in (await client.get(after["links"]["srt"])).text
    assert len(await _clips(client, account.headers, sent["project_id"])) == len(clips)

    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["plan"] == "free"
    assert usage["metrics"]["projects"]["used"] == 1
    assert usage["metrics"]["source_minutes"]["used"] == 1
    assert usage["metrics"]["clips"]["used"] == len(clips)

    deleted = await client.delete(f"/api/v1/clips/{clip['id']}", headers=account.headers)
    assert deleted.status_code == 204
    assert (await client.get(after["links"]["video"])).status_code == 404
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
    assert "import" in body["timings"] or body["source"]["size_bytes"] > 0
    clips = await _clips(client, account.headers, body["id"])
    assert len(clips) == 1 and clips[0]["status"] == "ready"
