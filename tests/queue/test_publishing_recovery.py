"""The ambiguous outcome: the platform accepted the post, then the worker died before it
recorded it. A real worker process is SIGKILLed while the sandbox holds its answer; the
recovered attempt looks the post up and adopts it. The sandbox shows exactly one post."""

from __future__ import annotations

import asyncio
import time
import uuid

from tests.fixtures.runtime import wait_for_runs
from tests.publishing_support import connect, make_clip, sandbox_users


async def _wait_event(sandbox, kind: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not await sandbox.events(kind):
        assert time.monotonic() < deadline, f"no {kind} event"
        await asyncio.sleep(0.1)


async def _kill_after_accept(
    client, owner, sandbox, worker_processes, platform: str, body: dict, fault_path: str, event: str, skip: int = 0
):
    # the sandbox handles the request (the post exists), then holds its answer
    await sandbox.fault(fault_path, method="PUT", kind="after_accept", delay=120, times=1, skip=skip)
    env = {"REELFLOW_SANDBOX__URL": sandbox.url}
    first = worker_processes.start("high,default", **env)
    response = await client.post(f"/api/v1/publish/{platform}", json=body, headers=owner.headers)
    assert response.status_code == 202, response.text
    [job_id] = response.json()["job_ids"]
    await _wait_event(sandbox, event)  # the platform has the post; its answer is held back
    worker_processes.kill(first)
    await sandbox.clear_faults()
    worker_processes.start("high,default", **env)
    statuses = await wait_for_runs([uuid.UUID(job_id)], timeout=90)
    assert list(statuses.values()) == ["succeeded"]
    [pub] = (await client.get("/api/v1/publications", headers=owner.headers)).json()
    return pub


async def test_tiktok_post_accepted_then_worker_killed_is_adopted(client, signup, sandbox, session, worker_processes):
    await sandbox.config(tiktok_processing_s=1)
    owner = await signup()
    [t] = await sandbox_users(sandbox, 1)
    tiktok = await connect(client, owner, "tiktok", t)
    _, clip = await make_clip(session, owner.workspace_id)
    body = {"clip_id": str(clip), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY"}
    pub = await _kill_after_accept(
        client, owner, sandbox, worker_processes, "tiktok", body, "/tiktok-upload/video/*", "tiktok.post.created"
    )
    assert pub["status"] == "published" and pub["adopted"] is True, pub
    assert len(await sandbox._call("GET", "/sandbox/tiktok/posts")) == 1
    assert len(await sandbox.events("tiktok.publish.init")) == 1  # never initialised again


async def test_youtube_upload_accepted_then_worker_killed_is_adopted(
    client, signup, sandbox, session, worker_processes
):
    await sandbox.config(youtube_processing_s=1)
    owner = await signup()
    [y] = await sandbox_users(sandbox, 1)
    channel = await connect(client, owner, "google", y)
    _, clip = await make_clip(session, owner.workspace_id)
    body = {"clip_id": str(clip), "account_ids": [channel["id"]], "title": "Launch day"}
    pub = await _kill_after_accept(
        client,
        owner,
        sandbox,
        worker_processes,
        "youtube",
        body,
        "/youtube/upload/youtube/v3/videos",
        "youtube.video.created",
        skip=1,  # the upload's first PUT is the session probe; hold the one with the bytes
    )
    assert pub["status"] == "published" and pub["adopted"] is True, str(pub)
    videos = await sandbox._call("GET", "/sandbox/youtube/videos")
    assert len(videos) == 1 and pub["external_id"] == videos[0]["video_id"]


async def test_lost_answers_in_process_never_duplicate(client, signup, sandbox, session, run_jobs):
    """Init's answer lost (a second init follows; the first never gets bytes, so it is no post);
    the final chunk's answer lost (the host says it has every byte: done)."""
    await sandbox.config(tiktok_processing_s=1, youtube_processing_s=1)
    owner = await signup()
    t, y = await sandbox_users(sandbox, 2)
    tiktok = await connect(client, owner, "tiktok", t)
    channel = await connect(client, owner, "google", y)
    _, clip = await make_clip(session, owner.workspace_id)
    await sandbox.fault("/tiktok/v2/post/publish/video/init/", kind="after_accept", status=500, times=1)
    await sandbox.fault("/tiktok-upload/video/*", method="PUT", kind="after_accept", status=503, times=1)
    await sandbox.fault("/youtube/upload/youtube/v3/videos", method="PUT", kind="after_accept", status=503, times=1)
    for platform, body in (
        ("tiktok", {"clip_id": str(clip), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY"}),
        ("youtube", {"clip_id": str(clip), "account_ids": [channel["id"]], "title": "t"}),
    ):
        assert (await client.post(f"/api/v1/publish/{platform}", json=body, headers=owner.headers)).status_code == 202
    await run_jobs()
    pubs = (await client.get("/api/v1/publications", headers=owner.headers)).json()
    assert [p["status"] for p in pubs] == ["published", "published"], pubs
    assert len(await sandbox.events("tiktok.publish.init")) == 2
    assert len(await sandbox._call("GET", "/sandbox/tiktok/posts")) == 1
    assert len(await sandbox._call("GET", "/sandbox/youtube/videos")) == 1
