"""Demo step: the platform sandbox through the adapters (a Research query, a 429 survived,
the simulated clock moved forward and the counters grown, a deduplicated keyword search)."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from reelflow.demo import Demo


async def run(demo: Demo) -> None:
    from reelflow.adapters.scrapecreators import ScrapeCreatorsClient
    from reelflow.adapters.tiktok.research import ResearchClient, VideoQuery
    from reelflow.settings import reset_settings_cache

    os.environ["REELFLOW_SANDBOX__URL"] = demo.sandbox_url  # the adapters in this process use it too
    reset_settings_cache()
    demo.section("Platform sandbox through the adapters")
    async with httpx.AsyncClient(base_url=demo.sandbox_url, timeout=30) as control:
        today = datetime.now(UTC).date()
        research = ResearchClient()
        query = VideoQuery.build(start=today - timedelta(days=6), end=today, hashtags=["fitness"])
        first = None
        videos = []
        async for page in research.iter_pages(query):
            first = first or page
            videos.extend(page.videos)
        assert first is not None
        demo.say(
            f"Research API: #fitness, last 7 days → {len(videos)} videos in pages of ≤100 "
            f"(first page {len(first.videos)}, search_id {first.search_id})"
        )
        for video in videos[:3]:
            stats = video.stats
            demo.say(f"  @{video.author_handle}: {video.caption!r} — {stats.views if stats else '?'} views")

        await _post(
            control,
            "/sandbox/faults",
            {"path": "/tiktok/v2/research/video/query/", "status": 429, "retry_after": 1, "times": 1},
        )
        ids = [v.id for v in videos[:50]]
        before = {s.video_id: s for s in await research.fetch_stats(ids)}
        calls = (await control.get("/sandbox/requests", params={"path": "/tiktok/v2/research/video/query/"})).json()
        demo.say(
            f"Injected a 429 with Retry-After: 1 → the adapter waited and retried: statuses "
            f"{[c['status'] for c in calls[-2:]]}, stats for {len(before)} videos"
        )

        await _post(control, "/sandbox/clock", {"advance": 6 * 3600})
        after = {s.video_id: s for s in await research.fetch_stats(ids)}
        grown = sorted(after, key=lambda v: (after[v].views or 0) - (before[v].views or 0), reverse=True)[:3]
        demo.say("Simulated clock +6 h → counters grew:")
        for video_id in grown:
            demo.say(f"  {video_id}: {before[video_id].views} → {after[video_id].views} views")
        await _post(control, "/sandbox/clock", {"advance": -6 * 3600})

        seen = [v async for v in ScrapeCreatorsClient().iter_keyword_search("protein", max_items=120)]
        pages = (await control.get("/sandbox/requests", params={"path": "/scrapecreators/*"})).json()
        demo.say(
            f"ScrapeCreators keyword search 'protein': {len(seen)} unique videos from {len(pages)} pages "
            "(pages repeat items; deduplicated on aweme_id)"
        )


async def _post(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> None:
    response = await client.post(path, json=body)
    response.raise_for_status()
