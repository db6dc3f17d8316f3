"""The sandbox's own API: health, reset, clock, faults, inspection, world determinism."""

from __future__ import annotations

import httpx
import pytest

from reelflow.sandbox.world import World, from_short_code, short_code, video_stats


async def test_health_lists_platforms_and_reset_clears_state(sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        health = (await client.get("/sandbox/health")).json()
        assert {"tiktok", "youtube", "scrapecreators", "apify"} <= set(health["platforms"])
        await sandbox.fault("/apify/*", status=500)
        await sandbox.advance(100)
        await client.post("/apify/v2/acts/clockworks~tiktok-scraper/run-sync-get-dataset-items", json={})
        assert await sandbox.requests()
        await client.post("/sandbox/reset")
        assert await sandbox.requests() == [] and (await client.get("/sandbox/faults")).json() == []
        assert abs((await client.get("/sandbox/clock")).json()["offset"]) < 1e-6


async def test_clock_advance_set_and_freeze(sandbox) -> None:
    before = await sandbox.now()
    after = (await sandbox.advance(3600))["now"]
    assert 3599 < after - before < 3610
    frozen = (await sandbox.freeze())["now"]
    assert await sandbox.now() == frozen
    assert (await sandbox.advance(10))["now"] == frozen + 10
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        set_to = (await client.post("/sandbox/clock", json={"set": "2030-01-01T00:00:00Z"})).json()
    assert set_to["iso"].startswith("2030-01-01T00:00:00")


async def test_faults_match_method_path_skip_and_times(sandbox) -> None:
    await sandbox.fault("/scrapecreators/v1/tiktok/profile", method="GET", status=500, skip=1, times=2)
    url = f"{sandbox.url}/scrapecreators/v1/tiktok/profile"
    creator = (await sandbox.world("creators", limit=1))[0]["handle"]
    async with httpx.AsyncClient() as client:
        codes = [
            (
                await client.get(url, params={"handle": creator}, headers={"x-api-key": "sbx_scrapecreators_key"})
            ).status_code
            for _ in range(4)
        ]
    assert codes == [200, 500, 500, 200]
    recorded = await sandbox.requests("/scrapecreators/*")
    assert [r["fault"] for r in recorded] == [None, "error", "error", None]


async def test_injected_errors_use_each_platforms_envelope(sandbox) -> None:
    await sandbox.fault("/tiktok/v2/user/info/", status=429, retry_after=3)
    await sandbox.fault("/youtube/youtube/v3/videos", status=403, error_code="quotaExceeded")
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        tiktok = await client.get("/tiktok/v2/user/info/")
        youtube = await client.get("/youtube/youtube/v3/videos", params={"part": "statistics", "id": "x"})
    assert tiktok.status_code == 429 and tiktok.headers["retry-after"] == "3"
    assert tiktok.json()["error"]["code"] == "rate_limit_exceeded" and tiktok.json()["error"]["log_id"]
    assert youtube.json()["error"]["errors"][0]["reason"] == "quotaExceeded"


async def test_sandbox_enforces_documented_per_token_limits_when_asked(sandbox) -> None:
    from tests.adapters.test_tiktok_user import connect

    await sandbox.config(enforce_rate_limits=True)
    tokens = await connect()
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        headers = {"Authorization": f"Bearer {tokens.access_token}"}
        codes = [
            (await client.post("/tiktok/v2/post/publish/creator_info/query/", headers=headers)).status_code
            for _ in range(21)
        ]
    assert codes[:20] == [200] * 20 and codes[20] == 429


async def test_media_files_are_served(sandbox) -> None:
    async with httpx.AsyncClient(base_url=sandbox.url) as client:
        names = (await client.get("/sandbox/media")).json()
        assert "tiny-vertical.mp4" in names
        video = await client.get("/sandbox/media/tiny-vertical.mp4")
        assert video.status_code == 200 and video.content[4:8] == b"ftyp"
        assert (await client.get("/sandbox/media/..%2Fapp.py")).status_code == 404


def test_world_is_deterministic_and_lazy() -> None:
    a, b = World(7, 200, 5, 1_800_000_000), World(7, 200, 5, 1_800_000_000)
    assert a.index.ids_desc == b.index.ids_desc
    vid = a.index.ids_desc[len(a.index.ids_desc) // 2]
    assert a.video(vid).description == b.video(vid).description
    assert a.stats(vid, 1_800_000_000) == b.stats(vid, 1_800_000_000)
    arbitrary = (1_790_000_000 << 32) | 123_456
    assert a.video(arbitrary).author.handle  # any TikTok-style id has a video
    assert from_short_code(short_code(vid)) == vid
    # counters never go down as the clock moves
    views = [video_stats(7, vid, 10_000, 1_790_000_000 + h * 3600) for h in range(0, 200, 10)]
    counts = [s.views for s in views if s is not None]
    assert counts == sorted(counts)


def test_a_few_videos_go_viral() -> None:
    now = 1_800_000_000
    finals = [video_stats(1, ((now - 30 * 86_400) << 32) | i, 5_000, now) for i in range(4000)]
    views = sorted(s.views for s in finals if s is not None)
    assert views[-1] > 20 * views[len(views) // 2]  # heavy tail
    assert 0.01 < sum(1 for s in finals if s is None) / len(finals) < 0.06  # deleted/private


async def test_research_daily_quota_when_enforced(sandbox) -> None:
    from datetime import UTC, datetime, timedelta

    from reelflow.adapters.tiktok.research import ResearchClient, VideoQuery
    from reelflow.errors import QuotaExhausted

    await sandbox.config(enforce_rate_limits=True)
    sandbox.set_settings(quotas__tiktok_research_daily_requests=0)  # only the platform counts here
    client = ResearchClient()
    await client.token()
    from reelflow.sandbox import tiktok_research as tiktok

    tiktok.RESEARCH_DAILY_REQUESTS, old = 2, tiktok.RESEARCH_DAILY_REQUESTS
    try:
        today = datetime.now(UTC).date()
        query = VideoQuery.build(start=today - timedelta(days=20), end=today, hashtags=["fyp"])
        with pytest.raises(QuotaExhausted):
            async for _ in client.iter_pages(query):
                pass
    finally:
        tiktok.RESEARCH_DAILY_REQUESTS = old
    statuses = [r["status"] for r in await sandbox.requests("/tiktok/v2/research/video/query/")]
    assert statuses[-1] == 429 and statuses.count(429) == 1  # a quota answer is not retried inline
