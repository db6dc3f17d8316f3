"""Demo step: monitoring rules, a poll with dedup, two engagement rounds, tiers and a forecast.

Everything goes through the API; polls and refreshes are jobs run by the demo's workers.
The sandbox clock is moved forward an hour between the rounds (`POST /sandbox/clock`).
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reelflow.demo import Demo

M = "/api/v1/monitoring"


async def _refresh(demo: Demo) -> dict[str, Any]:
    response = await demo.client.post(
        f"{M}/engagement/refresh", json={"force": True}, headers={"Idempotency-Key": str(uuid.uuid4())}
    )
    return await demo.job_result(response, limit_s=300)


async def run(demo: Demo) -> None:
    demo.section("Monitoring: rules, dedup, tiers and forecasts")
    rules: list[dict[str, Any]] = [
        {"name": "Skincare hashtag", "kind": "hashtag", "values": ["#skincare"], "interval_minutes": 60},
        {"name": "Serum keyword", "kind": "keyword", "values": ["serum"], "interval_minutes": 180},
        {
            "name": "Skincare, not from spam",
            "kind": "combined",
            "combined": {
                "and": [{"kind": "hashtag", "values": ["skincare"]}],
                "or": [{"kind": "keyword", "values": ["serum", "routine"]}],
            },
        },
    ]
    created = []
    totals = {"new": 0, "creators": 0}
    for body in rules:
        response = await demo.client.post(f"{M}/rules", json=body)
        response.raise_for_status()
        created.append(response.json())
        demo.say(f"rule {body['name']!r} ({body['kind']}) → query {response.json()['query']}")
    bad = await demo.client.post(f"{M}/rules", json={"name": "bad", "kind": "hashtag", "values": ["two words"]})
    demo.say(f"bad rule → {bad.status_code}: {bad.json()['errors'][0]}")

    demo.say("")
    demo.say("polling each rule now (jobs monitoring.poll_rule on the default queue):")
    for rule in created:
        key = str(uuid.uuid4())
        first = await demo.client.post(f"{M}/rules/{rule['id']}/poll", headers={"Idempotency-Key": key})
        result = await demo.job_result(first)
        replay = await demo.client.post(f"{M}/rules/{rule['id']}/poll", headers={"Idempotency-Key": key})
        totals["new"] += result["new"]
        totals["creators"] += result["creators_created"]
        demo.say(
            f"  {rule['name']:<26} fetched {result['fetched']:>4}  new {result['new']:>4}  "
            f"duplicates {result['duplicates']:>4}  creators +{result['creators_created']:<3} "
            f"(same key again → {replay.status_code}, {replay.headers.get('Idempotent-Replayed')})"
        )
    stats = [(await demo.client.get(f"{M}/rules/{r['id']}/stats")).json() for r in created]
    linked = sum(s["videos"] for s in stats)
    demo.say(
        f"stored {totals['new']} distinct videos and {totals['creators']} creators; {linked} rule-video links "
        f"(a video found by several rules is stored once and linked to each)"
    )

    demo.say("")
    round1 = await _refresh(demo)
    demo.say(
        f"engagement round 1: {round1['refreshed']} videos in {round1['seconds']} s, "
        f"tier changes {round1['tier_changes'] or 'none'}"
    )
    clock = (await demo.client.post(f"{demo.sandbox_url}/sandbox/clock", json={"advance": 3600})).json()
    demo.say(f"sandbox clock advanced one hour → {clock}")
    round2 = await _refresh(demo)
    demo.say(
        f"engagement round 2: {round2['refreshed']} videos, {round2['forecasts_resolved']} forecasts resolved, "
        f"tier changes {round2['tier_changes'] or 'none'}"
    )

    trending = (await demo.client.get(f"{M}/trending", params={"limit": 3})).json()
    demo.say("trending now:")
    for video in trending:
        demo.say(
            f"  {video['platform_video_id']} @{video['username']:<16} {video['views']:>10,} views "
            f"{video['velocity']:>10,.0f} views/h  tier {video['tier']}"
        )
    if trending:
        detail = (await demo.client.get(f"{M}/videos/{trending[0]['id']}")).json()
        resolved = [f for f in detail["forecasts"] if f["actual_views"] is not None]
        for f in resolved[:1]:
            demo.say(
                f"forecast made at {f['made_at'][11:19]} for +{f['horizon_hours']} h: {f['predicted_views']:,} views "
                f"(confidence {f['confidence']:.2f}); came true: {f['actual_views']:,} "
                f"(error {100 * f['abs_pct_error']:.1f} %)"
            )
        latest = detail["video"]
        demo.say(
            f"next: +1 h {latest['forecast_1h']:,}, +2 h {latest['forecast_2h']:,}, +3 h {latest['forecast_3h']:,} "
            f"(confidence {latest['forecast_confidence']})"
        )
    accuracy = (await demo.client.get(f"{M}/accuracy")).json()
    for h in accuracy["horizons"]:
        demo.say(f"accuracy +{h['horizon_hours']} h: MAPE {h['mape']:.1f} % over {h['resolved']} forecasts")
