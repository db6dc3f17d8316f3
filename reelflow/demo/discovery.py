"""Demo step: creator discovery — a 100-creator TikTok keyword search and an Instagram
similar-creator search, progress as they page, the top creators, the image proxy, the CSV
export (its path is printed), and what the plan's usage shows.

Everything goes through the API; each search is one job run by the demo's worker, paging
the sandbox's ScrapeCreators stand-in by its cursor.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from reelflow.settings import get_settings

if TYPE_CHECKING:
    from reelflow.demo import Demo

D = "/api/v1/discovery"


async def _follow(demo: Demo, campaign_id: str, search: dict[str, Any], limit_s: float = 180.0) -> dict[str, Any]:
    """Poll the progress resource, printing each change."""
    url = f"{D}/campaigns/{campaign_id}/searches/{search['id']}"
    deadline = time.monotonic() + limit_s
    last = None
    while True:
        search = (await demo.client.get(url)).raise_for_status().json()
        line = (search["status"], search["pages"], search["found"])
        if line != last:
            demo.say(
                f"  {search['status']:<10} {search['progress']:>3} %  pages {search['pages']:>3}  "
                f"creators {search['found']:>4}/{search['target']}  credits {search['credits_used']}"
            )
            last = line
        if search["status"] not in ("pending", "processing"):
            return search
        if time.monotonic() > deadline:
            raise RuntimeError(f"search still {search['status']} after {limit_s:.0f} s")
        await asyncio.sleep(0.4)


def _write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def _top(demo: Demo, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        rate = f"{100 * row['engagement_rate']:.1f} %" if row["engagement_rate"] is not None else "  —  "
        followers = f"{row['followers']:,}" if row["followers"] is not None else "—"
        contact = row["emails"][0] if row["emails"] else (row["links"][0] if row["links"] else "")
        demo.say(f"  @{row['handle']:<22} {followers:>11} followers  ER {rate:>7}  {row['region'] or '':<3} {contact}")


async def run(demo: Demo) -> None:
    demo.section("Discovery: keyword and similar-creator searches")
    kw = (
        (
            await demo.client.post(
                f"{D}/campaigns",
                json={"name": "Spring fitness push", "description": "Gym creators", "search_type": "keyword"},
            )
        )
        .raise_for_status()
        .json()
    )
    bad = await demo.client.post(
        f"{D}/campaigns/{kw['id']}/searches", json={"platform": "tiktok", "target": 250, "keywords": ["gym"]}
    )
    demo.say(f"target 250 → {bad.status_code}: {bad.json()['errors'][0]}")
    body = {"platform": "tiktok", "target": 100, "keywords": ["workout", "gymtok", "Workout ", "protein"]}
    key = str(uuid.uuid4())
    started = await demo.client.post(f"{D}/campaigns/{kw['id']}/searches", json=body, headers={"Idempotency-Key": key})
    search = started.raise_for_status().json()
    replay = await demo.client.post(f"{D}/campaigns/{kw['id']}/searches", json=body, headers={"Idempotency-Key": key})
    demo.say(
        f"TikTok keyword search {search['keywords']} (duplicates folded), target {search['target']} → "
        f"{started.status_code}; same Idempotency-Key again → {replay.status_code}, same search: "
        f"{replay.json()['id'] == search['id']}"
    )
    done = await _follow(demo, kw["id"], search)
    demo.say(
        f"{done['status']}: {done['found']} unique creators from {done['items_seen']} provider items "
        f"on {done['pages']} pages ({done['credits_used']} credits)"
    )
    top = (
        await demo.client.get(f"{D}/campaigns/{kw['id']}/searches/{search['id']}/creators", params={"limit": 5})
    ).json()["items"]
    demo.say("top creators by followers:")
    _top(demo, top)
    with_email = (
        await demo.client.get(
            f"{D}/campaigns/{kw['id']}/searches/{search['id']}/creators",
            params={"has_email": "true", "min_engagement": 0.05, "sort": "engagement", "limit": 3},
        )
    ).json()["items"]
    demo.say("with an email in the bio and engagement ≥ 5 %, best engagement first:")
    _top(demo, with_email)
    multi = [r for r in top + with_email if len(r["keywords"]) > 1]
    if multi:
        demo.say(f"@{multi[0]['handle']} was found by {multi[0]['keywords']} and is one row")

    avatar = top[0]["avatar_url"] if top else None
    if avatar:
        first = await demo.client.get(avatar)
        second = await demo.client.get(avatar)
        demo.say(
            f"avatar through the proxy: {first.status_code} {first.headers.get('content-type')} "
            f"{len(first.content)} bytes, cache {first.headers.get('x-cache')} then {second.headers.get('x-cache')}"
        )

    export = await demo.client.get(
        f"{D}/campaigns/{kw['id']}/searches/{search['id']}/creators", params={"format": "csv"}
    )
    export.raise_for_status()
    path = get_settings().resolved_data_dir / "exports" / f"discovery-{search['id']}.csv"
    await asyncio.to_thread(_write, path, export.content)
    lines = export.content.count(b"\n") - 1
    demo.say(f"CSV export ({lines} creators, UTF-8 with BOM, formula-safe cells): {path}")

    demo.say("")
    seeds = (await demo.client.get(f"{demo.sandbox_url}/sandbox/world/creators", params={"topic": "beauty"})).json()
    seed = next(c for c in seeds if c["followers"] < 3_000_000)
    sim = (
        (await demo.client.post(f"{D}/campaigns", json={"name": "Lookalikes", "search_type": "similar"}))
        .raise_for_status()
        .json()
    )
    started = await demo.client.post(
        f"{D}/campaigns/{sim['id']}/searches",
        json={"platform": "instagram", "target": 100, "handle": f"@{seed['handle']}"},
    )
    search = started.raise_for_status().json()
    demo.say(f"Instagram creators similar to @{search['handle']}, target {search['target']}:")
    done = await _follow(demo, sim["id"], search)
    demo.say(f"{done['status']}: {done['found']} creators from {done['pages']} profile calls")
    top = (
        await demo.client.get(f"{D}/campaigns/{sim['id']}/searches/{search['id']}/creators", params={"limit": 5})
    ).json()["items"]
    demo.say("top similar creators (follower counts come from each expanded profile):")
    _top(demo, top)

    usage = (await demo.client.get("/api/v1/usage")).json()
    creators = usage["metrics"]["discovery_creators"]
    demo.say(
        f"usage ({usage['plan']} plan): {creators['used']}/{creators['limit']} discovery creators this month; "
        f"searches running {usage['discovery_concurrent_searches']['used']}/"
        f"{usage['discovery_concurrent_searches']['limit']}"
    )
