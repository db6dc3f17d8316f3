"""The Apify adapter stays under the platform's per-second window (the sandbox enforces 5
requests per sliding second with its latency model on): a token bucket with burst 1 and a
margin, not a 5/s bucket with burst 5 that overshoots the window."""

from __future__ import annotations

import asyncio

from reelflow.adapters.apify import ApifyClient
from reelflow.adapters.ratelimit import RateLimit


def test_within_window_never_lets_more_than_the_window_through() -> None:
    limit = RateLimit.within_window("x", 5, 1.0)
    assert limit.burst == 1.0
    # A bucket lets burst + rate·w requests through in any window of w seconds.
    assert limit.burst + limit.rate * 1.0 < 5
    assert RateLimit.per_second("x", 5).burst + 5 > 5  # the old bucket could not keep the window
    slow = RateLimit.within_window("y", 600, 60.0, margin=0.0)
    assert slow.burst + slow.rate * 60.0 <= 600


async def test_many_concurrent_requests_meet_no_429(sandbox, session) -> None:
    await sandbox._call("POST", "/sandbox/latency", json={"enabled": True, "scale": 0.0})  # limits only
    client = ApifyClient()
    run_id, _ = await client.start_post_run(["https://www.tiktok.com/@a/video/7300000000000000000"])
    statuses = await asyncio.gather(*(client.run_status(run_id) for _ in range(19)))
    assert set(statuses) <= {"RUNNING", "SUCCEEDED"}
    report = await sandbox._call("GET", "/sandbox/latency")
    row = next(r for r in report["endpoints"] if r["pattern"] == "/apify/*")
    assert row["requests"] == 20 and row["limited"] == 0, row
