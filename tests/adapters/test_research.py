"""Research API adapter against the live sandbox: windows, paging to the end, mapping, stats, quota."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from reelflow.adapters.tiktok.research import ResearchClient, VideoQuery, plan_stat_batches, video_created_at
from reelflow.errors import NotFound, QuotaExhausted


def _today() -> date:
    return datetime.now(UTC).date()


async def test_query_pages_to_the_end_and_maps_every_field(sandbox) -> None:
    client = ResearchClient()
    query = VideoQuery.build(start=_today() - timedelta(days=45), end=_today(), hashtags=["fitness"])
    assert len(query.windows()) == 2
    pages = [page async for page in client.iter_pages(query)]
    assert pages[-1].has_more is False
    videos = [v for p in pages for v in p.videos]
    assert len(videos) > 100  # more than one page
    ids = [v.id for v in videos]
    assert len(ids) == len(set(ids))
    assert ids == sorted(ids, key=int, reverse=True)  # decreasing id order across windows
    video = videos[0]
    assert "fitness" in video.hashtags
    assert video.platform == "tiktok" and video.id.isdigit() and isinstance(video.id, str)
    assert video.url == f"https://www.tiktok.com/@{video.author_handle}/video/{video.id}"
    assert video.caption and video.created_at and video.region and video.sound_id and video.duration_s
    assert video.stats is not None and video.stats.views is not None and video.stats.saves is not None
    # the client token is fetched once and cached
    assert len(await sandbox.requests("/tiktok/v2/oauth/token/")) == 1
    # paging sent the cursor and search_id back
    bodies = [r["body"] for r in await sandbox.requests("/tiktok/v2/research/video/query/")]
    assert any("search_id" in b and b["cursor"] > 0 for b in bodies)


async def test_keyword_username_region_and_not(sandbox) -> None:
    creator = (await sandbox.world("creators", limit=1))[0]
    client = ResearchClient()
    query = VideoQuery.build(start=_today() - timedelta(days=29), end=_today(), usernames=[creator["handle"]])
    videos = [v async for v in client.iter_videos(query)]
    assert all(v.author_handle == creator["handle"] for v in videos)
    kw = VideoQuery.build(start=_today() - timedelta(days=10), end=_today(), keywords=["protein"],
                          exclude_hashtags=["gymtok"], regions=["US"])  # fmt: skip
    found = [v async for v in client.iter_videos(kw, limit=50)]
    assert found and all("protein" in (v.caption or "").lower() for v in found)
    assert all("gymtok" not in v.hashtags and v.region == "US" for v in found)


async def test_search_id_expiry_restarts_the_window_without_duplicates(sandbox) -> None:
    await sandbox.config(research_search_ttl_s=30)
    client = ResearchClient()
    query = VideoQuery.build(start=_today() - timedelta(days=20), end=_today(), hashtags=["fyp"])
    seen: list[str] = []
    async for page in client.iter_pages(query):
        if not seen:
            await sandbox.advance(60)  # the search cached behind search_id expires
        seen.extend(v.id for v in page.videos)
    requests = await sandbox.requests("/tiktok/v2/research/video/query/")
    bodies = [r["body"] for r in requests if r["status"] != 401]  # a token cached by an earlier test
    assert sum(1 for b in bodies if "search_id" not in b) == 2  # searched again once
    assert len(seen) == len(set(seen)) and len(seen) > 100


async def test_first_page_warmup_error_is_retried(sandbox) -> None:
    sandbox.set_settings(http__backoff_initial_seconds=0.01)
    await sandbox.config(research_warmup_failures=2)
    client = ResearchClient()
    query = VideoQuery.build(start=_today() - timedelta(days=5), end=_today(), hashtags=["travel"])
    videos = [v async for v in client.iter_videos(query, limit=5)]
    assert len(videos) == 5


async def test_fetch_stats_batches_100_ids_and_keeps_order(sandbox) -> None:
    now = int(datetime.now(UTC).timestamp())
    ids = [str(((now - 3600 * 24 * (i % 70) - 600) << 32) | (i * 4097 & 0xFFFFFFFF)) for i in range(450)]
    batches = plan_stat_batches(ids)
    assert all(len(b.ids) <= 100 and (b.end - b.start).days < 30 for b in batches)
    stats = await ResearchClient().fetch_stats(ids)
    assert 400 < len(stats) < 450  # a few percent are deleted/private
    order = {v: i for i, v in enumerate(ids)}
    assert [order[s.video_id] for s in stats] == sorted(order[s.video_id] for s in stats)
    requests = await sandbox.requests("/tiktok/v2/research/video/query/")
    assert len([r for r in requests if r["status"] == 200]) == len(batches) < 12
    assert video_created_at(ids[0]) == now - 600


async def test_stats_grow_with_the_simulated_clock(sandbox) -> None:
    now = int(datetime.now(UTC).timestamp())
    ids = [str(((now - 1800) << 32) | i) for i in range(1, 60)]
    before = {s.video_id: s.views or 0 for s in await ResearchClient().fetch_stats(ids)}
    await sandbox.advance(6 * 3600)
    after = {s.video_id: s.views or 0 for s in await ResearchClient().fetch_stats(ids)}
    assert all(after[v] >= before[v] for v in before)
    assert sum(after.values()) > sum(before.values())


async def test_user_info_and_unknown_user(sandbox) -> None:
    creator = (await sandbox.world("creators", limit=3))[2]
    user = await ResearchClient().user_info("@" + creator["handle"])
    assert user.handle == creator["handle"] and user.followers == creator["followers"]
    assert user.video_count == creator["video_count"] and user.display_name and user.avatar_url
    with pytest.raises(NotFound):
        await ResearchClient().user_info("nobody.at.all")


async def test_daily_request_quota_is_enforced_client_side(sandbox) -> None:
    sandbox.set_settings(quotas__tiktok_research_daily_requests=2)
    client = ResearchClient()
    query = VideoQuery.build(start=_today() - timedelta(days=29), end=_today(), hashtags=["fyp"])
    with pytest.raises(QuotaExhausted) as info:
        async for _ in client.iter_pages(query):
            pass
    assert info.value.retry_after and info.value.retry_after <= 86_400
    requests = await sandbox.requests("/tiktok/v2/research/video/query/")
    assert len([r for r in requests if r["status"] == 200]) <= 2
