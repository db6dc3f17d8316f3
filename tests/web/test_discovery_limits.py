"""Discovery plan limits (searches at once, creators a month) shown in usage, and workspace
isolation on every discovery route."""

from __future__ import annotations

import uuid
from typing import Any

from reelflow.domain import plans
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.clipping import ClippingRepository

CAMPAIGNS = "/api/v1/discovery/campaigns"
SEARCH = {"platform": "tiktok", "target": 100, "keywords": ["gym"]}


async def _campaign(client: Any, account: Any) -> str:
    response = await client.post(CAMPAIGNS, headers=account.headers, json={"name": "C", "search_type": "keyword"})
    return str(response.json()["id"])


async def test_concurrent_and_monthly_limits_in_usage(client, signup, sandbox, run_jobs):
    account = await signup()
    cid = await _campaign(client, account)
    free = plans.PLANS["free"]
    for _ in range(free.discovery_concurrent_searches):
        assert (
            await client.post(f"{CAMPAIGNS}/{cid}/searches", headers=account.headers, json=SEARCH)
        ).status_code == 202
    refused = await client.post(f"{CAMPAIGNS}/{cid}/searches", headers=account.headers, json=SEARCH)
    assert refused.status_code == 429, refused.text
    assert refused.json()["limit"] == "discovery_concurrent_searches" and refused.headers["retry-after"]
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["discovery_concurrent_searches"] == {
        "used": free.discovery_concurrent_searches,
        "limit": free.discovery_concurrent_searches,
        "remaining": 0,
    }
    reserved = usage["metrics"]["discovery_creators"]
    assert reserved["used"] == 100 * free.discovery_concurrent_searches  # targets are reserved at start

    await run_jobs()
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["discovery_concurrent_searches"]["used"] == 0
    assert usage["metrics"]["discovery_creators"]["used"] == 200  # both reached their target

    # the month's creators: only what is left can be asked for
    async with session_scope() as session:
        await ClippingRepository(session).set_usage(
            uuid.UUID(account.workspace_id), plans.period_start(utcnow()), "discovery_creators", 450
        )
    over = await client.post(f"{CAMPAIGNS}/{cid}/searches", headers=account.headers, json=SEARCH)
    assert over.status_code == 429 and over.json()["limit"] == "discovery_creators", over.text
    assert "50 left" in over.json()["detail"]


async def test_cancel_gives_back_unused_creators(client, signup, sandbox):
    account = await signup()
    cid = await _campaign(client, account)
    started = (await client.post(f"{CAMPAIGNS}/{cid}/searches", headers=account.headers, json=SEARCH)).json()
    await client.post(f"{CAMPAIGNS}/{cid}/searches/{started['id']}/cancel", headers=account.headers)
    usage = (await client.get("/api/v1/usage", headers=account.headers)).json()
    assert usage["metrics"]["discovery_creators"]["used"] == 0


async def test_workspace_isolation_on_every_route(client, signup, sandbox, run_jobs):
    owner = await signup()
    other = await signup()
    cid = await _campaign(client, owner)
    sid = (await client.post(f"{CAMPAIGNS}/{cid}/searches", headers=owner.headers, json=SEARCH)).json()["id"]
    await run_jobs()
    base = f"{CAMPAIGNS}/{cid}"
    calls = [
        ("GET", base, None),
        ("PATCH", base, {"name": "mine now"}),
        ("DELETE", base, None),
        ("POST", f"{base}/searches", SEARCH),
        ("GET", f"{base}/searches", None),
        ("GET", f"{base}/searches/{sid}", None),
        ("POST", f"{base}/searches/{sid}/cancel", None),
        ("GET", f"{base}/searches/{sid}/creators", None),
        ("GET", f"{base}/searches/{sid}/creators?format=csv", None),
        ("GET", f"{base}/creators", None),
        ("GET", f"{base}/creators?format=csv", None),
    ]
    for method, url, body in calls:
        response = await client.request(method, url, headers=other.headers, json=body)
        assert response.status_code == 404, (method, url, response.status_code, response.text)
    # a search of one campaign is not reachable under another campaign of the same workspace
    cid2 = await _campaign(client, owner)
    assert (await client.get(f"{CAMPAIGNS}/{cid2}/searches/{sid}", headers=owner.headers)).status_code == 404
    listed = (await client.get(CAMPAIGNS, headers=other.headers)).json()
    assert listed["items"] == []
    # and nothing changed for the owner
    mine = (await client.get(base, headers=owner.headers)).json()
    assert mine["name"] == "C" and mine["searches"] == 1
    assert (await client.get(f"{base}/searches/{sid}/creators", headers=owner.headers)).json()["items"]
    # no token at all: 401
    assert (await client.get(base)).status_code == 401
