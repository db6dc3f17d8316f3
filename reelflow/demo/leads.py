"""Demo step: the account's instant pages, a signed lead webhook (a duplicate and a forged
one refused), the lead mapped to the ads step's direction, qualified, and its conversion
event sent once to the Events API (from the events log). Contact data is printed masked."""

from __future__ import annotations

import asyncio
import json
import time
from typing import TYPE_CHECKING, Any

import httpx

from reelflow.adapters.webhooks import sign_tiktok
from reelflow.services.leads import webhook_secret
from reelflow.settings import get_settings

if TYPE_CHECKING:
    from reelflow.demo import Demo

WEBHOOK = "/api/v1/webhooks/tiktok/leads"


async def _until(check: Any, what: str, limit_s: float = 60) -> Any:
    started = time.monotonic()
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() - started > limit_s:
            raise RuntimeError(f"{what} did not happen within {limit_s:.0f} s")
        await asyncio.sleep(0.3)


async def run(demo: Demo) -> None:
    demo.section("Leads: instant pages, a signed lead webhook, mapping, qualification, conversion event")
    accounts = (await demo.client.get("/api/v1/ads/accounts")).json()
    if not accounts:
        demo.say("no ad account (the ads step did not run): skipped")
        return
    account = accounts[0]
    pages = await demo.client.get(f"/api/v1/ads/accounts/{account['id']}/instant-pages")
    pages.raise_for_status()
    for page in pages.json():
        demo.say(f"instant page {page['page_id']} “{page['title']}” ({page['business_type']}, {page['status']})")
    directions = (
        await demo.client.get("/api/v1/ads/directions", params={"platform": "tiktok", "ad_account_id": account["id"]})
    ).json()["items"]
    direction = next((d for d in directions if d.get("tiktok_campaign_id")), directions[0])
    pixel = get_settings().credential("tiktok_pixel_code")
    patched = await demo.client.patch(f"/api/v1/ads/directions/{direction['id']}", json={"pixel_id": pixel})
    patched.raise_for_status()
    demo.say(f"direction “{direction['name']}”: campaign {direction.get('tiktok_campaign_id')}, pixel {pixel}")

    # A lead from the instant form of one of the direction's ads (the sandbox's mock-lead
    # endpoint fills in the ad's campaign and ad group), delivered by a signed webhook.
    launches = (await demo.client.get("/api/v1/ads/launches", params={"direction_id": direction["id"]})).json()["items"]
    ad_id = next((a for launch in launches for a in launch["ad_ids"].values()), None)
    async with httpx.AsyncClient(base_url=demo.sandbox_url) as http:
        made = await http.post(
            "/tiktok-business/_sandbox/leads",
            json={"advertiser_id": account["advertiser_id"], **({"ad_id": ad_id} if ad_id else {})},
        )
        made.raise_for_status()
    lead = {k: v for k, v in made.json().items() if v is not None}
    # Lead ids are unique per platform for ever; the sandbox's counter restarts with it.
    lead["lead_id"] = str(7_300_000_000_000_000_000 + time.time_ns() // 1000 % 10**15)
    lead["ttclid"] = f"E.C.P.demo{int(time.time())}"
    lead["fields"] = {"full_name": "Aigerim Demo", "phone_number": "+7 701 555 0199", "email": "aigerim@example.com"}
    body = json.dumps(lead).encode()
    secret = webhook_secret(get_settings())
    headers = {"content-type": "application/json", "x-tiktok-signature": sign_tiktok(secret, body, int(time.time()))}
    first = await demo.client.post(WEBHOOK, content=body, headers=headers)
    again = await demo.client.post(WEBHOOK, content=body, headers=headers)
    forged = await demo.client.post(
        WEBHOOK,
        content=body,
        headers={**headers, "x-tiktok-signature": sign_tiktok("not-the-secret", body, int(time.time()))},
    )
    demo.say(
        f"webhook lead {lead['lead_id']} (campaign {lead.get('campaign_id')}): {first.status_code} "
        f"duplicate={first.json()['duplicate']}; redelivered → duplicate={again.json()['duplicate']}; "
        f"bad signature → {forged.status_code}"
    )

    async def mapped() -> dict[str, Any] | None:
        items = (await demo.client.get("/api/v1/ads/leads", params={"ad_account_id": account["id"]})).json()["items"]
        return next((i for i in items if i["platform_lead_id"] == lead["lead_id"]), None)

    row = await _until(mapped, "the lead's mapping")
    demo.say(
        f"mapped by {row['mapping']} → direction “{row['direction_name']}”, status {row['status']}; "
        f"stored encrypted, shown masked: {row['name']}, {row['phone']}, {row['email']}"
    )
    url = f"/api/v1/ads/leads/{row['id']}"
    for _ in range(2):  # set twice: the event goes out once
        response = await demo.client.patch(url, json={"status": "qualified"})
        response.raise_for_status()
    wrong = await demo.client.patch(url, json={"status": "won"})
    demo.say(f"PATCH status=qualified (twice); status=won → {wrong.status_code}")

    async def sent() -> list[dict[str, Any]] | None:
        events = (await demo.client.get(url)).json()["events"]
        return events if events and all(e["status"] in ("sent", "failed") for e in events) else None

    events = await _until(sent, "the conversion event")
    for event in events:
        data = (event["request"] or {}).get("data", [{}])[0]
        user = data.get("user", {})
        demo.say(
            f"event {event['event']} ({event['event_source']}, pixel {event['event_source_id']}): {event['status']} "
            f"after {event['attempts']} attempt(s), {event['duration_ms']} ms; event_id {event['event_id'][:16]}…, "
            f"email sha256 {(user.get('email') or ['-'])[0][:12]}…, ttclid {user.get('ttclid')}"
        )
    demo.say(f"events logged for this lead: {len(events)} (one per event, however often the status is set)")
