"""Publishing over the API: validation before queuing, fan-out (one job per account),
exactly once per (clip, account), 401 → one refresh, publish config, scheduling, cancel,
workspace isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from reelflow.storage.models.runtime import JobRun
from tests.publishing_support import connect, make_clip, sandbox_users


async def _fast(sandbox) -> None:
    await sandbox.config(tiktok_processing_s=1, youtube_processing_s=1)


async def _runs(session) -> int:
    return int((await session.execute(select(func.count()).select_from(JobRun))).scalar_one())


async def test_validation_errors_name_the_field_and_queue_nothing(client, signup, sandbox, session):
    owner = await signup()
    a, b = await sandbox_users(sandbox, 2)
    tiktok = await connect(client, owner, "tiktok", a)
    youtube = await connect(client, owner, "google", b)
    _, ready = await make_clip(session, owner.workspace_id)
    _, pending = await make_clip(session, owner.workspace_id, status="pending", rank=2)
    _, too_long = await make_clip(session, owner.workspace_id, seconds=700, rank=3)
    cases = [
        ("tiktok", {"clip_id": str(pending), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY"}, "clip_id"),
        ("tiktok", {"clip_id": str(ready), "account_ids": [youtube["id"]], "privacy": "SELF_ONLY"}, "account_ids"),
        ("tiktok", {"clip_id": str(ready), "account_ids": [str(uuid.uuid4())], "privacy": "SELF_ONLY"}, "account_ids"),
        (
            "tiktok",
            {"clip_id": str(ready), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY", "caption": "x" * 2201},
            "caption",
        ),
        ("tiktok", {"clip_id": str(ready), "account_ids": [tiktok["id"]]}, "privacy"),
        ("tiktok", {"clip_id": str(ready), "account_ids": [tiktok["id"]], "privacy": "FOLLOWER_OF_CREATOR"}, "privacy"),
        ("tiktok", {"clip_id": str(too_long), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY"}, "clip_id"),
        ("youtube", {"clip_id": str(ready), "account_ids": [youtube["id"]], "title": "t" * 101}, "title"),
        (
            "youtube",
            {"clip_id": str(ready), "account_ids": [youtube["id"]], "title": "ok", "privacy": "secret"},
            "privacy",
        ),
        (
            "youtube",
            {
                "clip_id": str(ready),
                "account_ids": [youtube["id"]],
                "title": "ok",
                "scheduled_at": "2020-01-01T00:00:00Z",
            },
            "scheduled_at",
        ),
    ]
    for platform, body, field in cases:
        response = await client.post(f"/api/v1/publish/{platform}", json=body, headers=owner.headers)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["errors"][0]["field"] == field, response.text
    assert await _runs(session) == 0
    # creator_info was asked before judging the TikTok privacy
    assert await sandbox.requests("/tiktok/v2/post/publish/creator_info/query/")


async def test_fan_out_publishes_once_per_account_and_a_repeat_posts_nothing(
    client, signup, sandbox, session, run_jobs
):
    await _fast(sandbox)
    owner = await signup()
    t, y1, y2 = await sandbox_users(sandbox, 3)
    tiktok = await connect(client, owner, "tiktok", t)
    channels = [await connect(client, owner, "google", y) for y in (y1, y2)]
    _, clip = await make_clip(session, owner.workspace_id)
    response = await client.post(
        "/api/v1/publish/youtube",
        json={"clip_id": str(clip), "account_ids": [c["id"] for c in channels], "title": "Launch day", "tags": ["a"]},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    body = response.json()
    assert len(body["job_ids"]) == 2 and len(body["publications"]) == 2
    response = await client.post(
        "/api/v1/publish/tiktok",
        json={"clip_id": str(clip), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY", "caption": "hi #launch"},
        headers=owner.headers,
    )
    assert response.status_code == 202, response.text
    await run_jobs()
    pubs = (await client.get(f"/api/v1/publications?clip_id={clip}", headers=owner.headers)).json()
    assert sorted(p["status"] for p in pubs) == ["published"] * 3, pubs
    assert all(p["external_id"] for p in pubs if p["platform"] == "youtube")
    # the same clip and accounts again: the existing publications, no new job, no new post
    again = await client.post(
        "/api/v1/publish/youtube",
        json={"clip_id": str(clip), "account_ids": [c["id"] for c in channels], "title": "Launch day"},
        headers=owner.headers,
    )
    assert again.status_code == 200 and again.json()["job_ids"] == [p["job_id"] for p in again.json()["publications"]]
    assert all(p["created"] is False for p in again.json()["publications"])
    await run_jobs()
    assert len(await sandbox._call("GET", "/sandbox/youtube/videos")) == 2
    assert len(await sandbox._call("GET", "/sandbox/tiktok/posts")) == 1


async def test_idempotency_key_and_401_refreshes_once(client, signup, sandbox, session, run_jobs):
    await _fast(sandbox)
    owner = await signup()
    [t] = await sandbox_users(sandbox, 1)
    tiktok = await connect(client, owner, "tiktok", t)
    _, clip = await make_clip(session, owner.workspace_id)
    await sandbox.expire_tokens(kind="access")  # the stored access token is now refused (401)
    body = {"clip_id": str(clip), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY"}
    headers = {**owner.headers, "Idempotency-Key": "pub-1"}
    first = await client.post("/api/v1/publish/tiktok", json=body, headers=headers)
    assert first.status_code == 202, first.text
    second = await client.post("/api/v1/publish/tiktok", json=body, headers=headers)
    assert second.status_code == 200 and second.json()["job_ids"] == first.json()["job_ids"]
    await run_jobs()
    [pub] = (await client.get("/api/v1/publications", headers=owner.headers)).json()
    assert pub["status"] == "published", pub
    assert len(await sandbox.events("tiktok.oauth.refreshed")) == 1
    assert len(await sandbox._call("GET", "/sandbox/tiktok/posts")) == 1
    # the audit log has the connection, the request (once) and the publication
    from sqlalchemy import text

    actions = (
        (
            await session.execute(
                text("SELECT action FROM audit_log WHERE workspace_id = :w ORDER BY id"), {"w": owner.workspace_id}
            )
        )
        .scalars()
        .all()
    )
    wanted = ["publishing.account.connected", "publishing.post.requested", "publishing.post.published"]
    assert [a for a in actions if a.startswith("publishing.")] == wanted


async def test_dead_refresh_token_fails_the_publication_as_expired(client, signup, sandbox, session, run_jobs):
    await _fast(sandbox)
    owner = await signup()
    [y] = await sandbox_users(sandbox, 1)
    channel = await connect(client, owner, "google", y)
    _, clip = await make_clip(session, owner.workspace_id)
    response = await client.post(
        "/api/v1/publish/youtube",
        json={"clip_id": str(clip), "account_ids": [channel["id"]], "title": "x"},
        headers=owner.headers,
    )
    assert response.status_code == 202
    await sandbox.expire_tokens(kind=None)  # access and refresh tokens dead
    await run_jobs()
    [pub] = (await client.get("/api/v1/publications", headers=owner.headers)).json()
    assert pub["status"] == "failed" and "expired" in pub["error"]
    account = (await client.get(f"/api/v1/accounts/{channel['id']}", headers=owner.headers)).json()
    assert account["status"] == "expired"
    again = await client.post(
        "/api/v1/publish/youtube",
        json={"clip_id": str(clip), "account_ids": [channel["id"]], "title": "x"},
        headers=owner.headers,
    )
    assert again.status_code == 422 and again.json()["errors"][0]["field"] == "account_ids"
    # reconnect, then retry the failed publication: it reconciles first, then posts once
    retry = await client.post(f"/api/v1/publications/{pub['id']}/retry", headers=owner.headers)
    assert retry.status_code == 409  # the account is still expired
    await connect(client, owner, "google", y)
    retry = await client.post(f"/api/v1/publications/{pub['id']}/retry", headers=owner.headers)
    assert retry.status_code == 202 and retry.json()["status"] == "queued"
    await run_jobs()
    pub = (await client.get(f"/api/v1/publications/{pub['id']}", headers=owner.headers)).json()
    assert pub["status"] == "published" and pub["attempts"] == 1
    assert len(await sandbox._call("GET", "/sandbox/youtube/videos")) == 1


async def test_publish_config_defaults_apply(client, signup, sandbox, session, run_jobs):
    await _fast(sandbox)
    owner = await signup()
    [t] = await sandbox_users(sandbox, 1)
    tiktok = await connect(client, owner, "tiktok", t)
    _, clip = await make_clip(session, owner.workspace_id, title="Big news")
    bad = await client.put("/api/v1/publish-config", json={"tiktok_privacy": "EVERYONE"}, headers=owner.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "tiktok_privacy"
    config = await client.put(
        "/api/v1/publish-config",
        json={
            "tiktok_privacy": "SELF_ONLY",
            "caption_template": "{title} {hashtags}",
            "hashtags": ["launch", "#news"],
            "default_account_ids": [tiktok["id"]],
        },
        headers=owner.headers,
    )
    assert config.status_code == 200, config.text
    response = await client.post("/api/v1/publish/tiktok", json={"clip_id": str(clip)}, headers=owner.headers)
    assert response.status_code == 202, response.text
    [pub] = response.json()["publications"]
    assert pub["privacy"] == "SELF_ONLY" and pub["caption"] == "Big news #launch #news"
    assert pub["account_id"] == tiktok["id"]


async def test_scheduled_publication_waits_and_can_be_cancelled(client, signup, sandbox, session, run_jobs):
    await _fast(sandbox)
    owner = await signup()
    [y] = await sandbox_users(sandbox, 1)
    channel = await connect(client, owner, "google", y)
    _, clip = await make_clip(session, owner.workspace_id)
    _, later_clip = await make_clip(session, owner.workspace_id, rank=2)
    soon = datetime.now(UTC) + timedelta(seconds=3)
    later = datetime.now(UTC) + timedelta(hours=1)
    posts = []
    for clip_id, when in ((clip, soon), (later_clip, later)):
        response = await client.post(
            "/api/v1/publish/youtube",
            json={
                "clip_id": str(clip_id),
                "account_ids": [channel["id"]],
                "title": "t",
                "scheduled_at": when.isoformat(),
            },
            headers=owner.headers,
        )
        assert response.status_code == 202, response.text
        posts.append(response.json()["publications"][0])
    assert all(p["status"] == "scheduled" for p in posts)
    job = (await client.get(f"/api/v1/jobs/{posts[0]['job_id']}", headers=owner.headers)).json()
    assert job["status"] == "queued"
    cancelled = await client.post(f"/api/v1/publications/{posts[1]['id']}/cancel", headers=owner.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    job = (await client.get(f"/api/v1/jobs/{posts[1]['job_id']}", headers=owner.headers)).json()
    assert job["status"] == "cancelled"
    await run_jobs(horizon=10)  # the scheduler starts the first one when its time comes
    first = (await client.get(f"/api/v1/publications/{posts[0]['id']}", headers=owner.headers)).json()
    assert first["status"] == "published"
    started = datetime.fromisoformat(
        (await client.get(f"/api/v1/jobs/{posts[0]['job_id']}", headers=owner.headers)).json()["started_at"]
    )
    assert started >= soon - timedelta(milliseconds=300)
    assert len(await sandbox._call("GET", "/sandbox/youtube/videos")) == 1
    again = await client.post(f"/api/v1/publications/{posts[0]['id']}/cancel", headers=owner.headers)
    assert again.status_code == 409


async def test_publishing_routes_are_workspace_scoped(client, signup, sandbox, session):
    owner = await signup()
    other = await signup()
    [t] = await sandbox_users(sandbox, 1)
    tiktok = await connect(client, owner, "tiktok", t)
    _, clip = await make_clip(session, owner.workspace_id)
    response = await client.post(
        "/api/v1/publish/tiktok",
        json={"clip_id": str(clip), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY"},
        headers=owner.headers,
    )
    [pub] = response.json()["publications"]
    assert (await client.get(f"/api/v1/publications/{pub['id']}", headers=other.headers)).status_code == 404
    assert (await client.post(f"/api/v1/publications/{pub['id']}/cancel", headers=other.headers)).status_code == 404
    assert (await client.get("/api/v1/publications", headers=other.headers)).json() == []
    foreign = await client.post(
        "/api/v1/publish/tiktok",
        json={"clip_id": str(clip), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY"},
        headers=other.headers,
    )
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "clip_id"  # another's clip
    _, own_clip = await make_clip(session, other.workspace_id)
    foreign = await client.post(
        "/api/v1/publish/tiktok",
        json={"clip_id": str(own_clip), "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY"},
        headers=other.headers,
    )
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "account_ids"
    cfg = await client.put(
        "/api/v1/publish-config", json={"default_account_ids": [tiktok["id"]]}, headers=other.headers
    )
    assert cfg.status_code == 422
