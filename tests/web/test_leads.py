"""Leads end to end over the real app, workers, database and sandbox: webhook → mapping per
workspace (campaign, instant page, advertiser, unmapped), the leads API (filters, cursor,
masking, isolation), status changes that send each conversion event once (hashing vectors,
ttclid, pixel, dedup under repeated and concurrent PATCH, a lost answer), instant pages
(cached), and no plaintext PII in any log line."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import httpx
import structlog
from sqlalchemy import func, select, text

from reelflow.adapters.webhooks import sign_tiktok
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.audit import AuditEntry
from reelflow.storage.models.leads import Lead, LeadEvent, LeadInbox
from reelflow.storage.models.runtime import JobRun
from tests.web.test_ads import direction

WEBHOOK = "/api/v1/webhooks/tiktok/leads"
NAME, PHONE, EMAIL = "Jane Doe", "8 (701) 234-56-78", " Jane@Example.COM "
PII = ("Jane", "Doe", "jane@example.com", "Jane@Example.COM", "701) 234", "7012345678", "+77012345678")
# SHA-256 of the normalised values ("jane@example.com"; "+77012345678", the number read in KZ).
EMAIL_SHA256 = "8c87b489ce35cf2e2f39f80e282cb2e804932a56a213983eeeb428407d43b52d"
PHONE_SHA256 = "5cf2fca546400423fc2c6f57227faa6a058a191ce936762760def12e43532e76"
PIXEL = "CSBX0PIXEL0000000001"  # the sandbox's pixel (settings' sandbox default)


async def _sandbox(sandbox: Any, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()


async def connect(client: Any, who: Any, sandbox: Any, advertiser_ids: list[str] | None = None) -> dict[str, Any]:
    """Authorize (start/callback) and make the advertiser an ad account of `who`'s workspace."""
    start = (await client.get("/api/v1/oauth/tiktok-business/start", headers=who.headers)).json()
    issued = await _sandbox(
        sandbox,
        "POST",
        "/tiktok-business/_sandbox/auth_code",
        json={"currency": "KZT", **({"advertiser_ids": advertiser_ids} if advertiser_ids else {})},
    )
    callback = await client.get(
        "/api/v1/oauth/tiktok-business/callback", params={"state": start["state"], "auth_code": issued["auth_code"]}
    )
    assert callback.status_code == 201, callback.text
    connection = callback.json()
    picked = await client.post(
        "/api/v1/ads/accounts",
        json={"connection_id": connection["id"], "advertiser_ids": issued["advertiser_ids"]},
        headers=who.headers,
    )
    assert picked.status_code == 201, picked.text
    return dict(picked.json()[0])


def lead_body(lead_id: str, advertiser_id: str, **extra: Any) -> bytes:
    body = {
        "lead_id": lead_id,
        "advertiser_id": advertiser_id,
        "create_time": int(time.time()),
        "ttclid": "E.C.P.click-1",
        "fields": {"full_name": NAME, "phone_number": PHONE, "email": EMAIL},
        **extra,
    }
    return json.dumps(body).encode()


async def post_lead(client: Any, body: bytes) -> dict[str, Any]:
    secret = get_settings().credential("tiktok_business_secret")
    answer = await client.post(
        WEBHOOK,
        content=body,
        headers={"content-type": "application/json", "x-tiktok-signature": sign_tiktok(secret, body, int(time.time()))},
    )
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def set_campaign(direction_id: str, campaign_id: str) -> None:
    async with session_scope() as session:
        await session.execute(
            text("UPDATE ad_directions SET tiktok_campaign_id = :c WHERE id = :d"),
            {"c": campaign_id, "d": direction_id},
        )


async def _leads(client: Any, who: Any, **params: Any) -> dict[str, Any]:
    answer = await client.get("/api/v1/ads/leads", params=params, headers=who.headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


async def test_leads_map_per_workspace_by_campaign_page_advertiser_and_unmapped_are_kept(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner, other = await signup(), await signup()
    account = await connect(client, owner, sandbox)
    adv = account["advertiser_id"]
    by_campaign = await direction(client, owner, account["id"], name="Implants")
    by_page = await direction(
        client, owner, account["id"], name="Whitening", settings={"instant_page_id": "7200000000000000009"}
    )
    await set_campaign(by_campaign["id"], "1800000000000000077")
    # The same advertiser connected in a second workspace, with one direction there.
    other_account = await connect(client, other, sandbox, [adv])
    only = await direction(client, other, other_account["id"], name="Everything")

    await post_lead(client, lead_body("7300000000000000001", adv, campaign_id="1800000000000000077"))
    await post_lead(client, lead_body("7300000000000000002", adv, page_id="7200000000000000009"))
    await post_lead(client, lead_body("7300000000000000003", adv))
    await post_lead(client, lead_body("7300000000000000004", "7199999999999999999"))  # nobody's advertiser
    await run_jobs()

    mine = {i["platform_lead_id"]: i for i in (await _leads(client, owner))["items"]}
    assert mine["7300000000000000001"]["direction_id"] == by_campaign["id"]
    assert mine["7300000000000000001"]["mapping"] == "campaign"
    assert mine["7300000000000000001"]["direction_name"] == "Implants"
    assert (mine["7300000000000000002"]["direction_id"], mine["7300000000000000002"]["mapping"]) == (
        by_page["id"],
        "page",
    )
    # Two directions and nothing to tell them apart: kept without a direction, with the reason.
    assert (mine["7300000000000000003"]["direction_id"], mine["7300000000000000003"]["mapping"]) == (
        None,
        "ambiguous",
    )
    assert "7300000000000000004" not in mine
    assert all(i["status"] == "new" and i["ttclid"] == "E.C.P.click-1" for i in mine.values())
    theirs = {i["platform_lead_id"]: i for i in (await _leads(client, other))["items"]}
    assert set(theirs) == {"7300000000000000001", "7300000000000000002", "7300000000000000003"}
    assert all(i["direction_id"] == only["id"] and i["mapping"] == "advertiser" for i in theirs.values())
    async with session_scope() as session:
        unmapped = (await session.scalars(select(LeadInbox).where(LeadInbox.lead_id == "7300000000000000004"))).one()
        assert unmapped.error == "unmapped:no_ad_account" and unmapped.processed_at is not None
        raw = (await session.execute(text("SELECT * FROM leads"))).all()
    assert len(raw) == 6
    assert not any(p in repr(raw) for p in PII)  # name, phone, email encrypted at rest
    # A re-run of the ingest job (at-least-once delivery) adds nothing.
    from reelflow.queue import run_inline

    inbox_id = (await _inbox_ids())["7300000000000000001"]
    again = await run_inline("leads.ingest", {"inbox_id": inbox_id})
    assert [entry["new"] for entry in again["leads"]] == [False, False]
    async with session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(Lead)) == 6


async def _inbox_ids() -> dict[str, str]:
    async with session_scope() as session:
        rows = (await session.execute(select(LeadInbox.lead_id, LeadInbox.id))).all()
    return {lead_id: str(inbox_id) for lead_id, inbox_id in rows}


async def _one_lead(client: Any, owner: Any, sandbox: Any, run_jobs: Any, **direction_overrides: Any) -> Any:
    account = await connect(client, owner, sandbox)
    made = await direction(client, owner, account["id"], **direction_overrides)
    await post_lead(client, lead_body("7300000000000000011", account["advertiser_id"]))
    await run_jobs()
    [lead] = (await _leads(client, owner))["items"]
    return account, made, lead


async def test_list_filters_cursor_masking_reveal_and_workspace_isolation(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner, other = await signup(), await signup()
    account = await connect(client, owner, sandbox)
    made = await direction(client, owner, account["id"])
    for n in range(5):
        await post_lead(client, lead_body(f"73000000000000001{n}", account["advertiser_id"]))
    await run_jobs()
    page1 = await _leads(client, owner, limit=2)
    page2 = await _leads(client, owner, limit=2, cursor=page1["next_cursor"])
    page3 = await _leads(client, owner, limit=2, cursor=page2["next_cursor"])
    ids = [i["id"] for p in (page1, page2, page3) for i in p["items"]]
    assert len(ids) == len(set(ids)) == 5 and page3["next_cursor"] is None
    first = page1["items"][0]
    assert (first["name"], first["phone"], first["email"]) == ("J***", "***78", "J***@E***")
    assert first["direction_name"] == made["name"]
    patched = await client.patch(f"/api/v1/ads/leads/{first['id']}", json={"status": "rejected"}, headers=owner.headers)
    assert patched.status_code == 200 and patched.json()["status"] == "rejected"
    assert patched.json()["events"] == []  # rejected sends nothing
    assert [i["id"] for i in (await _leads(client, owner, status="rejected"))["items"]] == [first["id"]]
    assert len((await _leads(client, owner, status="new"))["items"]) == 4
    assert len((await _leads(client, owner, direction_id=made["id"]))["items"]) == 5
    assert len((await _leads(client, owner, ad_account_id=account["id"]))["items"]) == 5
    bad = await client.get("/api/v1/ads/leads", params={"status": "won"}, headers=owner.headers)
    assert bad.status_code == 422 and "status" in bad.text
    assert (await client.get("/api/v1/ads/leads", params={"cursor": "x!"}, headers=owner.headers)).status_code == 400
    revealed = await _leads(client, owner, reveal="true", limit=1)
    assert revealed["items"][0]["email"] == EMAIL.strip() and revealed["items"][0]["name"] == NAME
    async with session_scope() as session:
        reveals = (await session.scalars(select(AuditEntry).where(AuditEntry.action == "ads.lead.revealed"))).all()
    assert len(reveals) == 1 and not any(p in json.dumps(reveals[0].details) for p in PII)
    # Another workspace sees nothing and cannot touch the lead.
    assert (await _leads(client, other))["items"] == []
    url = f"/api/v1/ads/leads/{first['id']}"
    assert (await client.get(url, headers=other.headers)).status_code == 404
    assert (await client.patch(url, json={"status": "qualified"}, headers=other.headers)).status_code == 404


async def test_status_sends_each_event_once_hashed_with_ttclid_and_pixel(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner = await signup()
    _, _, lead = await _one_lead(client, owner, sandbox, run_jobs, pixel_id=PIXEL)
    url = f"/api/v1/ads/leads/{lead['id']}"
    invalid = await client.patch(url, json={"status": "new"}, headers=owner.headers)
    assert invalid.status_code == 422 and "status" in invalid.text
    # Qualified three times in a row and five times at once: one event, one job.
    for _ in range(3):
        assert (await client.patch(url, json={"status": "qualified"}, headers=owner.headers)).status_code == 200
    answers = await asyncio.gather(
        *[client.patch(url, json={"status": "qualified"}, headers=owner.headers) for _ in range(5)]
    )
    assert all(a.status_code == 200 for a in answers)
    await run_jobs()
    for _ in range(2):  # and again after it was sent
        assert (await client.patch(url, json={"status": "qualified"}, headers=owner.headers)).status_code == 200
    await run_jobs()
    body = (await client.get(url, headers=owner.headers)).json()
    [event] = body["events"]
    assert (event["event"], event["status"], event["trigger_status"]) == ("CompleteRegistration", "sent", "qualified")
    assert event["event_source"] == "web" and event["event_source_id"] == PIXEL
    assert event["attempts"] == 1 and event["duration_ms"] is not None and event["sent_at"]
    assert event["response"]["request_ids"]
    sent = event["request"]["data"][0]
    assert sent["user"]["email"] == [EMAIL_SHA256] and sent["user"]["phone"] == [PHONE_SHA256]
    assert sent["user"]["ttclid"] == "E.C.P.click-1" and sent["event_id"] == event["event_id"]
    state = await _sandbox(sandbox, "GET", "/tiktok-business/_sandbox/inspect")
    received = [e for e in state["events"] if e["event"] == "CompleteRegistration"]
    assert len(received) == 1
    assert received[0]["event_source"] == "web" and received[0]["event_source_id"] == PIXEL
    assert received[0]["event_id"] == event["event_id"] and received[0]["user"]["email"] == [EMAIL_SHA256]
    async with session_scope() as session:
        runs = await session.scalar(select(func.count()).select_from(JobRun).where(JobRun.name == "leads.send_event"))
        changes = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "ads.lead.status_changed"))
        ).all()
    assert runs == 1
    assert len(changes) == 1 and changes[0].details["before"] == "new" and changes[0].details["after"] == "qualified"
    # Other statuses send their own event once; back to qualified sends nothing new.
    for status in ("interested", "scheduled", "interested", "qualified", "rejected"):
        assert (await client.patch(url, json={"status": status}, headers=owner.headers)).status_code == 200
    await run_jobs()
    events = (await client.get(url, headers=owner.headers)).json()["events"]
    assert sorted(e["event"] for e in events) == ["CompleteRegistration", "PlaceAnOrder", "ViewContent"]
    assert all(e["status"] == "sent" for e in events)
    state = await _sandbox(sandbox, "GET", "/tiktok-business/_sandbox/inspect")
    assert sorted(e["event"] for e in state["events"]) == ["CompleteRegistration", "PlaceAnOrder", "ViewContent"]
    assert sum(r["size"] for r in state["event_requests"]) == 3


async def test_event_survives_a_lost_answer_and_a_5xx_without_a_second_event(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner = await signup()
    sandbox.set_settings(http__max_attempts=1)  # let the runtime do the retrying
    _, _, lead = await _one_lead(client, owner, sandbox, run_jobs, pixel_id=PIXEL)
    path = "/tiktok-business/open_api/v1.3/event/track/"
    # First attempt: TikTok takes the event but the answer is lost (502); then a plain 503.
    await sandbox.fault(path, kind="after_accept", status=502)
    await sandbox.fault(path, status=503, skip=1)
    url = f"/api/v1/ads/leads/{lead['id']}"
    assert (await client.patch(url, json={"status": "interested"}, headers=owner.headers)).status_code == 200
    await run_jobs(horizon=60)
    [event] = (await client.get(url, headers=owner.headers)).json()["events"]
    assert event["status"] == "sent" and event["attempts"] >= 2
    state = await _sandbox(sandbox, "GET", "/tiktok-business/_sandbox/inspect")
    assert [e["event"] for e in state["events"]] == ["ViewContent"]  # deduplicated on event_id
    assert len(state["event_requests"]) >= 2


async def test_event_without_a_usable_pixel_fails_logged_not_retried(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner = await signup()
    _, _, lead = await _one_lead(client, owner, sandbox, run_jobs, pixel_id="CUNKNOWNPIXEL")
    url = f"/api/v1/ads/leads/{lead['id']}"
    assert (await client.patch(url, json={"status": "scheduled"}, headers=owner.headers)).status_code == 200
    await run_jobs()
    [event] = (await client.get(url, headers=owner.headers)).json()["events"]
    assert event["status"] == "failed" and "40002" in event["error"] and event["attempts"] == 1
    async with session_scope() as session:
        assert await session.scalar(select(func.count()).select_from(LeadEvent)) == 1


async def test_no_plaintext_pii_in_any_log_line(client: Any, signup: Any, sandbox: Any, run_jobs: Any) -> None:
    owner = await signup()
    with structlog.testing.capture_logs() as logs:
        _, _, lead = await _one_lead(client, owner, sandbox, run_jobs, pixel_id=PIXEL)
        url = f"/api/v1/ads/leads/{lead['id']}"
        await client.patch(url, json={"status": "qualified"}, headers=owner.headers)
        await run_jobs()
        await client.get(url, headers=owner.headers)
        await _leads(client, owner)
    logged = json.dumps(logs, default=str)
    assert "lead webhook stored" in logged and "lead ingested" in logged and "lead event sent" in logged
    assert not any(p in logged for p in PII), [p for p in PII if p in logged]


async def test_instant_pages_listed_and_cached(client: Any, signup: Any, sandbox: Any) -> None:
    owner, other = await signup(), await signup()
    account = await connect(client, owner, sandbox)
    url = f"/api/v1/ads/accounts/{account['id']}/instant-pages"
    first = await client.get(url, headers=owner.headers)
    assert first.status_code == 200, first.text
    pages = first.json()
    assert len(pages) == 2 and all(p["business_type"] == "LEAD_GEN" and p["page_id"] for p in pages)
    assert (await client.get(url, headers=owner.headers)).json() == pages
    calls = await sandbox.requests("*/page/get/*")
    assert len(calls) == 1  # the second answer came from the cache
    assert (await client.get(url, headers=other.headers)).status_code == 404


async def test_a_lead_before_its_ad_account_is_mapped_when_the_account_is_connected(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner = await signup()
    early = "7188888888888888888"
    await post_lead(client, lead_body("7300000000000000031", early))
    await run_jobs()
    async with session_scope() as session:
        row = (await session.scalars(select(LeadInbox))).one()
        assert row.error == "unmapped:no_ad_account"
    await connect(client, owner, sandbox, [early])
    await run_jobs()
    [lead] = (await _leads(client, owner))["items"]
    assert lead["platform_lead_id"] == "7300000000000000031" and lead["mapping"] == "no_direction"
    async with session_scope() as session:
        row = (await session.scalars(select(LeadInbox))).one()
        assert row.error is None and row.attempts == 2
