"""Demo step: connect one TikTok and two YouTube sandbox accounts through OAuth, publish the
best clip to all three (once each), show the publications, then run an experiment with two
variants through two metric collections and print the winner (or why there is none yet)."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit

import httpx

from reelflow.demo import Demo


async def _connect(demo: Demo, provider: str, user: str) -> dict[str, Any]:
    params = {"login_hint": user} if provider == "google" else {}
    start = (await demo.client.get(f"/api/v1/oauth/{provider}/start", params=params)).json()
    url = start["authorize_url"] + (f"&sandbox_user={user}" if provider == "tiktok" else "")
    async with httpx.AsyncClient(timeout=30) as browser:  # the user's browser on the consent page
        consent = await browser.get(url)
    parts = urlsplit(consent.headers["location"])
    response = await demo.client.get(f"{parts.path}?{parts.query}")
    response.raise_for_status()
    return dict(response.json())


async def _wait_publications(demo: Demo, query: str, wait_s: float = 120) -> list[dict[str, Any]]:
    deadline = time.monotonic() + wait_s
    while True:
        pubs: list[dict[str, Any]] = (await demo.client.get(f"/api/v1/publications?{query}")).json()
        if pubs and all(p["status"] in ("published", "failed", "cancelled") for p in pubs):
            return pubs
        if time.monotonic() > deadline:
            return pubs
        await asyncio.sleep(0.5)


async def _wait_job(demo: Demo, job_id: str, wait_s: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + wait_s
    while True:
        job: dict[str, Any] = (await demo.client.get(f"/api/v1/jobs/{job_id}")).json()
        if job["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.3)


async def run(demo: Demo) -> None:
    demo.section("Publishing: connected accounts, publish once per account, experiments")
    async with httpx.AsyncClient(base_url=demo.sandbox_url, timeout=30) as sandbox:
        await sandbox.post("/sandbox/config", json={"tiktok_processing_s": 2, "youtube_processing_s": 3})
        users = [c["handle"] for c in (await sandbox.get("/sandbox/world/creators", params={"limit": 3})).json()]
        tiktok = await _connect(demo, "tiktok", users[0])
        channels = [await _connect(demo, "google", u) for u in users[1:3]]
        for account in (tiktok, *channels):
            demo.say(
                f"connected {account['platform']:<7} {account['display_name']!r} ({account['external_id'][:14]}…) "
                f"status {account['status']}"
            )
        again = await _connect(demo, "tiktok", users[0])
        demo.say(f"reconnecting the same TikTok account → same id: {again['id'] == tiktok['id']}")

        projects = (await demo.client.get("/api/v1/projects")).json()
        project = next(p for p in projects.get("items", projects) if p["status"] == "clips_ready")
        clips = sorted(
            (await demo.client.get(f"/api/v1/projects/{project['id']}/clips")).json(), key=lambda c: c["rank"]
        )
        best = clips[0]
        demo.say(f"best clip: #{best['rank']} score {best['score']:.2f} ({best['duration_s']:.1f} s)")
        bad = await demo.client.post(
            "/api/v1/publish/tiktok",
            json={"clip_id": best["id"], "account_ids": [tiktok["id"]], "privacy": "SELF_ONLY", "caption": "x" * 2300},
        )
        demo.say(f"caption of 2,300 characters → {bad.status_code} ({bad.json()['errors'][0]['field']})")
        t = await demo.client.post(
            "/api/v1/publish/tiktok",
            json={"clip_id": best["id"], "account_ids": [tiktok["id"]], "privacy": "PUBLIC_TO_EVERYONE"},
            headers={"Idempotency-Key": f"demo-publish-{best['id']}"},
        )
        y = await demo.client.post(
            "/api/v1/publish/youtube",
            json={"clip_id": best["id"], "account_ids": [c["id"] for c in channels], "title": project["title"][:100]},
        )
        demo.say(f"POST /publish/tiktok → {t.status_code}, POST /publish/youtube → {y.status_code} (2 jobs)")
        pubs = await _wait_publications(demo, f"clip_id={best['id']}")
        for pub in pubs:
            demo.say(f"  {pub['platform']:<7} {pub['status']:<10} {pub['external_id'] or '-':<22} {pub['url'] or ''}")
        repeat = await demo.client.post(
            "/api/v1/publish/youtube",
            json={"clip_id": best["id"], "account_ids": [c["id"] for c in channels], "title": "again"},
        )
        videos = (await sandbox.get("/sandbox/youtube/videos")).json()
        posts = (await sandbox.get("/sandbox/tiktok/posts")).json()
        demo.say(
            f"the same clip and channels again → {repeat.status_code} (existing publications); "
            f"on the platforms: {len(posts)} TikTok post, {len(videos)} YouTube videos"
        )

        if len(clips) < 2:
            demo.say("only one clip: no experiment")
            return
        experiment = (
            await demo.client.post(
                "/api/v1/experiments",
                json={
                    "project_id": project["id"],
                    "name": "hook A/B",
                    "min_views": 50_000,  # five minutes of views are not enough; three hours are
                    "variants": [
                        {"label": "A", "clip_id": clips[0]["id"], "caption": "Wait for the end #ab"},
                        {"label": "B", "clip_id": clips[1]["id"], "caption": "You won't guess this #ab"},
                    ],
                },
            )
        ).json()
        variants = {v["label"]: v for v in experiment["variants"]}
        for label, clip in (("A", clips[0]), ("B", clips[1])):
            common = {"clip_id": clip["id"], "experiment_id": experiment["id"], "variant_id": variants[label]["id"]}
            await demo.client.post(
                "/api/v1/publish/tiktok",
                json={**common, "account_ids": [tiktok["id"]], "privacy": "PUBLIC_TO_EVERYONE"},
            )
            await demo.client.post(
                "/api/v1/publish/youtube",
                json={**common, "account_ids": [channels[0]["id"]], "title": f"Variant {label}"},
            )
        pubs = await _wait_publications(demo, f"experiment_id={experiment['id']}")
        demo.say(
            f"experiment {experiment['id']}: 2 variants, {len(pubs)} variant posts ({len(pubs) // 2} accounts each)"
        )
        for round_no, advance in ((1, 300), (2, 3 * 3600)):  # 5 minutes of views, then three hours more
            await sandbox.post("/sandbox/clock", json={"advance": advance})
            started = await demo.client.post(f"/api/v1/experiments/{experiment['id']}/collect")
            if started.status_code != 202:  # decided already: a winner ends the experiment
                demo.say(f"collection {round_no}: {started.status_code} {started.json().get('detail')}")
                break
            job = await _wait_job(demo, started.json()["id"])
            result = job.get("result") or {}
            state = (await demo.client.get(f"/api/v1/experiments/{experiment['id']}")).json()
            reason = (state["decision"] or {}).get("reason")
            demo.say(
                f"collection {round_no}: job {job['status']}, {result.get('stored', 0)} metric rows "
                f"in {result.get('calls', 0)} platform calls → {state['status']}: {reason}"
            )
            await asyncio.sleep(1.1)  # a new metric time for the next round
        body = (await demo.client.get(f"/api/v1/experiments/{experiment['id']}")).json()
        for variant in body["variants"]:
            views = sum(p["views"] or 0 for p in variant["posts"])
            engaged = sum((p["likes"] or 0) + (p["comments"] or 0) + (p["shares"] or 0) for p in variant["posts"])
            demo.say(f"  variant {variant['label']}: {views} views, {engaged} engagements")
        decision = body["decision"] or {}
        if body["winner_variant_id"]:
            winner = next(v["label"] for v in body["variants"] if v["id"] == body["winner_variant_id"])
            demo.say(f"winner: variant {winner} — {decision.get('reason')}")
        else:
            demo.say(f"no winner yet ({body['status']}): {decision.get('reason')}")
