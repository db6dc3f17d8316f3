"""Demo step: connect a sandbox TikTok ad account through the Business OAuth flow, create a
direction, make two creatives from the clips of the clipping step, launch them, pause one
ad, collect the metrics and print the report."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

if TYPE_CHECKING:
    from reelflow.demo import Demo


async def _wait(demo: Demo, path: str, done: tuple[str, ...], limit_s: float = 180) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        body = (await demo.client.get(path)).json()
        if body["status"] in done:
            return dict(body)
        if time.monotonic() - started > limit_s:
            raise RuntimeError(f"{path} still {body['status']} after {limit_s:.0f} s")
        await asyncio.sleep(0.5)


async def _clips(demo: Demo) -> list[dict[str, Any]]:
    projects = (await demo.client.get("/api/v1/projects")).json()
    for project in projects.get("items", []):
        clips = (await demo.client.get(f"/api/v1/projects/{project['id']}/clips")).json()
        ready = [c for c in clips if c.get("status") == "ready"]
        if len(ready) >= 2:
            return ready[:2]
    return []


async def run(demo: Demo) -> None:
    demo.section("Ads: TikTok ad account, direction, creatives, launch, actions, metrics")
    start = (await demo.client.get("/api/v1/oauth/tiktok-business/start")).json()
    async with httpx.AsyncClient() as http:  # the advertiser's browser at the portal
        redirect = await http.get(start["authorize_url"])
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    callback = await demo.client.get(
        "/api/v1/oauth/tiktok-business/callback",
        params={"state": query["state"][0], "auth_code": query["auth_code"][0]},
    )
    callback.raise_for_status()
    connection = callback.json()
    advertiser = connection["advertisers"][0]
    demo.say(
        f"OAuth: portal → callback → token stored encrypted; advertiser {advertiser['advertiser_id']} "
        f"({advertiser['currency']}, {advertiser['timezone']})"
    )
    accounts = await demo.client.post(
        "/api/v1/ads/accounts",
        json={"connection_id": connection["id"], "advertiser_ids": [advertiser["advertiser_id"]]},
    )
    accounts.raise_for_status()
    account = accounts.json()[0]
    demo.say(
        f"ad account {account['id']}: identity {account['identity_type']} {account['identity_id']}, "
        f"autopilot {account['autopilot']}"
    )

    minor = 100  # USD cents
    created = await demo.client.post(
        "/api/v1/ads/directions",
        json={
            "ad_account_id": account["id"],
            "name": f"Demo leads {int(time.time())}",
            "platform": "both",
            "objective": "lead_generation",
            "daily_budget_minor": 60 * minor,
            "target_cpl_minor": 8 * minor,
            "settings": {
                "countries": ["US"],
                "age_groups": ["AGE_25_34", "AGE_35_44"],
                "ad_text": "Get a quote in 2 minutes",
                "landing_page_url": "https://example.com/quote",
            },
        },
    )
    created.raise_for_status()
    directions = created.json()["items"]
    direction = next(d for d in directions if d["platform"] == "tiktok")
    demo.say(
        f"direction (platform both → {len(directions)} rows: "
        f"{', '.join(d['platform'] for d in directions)}; Facebook stored, no adapter)"
    )
    low = await demo.client.post(
        "/api/v1/ads/directions",
        json={
            **{k: direction[k] for k in ("ad_account_id",)},
            "name": "too cheap",
            "platform": "tiktok",
            "objective": "traffic",
            "daily_budget_minor": 19 * minor,
        },
    )
    demo.say(f"a daily budget under the minimum → {low.status_code} {low.json().get('detail')}")

    creatives = []
    clips = await _clips(demo)
    for i, clip in enumerate(clips):
        response = await demo.client.post(
            "/api/v1/ads/creatives",
            json={
                "ad_account_id": account["id"],
                "direction_id": direction["id"],
                "clip_id": clip["id"],
                "name": f"Clip #{clip['rank']}",
            },
        )
        response.raise_for_status()
        creatives.append(response.json())
        del i
    if len(creatives) < 2:  # no rendered clips (clipping step skipped): upload sandbox videos
        async with httpx.AsyncClient() as http:
            video = (await http.get(f"{demo.sandbox_url}/sandbox/media/tiny-vertical.mp4")).content
        for i in range(2 - len(creatives)):
            response = await demo.client.post(
                "/api/v1/ads/creatives/upload",
                params={"ad_account_id": account["id"], "direction_id": direction["id"], "name": f"Upload {i + 1}"},
                content=video + bytes([i]),
                headers={"Content-Type": "video/mp4"},
            )
            response.raise_for_status()
            creatives.append(response.json())
    for creative in creatives:
        done = await _wait(demo, f"/api/v1/ads/creatives/{creative['id']}", ("ready", "failed"))
        demo.say(
            f"creative “{done['name']}” ({done['source']}): UPLOAD_BY_FILE, md5 {done['md5']}, "
            f"tiktok_video_id {done['tiktok_video_id']}"
        )

    launched = await demo.client.post(
        "/api/v1/ads/launches",
        json={"direction_id": direction["id"], "mode": "manual", "creative_ids": [c["id"] for c in creatives]},
    )
    launched.raise_for_status()
    launch = await _wait(demo, f"/api/v1/ads/launches/{launched.json()['id']}", ("succeeded", "failed"))
    demo.say(
        f"launch {launch['status']}: campaign {launch['campaign_id']} → ad group {launch['adgroup_id']} → "
        f"{len(launch['ad_ids'])} ads"
    )
    ad_id = next(iter(launch["ad_ids"].values()))
    action = await demo.client.post(
        "/api/v1/ads/actions",
        json={"ad_account_id": account["id"], "kind": "pause_ad", "target_id": ad_id},
        headers={"Idempotency-Key": f"demo-pause-{ad_id}"},
    )
    action.raise_for_status()
    paused = await _wait(demo, f"/api/v1/ads/actions/{action.json()['id']}", ("succeeded", "failed"))
    demo.say(
        f"pause ad {ad_id}: {paused['status']}, before {paused['before']['operation_status']} → "
        f"after {paused['after']['operation_status']} (audited)"
    )

    async with httpx.AsyncClient() as http:  # let the sandbox deliver for a few hours
        await http.post(f"{demo.sandbox_url}/sandbox/clock", json={"advance": 6 * 3600})
    job = await demo.client.post(f"/api/v1/ads/accounts/{account['id']}/collect")
    job.raise_for_status()
    run = await _wait(demo, f"/api/v1/jobs/{job.json()['id']}", ("succeeded", "failed"))
    demo.say(f"metrics collected (AUCTION_AD by day, 7 days): {run['result']}")
    report = (await demo.client.get("/api/v1/ads/reports/directions", params={"platform": "tiktok"})).json()
    for row in report["rows"]:
        cpl = f"{row['cpl_minor'] / minor:.2f}" if row["cpl_minor"] is not None else "-"
        demo.say(
            f"report {row['name']}: spend {row['spend_minor'] / minor:.2f} {row['currency']}, "
            f"{row['impressions']} impressions, {row['clicks']} clicks, {row['leads']} leads, CPL {cpl} "
            f"(target {row['target_cpl_minor'] / minor:.2f}), ROI {row['roi']}"
        )
    per_creative = await demo.client.get("/api/v1/ads/reports/creatives", params={"direction_id": direction["id"]})
    for row in per_creative.json()["rows"]:
        demo.say(f"  creative {row['name']}: spend {row['spend_minor'] / minor:.2f}, leads {row['leads']}")
