"""YouTube Shorts in clipper programmes, end to end: approval reads the baseline through the
YouTube Data API (API key), tracking rounds read Shorts 50 ids a call (1 quota unit each)
beside the TikTok batches, earnings follow the same money rules; quota and 5xx errors go to
the runtime's retry. Real Postgres, Redis, RQ workers and the sandbox over HTTP."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from reelflow import composition
from reelflow.adapters.youtube import YouTubeDataClient
from reelflow.errors import QuotaExhausted
from reelflow.services import clippers as service
from reelflow.storage.db import session_scope
from tests.clippers_support import adapters, headers, member, public_shorts, public_videos

CAMPAIGN = {
    "name": "Shorts",
    "platforms": ["tiktok", "youtube"],
    "currency": "USD",
    "budget_minor": 1_000_000,
    "rate_per_1000_minor": 1_000,
    "min_views": 0,
    "status": "active",
}


async def _submit_and_approve(client: Any, owner: Any, clipper: dict[str, str], cid: str, url: str) -> dict[str, Any]:
    sub = await client.post(
        "/api/v1/clippers/submissions", headers=headers(clipper), json={"campaign_id": cid, "url": url}
    )
    assert sub.status_code == 201, sub.text
    approved = await client.post(f"/api/v1/clippers/submissions/{sub.json()['id']}/approve", headers=owner.headers)
    assert approved.status_code == 200, approved.text
    return dict(approved.json())


async def test_youtube_shorts_are_approved_tracked_and_paid(client, signup, sandbox, run_jobs, mail_sink):
    owner = await signup()
    clipper = await member(client, owner, "clipper", mail_sink)
    campaign = (await client.post("/api/v1/clippers/campaigns", headers=owner.headers, json=CAMPAIGN)).json()
    now = await sandbox.now()
    (yt1, url1), (yt2, url2), (yt3, url3) = public_shorts(now, 3)
    ((_, tiktok_url),) = public_videos(now, 1, min_age_h=7.0)

    # Approval reads the Short's views through videos.list with the API key (no OAuth).
    first = await _submit_and_approve(client, owner, clipper, campaign["id"], f"https://youtu.be/{yt1}?si=x")
    assert first["platform"] == "youtube" and first["url"] == url1 and first["status"] == "approved"
    from reelflow.sandbox.world import get_world
    from reelflow.sandbox.youtube import from_short_id

    world_id = from_short_id(yt1)
    assert world_id is not None
    expected = get_world().stats(world_id, await sandbox.now())
    assert expected is not None and abs(first["baseline_views"] - expected.views) <= expected.views * 0.01 + 5
    calls = await sandbox.requests("/youtube/youtube/v3/videos")
    assert calls and "key=" in calls[-1]["query"] and not (await sandbox.requests("/apify/*"))
    second = await _submit_and_approve(client, owner, clipper, campaign["id"], url2)
    third = await _submit_and_approve(client, owner, clipper, campaign["id"], url3)
    tiktok = await _submit_and_approve(client, owner, clipper, campaign["id"], tiktok_url)

    # A deleted or private Short cannot be approved (409), like a TikTok one.
    (yt4, url4), *_ = public_shorts(now, 1, skip=3)
    await sandbox.config(youtube_gone={yt4: "private"})
    sub4 = await client.post(
        "/api/v1/clippers/submissions", headers=headers(clipper), json={"campaign_id": campaign["id"], "url": url4}
    )
    refused = await client.post(f"/api/v1/clippers/submissions/{sub4.json()['id']}/approve", headers=owner.headers)
    assert refused.status_code == 409 and "not public" in refused.text

    # Views move: +2,000 and +500 on two Shorts; the third is deleted; the TikTok clip +100.
    await sandbox.config(
        youtube_views={yt1: first["baseline_views"] + 2_000, yt2: second["baseline_views"] + 500},
        youtube_gone={yt3: "deleted", yt4: "private"},
        apify_views={tiktok["video_id"]: tiktok["baseline_views"] + 100},
    )
    before = len(await sandbox.events("youtube.videos.list"))
    started = await client.post("/api/v1/clippers/tracking/run", headers=owner.headers)
    assert started.status_code == 202, started.text
    await run_jobs()
    job = (await client.get(f"/api/v1/jobs/{started.json()['id']}", headers=owner.headers)).json()
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["youtube_batches"] == 1 and result["youtube_units"] == 1 and result["runs_started"] == 1
    assert result["readings"] == 3 and result["stopped"] == 1
    assert result["credited_minor"] == 2_000 + 500 + 100
    lists = (await sandbox.events("youtube.videos.list"))[before:]
    assert [e["data"]["ids"] for e in lists] == [3]  # one call for the three Shorts

    gone = (await client.get(f"/api/v1/clippers/submissions/{third['id']}", headers=owner.headers)).json()
    assert gone["status"] == "stopped" and "YouTube" in gone["reason"]
    views = (await client.get(f"/api/v1/clippers/submissions/{first['id']}/views", headers=headers(clipper))).json()
    assert len(views["daily"]) == 1 and views["daily"][0]["views"] == first["baseline_views"] + 2_000
    balance = (await client.get("/api/v1/clippers/balance", headers=headers(clipper))).json()
    assert balance["earned_minor"] == 2_600 and balance["available_minor"] == 2_600

    # The same readings again credit nothing; a falling count takes nothing back.
    await sandbox.config(youtube_views={yt1: first["baseline_views"] + 1_000, yt2: second["baseline_views"] + 500})
    again = await service.track_views(session_scope, uuid.UUID(owner.workspace_id), "again", **adapters())
    assert again.credited_minor == 0 and again.youtube_units == 1 and again.readings == 3


async def test_shorts_are_read_50_ids_a_call_and_units_counted(sandbox, session):
    now = await sandbox.now()
    ids = [yt for yt, _ in public_shorts(now, 60)] + [f"unknown{i:03d}" for i in range(60)]  # 10 characters: no Short
    client = YouTubeDataClient()
    stats = await client.fetch_stats(ids)
    assert {s.video_id for s in stats} == set(ids[:60])  # unknown ids are simply absent
    assert all(s.platform == "youtube" and s.views is not None for s in stats)
    lists = await sandbox.events("youtube.videos.list")
    assert [e["data"]["ids"] for e in lists] == [50, 50, 20] and client.calls == 3


async def test_quota_exceeded_and_5xx_are_retryable(sandbox, session):
    (yt, _), *_ = public_shorts(await sandbox.now(), 1)
    # A 5xx is retried by httpclient (a read), then answered.
    await sandbox.fault("/youtube/youtube/v3/videos", status=503, times=1)
    assert len(await YouTubeDataClient().fetch_stats([yt])) == 1
    # Google's 403 quotaExceeded: QuotaExhausted, a Retryable whose retry_after is the reset.
    await sandbox.config(youtube_daily_units=1)
    with pytest.raises(QuotaExhausted) as raised:
        await YouTubeDataClient().fetch_stats([yt])
    assert raised.value.retry_after and raised.value.retry_after > 60
    assert raised.value.extra.get("vendor_code") == "quotaExceeded"


async def test_client_side_quota_stops_before_google_does(sandbox, session):
    (yt, _), *_ = public_shorts(await sandbox.now(), 1)
    sandbox.set_settings(quotas__youtube_daily_units=2)
    client = YouTubeDataClient()
    for _ in range(2):
        assert len(await client.fetch_stats([yt])) == 1
    with pytest.raises(QuotaExhausted):
        await client.fetch_stats([yt])
    assert len(await sandbox.events("youtube.videos.list")) == 2  # the third call never left


async def test_round_credits_what_it_read_then_raises_for_the_runtime_to_retry(client, signup, sandbox, mail_sink):
    owner = await signup()
    clipper = await member(client, owner, "clipper", mail_sink)
    campaign = (await client.post("/api/v1/clippers/campaigns", headers=owner.headers, json=CAMPAIGN)).json()
    now = await sandbox.now()
    ((yt, url),) = public_shorts(now, 1)
    ((_, tiktok_url),) = public_videos(now, 1, min_age_h=7.0)
    short = await _submit_and_approve(client, owner, clipper, campaign["id"], url)
    tiktok = await _submit_and_approve(client, owner, clipper, campaign["id"], tiktok_url)
    await sandbox.config(
        youtube_views={yt: short["baseline_views"] + 3_000},
        apify_views={tiktok["video_id"]: tiktok["baseline_views"] + 1_000},
    )
    await sandbox.fault("/youtube/youtube/v3/videos", status=403, error_code="quotaExceeded", times=1)
    ws = uuid.UUID(owner.workspace_id)
    with pytest.raises(QuotaExhausted):
        await service.track_views(session_scope, ws, "job-q", **adapters())
    balance = (await client.get("/api/v1/clippers/balance", headers=headers(clipper))).json()
    assert balance["earned_minor"] == 1_000  # the TikTok batch was read and credited
    # The runtime's retry of the same job: the TikTok run is not started again, the Shorts are read.
    retried = await service.track_views(session_scope, ws, "job-q", **adapters())
    assert retried.runs_started == 0 and retried.youtube_batches == 1 and retried.credited_minor == 3_000
    assert len(await sandbox.events("apify.run.start")) == 1


async def test_youtube_5xx_past_http_retries_is_retried_by_the_runtime(client, signup, sandbox, run_jobs, mail_sink):
    owner = await signup()
    clipper = await member(client, owner, "clipper", mail_sink)
    campaign = (await client.post("/api/v1/clippers/campaigns", headers=owner.headers, json=CAMPAIGN)).json()
    now = await sandbox.now()
    ((yt, url),) = public_shorts(now, 1)
    ((_, tiktok_url),) = public_videos(now, 1, min_age_h=7.0)
    short = await _submit_and_approve(client, owner, clipper, campaign["id"], url)
    tiktok = await _submit_and_approve(client, owner, clipper, campaign["id"], tiktok_url)
    await sandbox.config(
        youtube_views={yt: short["baseline_views"] + 700},
        apify_views={tiktok["video_id"]: tiktok["baseline_views"] + 300},
    )
    sandbox.set_settings(http__max_attempts=2)
    await sandbox.fault("/youtube/youtube/v3/videos", status=503, times=2)  # the first attempt's two tries
    started = await client.post("/api/v1/clippers/tracking/run", headers=owner.headers)
    await run_jobs()
    job = (await client.get(f"/api/v1/jobs/{started.json()['id']}", headers=owner.headers)).json()
    assert job["status"] == "succeeded" and job["attempt"] == 2, job
    # The second attempt read the Shorts; the TikTok batch (read and credited by the first) was skipped.
    assert job["result"]["youtube_batches"] == 1 and job["result"]["runs_started"] == 0
    assert len(await sandbox.events("apify.run.start")) == 1
    balance = (await client.get("/api/v1/clippers/balance", headers=headers(clipper))).json()
    assert balance["earned_minor"] == 1_000


def test_composition_builds_the_clipper_platforms():
    platforms = composition.clipper_platforms()
    assert isinstance(platforms.youtube, YouTubeDataClient)
    assert platforms.tiktok.__class__.__name__ == "ApifyClient"
