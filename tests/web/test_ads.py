"""Ads over the real API: Business OAuth, ad accounts, directions, creatives, launches,
actions, metrics and reports, against the sandbox over real HTTP and real workers."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import text

from reelflow.services import ads as service

API = "/tiktok-business/open_api/v1.3"
VIDEO = Path(__file__).resolve().parents[2] / "reelflow" / "sandbox" / "media" / "tiny-vertical.mp4"


async def _sandbox(sandbox: Any, method: str, path: str, **kwargs: Any) -> Any:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        response = await http.request(method, path, **kwargs)
        response.raise_for_status()
        return response.json()


async def connect(
    client: Any, who: Any, sandbox: Any, *, currency: str = "KZT", count: int = 1
) -> list[dict[str, Any]]:
    """Authorize through our start/callback and make every advertiser an ad account."""
    start = await client.get("/api/v1/oauth/tiktok-business/start", headers=who.headers)
    assert start.status_code == 200, start.text
    state = start.json()["state"]
    issued = await _sandbox(
        sandbox, "POST", "/tiktok-business/_sandbox/auth_code", json={"currency": currency, "count": count}
    )
    callback = await client.get(
        "/api/v1/oauth/tiktok-business/callback", params={"state": state, "auth_code": issued["auth_code"]}
    )
    assert callback.status_code == 201, callback.text
    connection = callback.json()
    picked = await client.post(
        "/api/v1/ads/accounts",
        json={
            "connection_id": connection["id"],
            "advertiser_ids": [a["advertiser_id"] for a in connection["advertisers"]],
        },
        headers=who.headers,
    )
    assert picked.status_code == 201, picked.text
    return list(picked.json())


async def direction(client: Any, who: Any, account_id: str, **overrides: Any) -> dict[str, Any]:
    body = {
        "ad_account_id": account_id,
        "name": "Dental leads",
        "platform": "tiktok",
        "objective": "lead_generation",
        "daily_budget_minor": 5_000_00,
        "target_cpl_minor": 1_500_00,
        "adgroup_mode": "create_new",
        "settings": {
            "countries": ["KZ"],
            "age_groups": ["AGE_25_34"],
            "ad_text": "Book a check-up today",
            "landing_page_url": "https://example.com/lp",
        },
    }
    body.update(overrides)
    response = await client.post("/api/v1/ads/directions", json=body, headers=who.headers)
    assert response.status_code == 201, response.text
    return dict(response.json()["items"][0])


async def upload(client: Any, who: Any, account_id: str, direction_id: str, name: str) -> dict[str, Any]:
    response = await client.post(
        "/api/v1/ads/creatives/upload",
        params={"ad_account_id": account_id, "direction_id": direction_id, "name": name},
        content=VIDEO.read_bytes() + name.encode(),  # distinct files
        headers={**who.headers, "Content-Type": "video/mp4"},
    )
    assert response.status_code == 202, response.text
    return dict(response.json())


async def inspect(sandbox: Any) -> dict[str, Any]:
    return dict(await _sandbox(sandbox, "GET", "/tiktok-business/_sandbox/inspect"))


def field(response: Any) -> str | None:
    """The field a problem names (422s list `errors`, 409s carry `field`)."""
    body = response.json()
    return body.get("field") or (body.get("errors") or [{}])[0].get("field")


def kinds(state: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [v for k, v in state["entities"].items() if k.startswith(f"{kind}:")]


# --- OAuth and accounts ---------------------------------------------------------------------------------


async def test_oauth_state_is_signed_single_use_and_bound_to_the_workspace(
    client: Any, signup: Any, sandbox: Any
) -> None:
    owner = await signup()
    other = await signup()
    start = (await client.get("/api/v1/oauth/tiktok-business/start", headers=owner.headers)).json()
    assert start["authorize_url"].startswith(sandbox.url + "/tiktok-business/portal/auth?")
    # The portal sends the advertiser back to our callback with an auth_code and the state.
    async with httpx.AsyncClient() as http:
        redirect = await http.get(start["authorize_url"])
    query = parse_qs(urlsplit(redirect.headers["location"]).query)
    assert query["state"] == [start["state"]]
    callback = await client.get(
        "/api/v1/oauth/tiktok-business/callback",
        params={"state": query["state"][0], "auth_code": query["auth_code"][0]},
    )
    assert callback.status_code == 201, callback.text
    connection = callback.json()
    assert connection["connected"] and len(connection["advertisers"]) == 1
    # Single use: the same state again is refused, even with a fresh code.
    issued = await _sandbox(sandbox, "POST", "/tiktok-business/_sandbox/auth_code", json={})
    again = await client.get(
        "/api/v1/oauth/tiktok-business/callback", params={"state": start["state"], "auth_code": issued["auth_code"]}
    )
    assert again.status_code == 409 and field(again) == "state"
    forged = await client.get(
        "/api/v1/oauth/tiktok-business/callback",
        params={"state": start["state"][:-2] + "00", "auth_code": issued["auth_code"]},
    )
    assert forged.status_code == 422 and field(forged) == "state"
    # Bound to the workspace that started it: another workspace cannot see or use it.
    url = f"/api/v1/ads/connections/{connection['id']}"
    assert (await client.get(url, headers=owner.headers)).status_code == 200
    assert (await client.get(url, headers=other.headers)).status_code == 404
    stolen = await client.post(
        "/api/v1/ads/accounts", headers=other.headers, json={"connection_id": connection["id"], "advertiser_ids": ["1"]}
    )
    assert stolen.status_code == 404


async def test_oauth_state_expires(client: Any, signup: Any, sandbox: Any) -> None:
    owner = await signup()
    sandbox.set_settings(ads__oauth_state_ttl_s=60)
    state = (await client.get("/api/v1/oauth/tiktok-business/start", headers=owner.headers)).json()["state"]
    import time

    from reelflow.domain import ads as domain
    from reelflow.storage.blobs import signing_secret

    with pytest.raises(Exception) as caught:
        domain.verify_state(state, signing_secret(), now=time.time() + 61)
    assert "expired" in str(caught.value.detail)  # type: ignore[attr-defined]


async def test_accounts_token_encrypted_patch_and_disconnect(
    client: Any, signup: Any, sandbox: Any, session: Any
) -> None:
    owner = await signup()
    accounts = await connect(client, owner, sandbox, count=2)
    assert len(accounts) == 2
    account = accounts[0]
    assert account["currency"] == "KZT" and account["autopilot"] is False and account["status"] == "connected"
    assert account["identity_type"] == "TT_USER"
    # The token is stored encrypted, never in clear.
    stored = (await session.execute(text("SELECT access_token_enc FROM ad_connections"))).scalar_one()
    assert stored and not stored.startswith("sbxbiz_")
    patched = await client.patch(
        f"/api/v1/ads/accounts/{account['id']}", json={"autopilot": True}, headers=owner.headers
    )
    assert patched.status_code == 200 and patched.json()["autopilot"] is True
    bad = await client.patch(f"/api/v1/ads/accounts/{account['id']}", json={"identity_id": " "}, headers=owner.headers)
    assert bad.status_code == 422 and field(bad) == "identity_id"
    # Disconnecting one account keeps the shared token for the other; the second removes it.
    first = await client.post(f"/api/v1/ads/accounts/{account['id']}/disconnect", headers=owner.headers)
    assert first.json()["status"] == "disconnected" and first.json()["autopilot"] is False
    assert (await session.execute(text("SELECT access_token_enc FROM ad_connections"))).scalar_one()
    await client.post(f"/api/v1/ads/accounts/{accounts[1]['id']}/disconnect", headers=owner.headers)
    await session.rollback()
    assert (await session.execute(text("SELECT access_token_enc FROM ad_connections"))).scalar_one() is None
    # Refused for a disconnected account.
    refused = await client.post(
        "/api/v1/ads/actions",
        headers=owner.headers,
        json={"ad_account_id": account["id"], "kind": "pause_ad", "target_id": "1"},
    )
    assert refused.status_code == 409, refused.text


# --- directions ---------------------------------------------------------------------------------------------


async def test_direction_validation_both_and_uniqueness(client: Any, signup: Any, sandbox: Any) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    base = {
        "ad_account_id": account["id"],
        "name": "Implants",
        "platform": "both",
        "objective": "lead_generation",
        "daily_budget_minor": 2_500_00,
        "adgroup_mode": "use_existing",
    }
    low = await client.post(
        "/api/v1/ads/directions", json={**base, "daily_budget_minor": 2_499_99}, headers=owner.headers
    )
    assert low.status_code == 422 and field(low) == "daily_budget_minor"
    bad = await client.post("/api/v1/ads/directions", json={**base, "objective": "sales"}, headers=owner.headers)
    assert bad.status_code == 422 and field(bad) == "objective"
    bad = await client.post("/api/v1/ads/directions", json={**base, "platform": "snap"}, headers=owner.headers)
    assert bad.status_code == 422 and field(bad) == "platform"
    bad = await client.post("/api/v1/ads/directions", json={**base, "settings": {"gender": "X"}}, headers=owner.headers)
    assert bad.status_code == 422 and field(bad) == "settings.gender"
    both = await client.post("/api/v1/ads/directions", json=base, headers=owner.headers)
    assert both.status_code == 201, both.text
    rows = both.json()["items"]
    assert sorted(r["platform"] for r in rows) == ["facebook", "tiktok"]
    assert {r["platform"]: r["adapter"] for r in rows} == {"facebook": False, "tiktok": True}
    again = await client.post("/api/v1/ads/directions", json={**base, "platform": "tiktok"}, headers=owner.headers)
    assert again.status_code == 409 and field(again) == "name"
    listed = await client.get("/api/v1/ads/directions", params={"platform": "facebook"}, headers=owner.headers)
    assert [r["platform"] for r in listed.json()["items"]] == ["facebook"]
    listed = await client.get("/api/v1/ads/directions", params={"ad_account_id": account["id"]}, headers=owner.headers)
    assert len(listed.json()["items"]) == 2
    other = await signup()
    assert (await client.get(f"/api/v1/ads/directions/{rows[0]['id']}", headers=other.headers)).status_code == 404
    assert (await client.get("/api/v1/ads/directions", headers=other.headers)).json()["items"] == []


async def test_currency_without_documented_minimum_is_refused(client: Any, signup: Any, sandbox: Any) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox, currency="EUR")
    response = await client.post(
        "/api/v1/ads/directions",
        headers=owner.headers,
        json={
            "ad_account_id": account["id"],
            "name": "X",
            "platform": "tiktok",
            "objective": "traffic",
            "daily_budget_minor": 100_000_00,
        },
    )
    assert response.status_code == 422 and "EUR" in response.json()["detail"]


# --- creatives, launches -------------------------------------------------------------------------------------


async def test_creatives_upload_once_and_video_only(client: Any, signup: Any, sandbox: Any, run_jobs: Any) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    d = await direction(client, owner, account["id"])
    image = await client.post(
        "/api/v1/ads/creatives/upload",
        params={"ad_account_id": account["id"], "direction_id": d["id"], "kind": "image"},
        content=b"\x89PNG....",
        headers={**owner.headers, "Content-Type": "image/png"},
    )
    assert image.status_code == 422 and field(image) == "kind"
    creative = await upload(client, owner, account["id"], d["id"], "Smile")
    assert creative["status"] == "pending" and creative["run_id"]
    await run_jobs()
    done = (await client.get(f"/api/v1/ads/creatives/{creative['id']}", headers=owner.headers)).json()
    assert done["status"] == "ready" and done["tiktok_video_id"]
    import hashlib

    assert done["md5"] == hashlib.md5(VIDEO.read_bytes() + b"Smile").hexdigest()
    # Running the upload again (a retried job) does not upload a second time.
    from reelflow.queue import run_inline

    again = await run_inline("ads.upload_creative", {"creative_id": creative["id"]})
    assert again["tiktok_video_id"] == done["tiktok_video_id"]
    assert len(await sandbox.requests(f"{API}/file/video/ad/upload/*", method="POST")) == 1


async def test_upload_after_a_lost_answer_is_found_not_repeated(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    d = await direction(client, owner, account["id"])
    await sandbox.fault(f"{API}/file/video/ad/upload*", kind="after_accept", status=500)
    creative = await upload(client, owner, account["id"], d["id"], "Lost")
    await run_jobs()
    done = (await client.get(f"/api/v1/ads/creatives/{creative['id']}", headers=owner.headers)).json()
    assert done["status"] == "ready", done
    state = await inspect(sandbox)
    assert len(state["videos"]) == 1 and state["videos"][0]["video_id"] == done["tiktok_video_id"]


async def _ready_creatives(
    client: Any, who: Any, account_id: str, direction_id: str, run_jobs: Any, n: int
) -> list[str]:
    ids = [(await upload(client, who, account_id, direction_id, f"Creative {i}"))["id"] for i in range(n)]
    await run_jobs()
    return ids


async def test_manual_launch_creates_campaign_adgroup_and_ads(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    d = await direction(client, owner, account["id"])
    creatives = await _ready_creatives(client, owner, account["id"], d["id"], run_jobs, 2)
    response = await client.post(
        "/api/v1/ads/launches",
        headers=owner.headers,
        json={"direction_id": d["id"], "mode": "manual", "creative_ids": creatives},
    )
    assert response.status_code == 202, response.text
    await run_jobs()
    launch = (await client.get(f"/api/v1/ads/launches/{response.json()['id']}", headers=owner.headers)).json()
    assert launch["status"] == "succeeded", launch
    assert launch["campaign_id"] and launch["adgroup_id"] and sorted(launch["ad_ids"]) == sorted(creatives)
    state = await inspect(sandbox)
    [campaign] = kinds(state, "campaign")
    [adgroup] = kinds(state, "adgroup")
    assert campaign["objective_type"] == "LEAD_GENERATION"
    # Countries go out as TikTok location ids (`/tool/region/`): KZ is 1522867.
    assert adgroup["budget"] == 5000.0 and adgroup["location_ids"] == ["1522867"]
    assert adgroup["age_groups"] == ["AGE_25_34"]
    assert len(kinds(state, "ad")) == 2
    # The reading API shows the same (from the platform).
    ads = await client.get(f"/api/v1/ads/accounts/{account['id']}/ads", headers=owner.headers)
    assert len(ads.json()["items"]) == 2
    # Auto mode: every creative is running now, so there is nothing to launch.
    auto = await client.post(
        "/api/v1/ads/launches", json={"direction_id": d["id"], "mode": "auto"}, headers=owner.headers
    )
    assert auto.status_code == 409 and field(auto) == "mode"
    other = await signup()
    assert (await client.get(f"/api/v1/ads/launches/{launch['id']}", headers=other.headers)).status_code == 404


async def test_a_failed_step_stops_the_launch_with_the_platform_error(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    d = await direction(client, owner, account["id"])
    [creative] = await _ready_creatives(client, owner, account["id"], d["id"], run_jobs, 1)
    await sandbox.fault(
        f"{API}/adgroup/create*", error_code=40002, status=200, message="Ad group budget must be at least 2500.00 KZT."
    )
    response = await client.post(
        "/api/v1/ads/launches", headers=owner.headers, json={"direction_id": d["id"], "creative_ids": [creative]}
    )
    await run_jobs()
    launch = (await client.get(f"/api/v1/ads/launches/{response.json()['id']}", headers=owner.headers)).json()
    assert launch["status"] == "failed" and launch["error_code"] == 40002
    assert "at least 2500.00 KZT" in launch["error"] and launch["campaign_id"] and not launch["adgroup_id"]


async def test_use_existing_fills_adgroups_under_50_ads(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any, session: Any
) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    d = await direction(client, owner, account["id"], adgroup_mode="use_existing")
    c = await _ready_creatives(client, owner, account["id"], d["id"], run_jobs, 4)
    first = await client.post(
        "/api/v1/ads/launches", json={"direction_id": d["id"], "creative_ids": c[:1]}, headers=owner.headers
    )
    await run_jobs()
    first_launch = (await client.get(f"/api/v1/ads/launches/{first.json()['id']}", headers=owner.headers)).json()
    adgroup_id = first_launch["adgroup_id"]
    # The ad group holds 48 ads and was paused: 1 more fits (49 < 50); it is enabled again.
    await session.execute(text("UPDATE ad_direction_adgroups SET ads_count = 48, status = 'DISABLE'"))
    await session.commit()
    await client.post(
        "/api/v1/ads/actions",
        headers=owner.headers,
        json={"ad_account_id": account["id"], "kind": "pause_adgroup", "target_id": adgroup_id},
    )
    await run_jobs()
    second = await client.post(
        "/api/v1/ads/launches", json={"direction_id": d["id"], "creative_ids": c[1:2]}, headers=owner.headers
    )
    await run_jobs()
    second_launch = (await client.get(f"/api/v1/ads/launches/{second.json()['id']}", headers=owner.headers)).json()
    assert second_launch["status"] == "succeeded" and second_launch["adgroup_id"] == adgroup_id
    assert second_launch["campaign_id"] == first_launch["campaign_id"]
    count, status = (await session.execute(text("SELECT ads_count, status FROM ad_direction_adgroups"))).one()
    assert (count, status) == (49, "ENABLE")
    state = await inspect(sandbox)
    assert state["entities"][f"adgroup:{adgroup_id}"]["operation_status"] == "ENABLE"
    # Two more do not fit (49 + 2 > 50): a new ad group in the direction's campaign.
    third = await client.post(
        "/api/v1/ads/launches", json={"direction_id": d["id"], "creative_ids": c[2:]}, headers=owner.headers
    )
    await run_jobs()
    third_launch = (await client.get(f"/api/v1/ads/launches/{third.json()['id']}", headers=owner.headers)).json()
    assert third_launch["adgroup_id"] != adgroup_id and third_launch["campaign_id"] == first_launch["campaign_id"]
    state = await inspect(sandbox)
    assert len(kinds(state, "campaign")) == 1 and len(kinds(state, "adgroup")) == 2
    launches = [third_launch["id"], second_launch["id"], first_launch["id"]]
    await _lists_are_paginated(client, owner, await signup(), d["id"], launches)


async def _lists_are_paginated(client: Any, who: Any, other: Any, direction_id: str, launch_ids: list[str]) -> None:
    """GET /ads/launches and /ads/actions: newest first, `cursor`/`limit` pages that neither
    repeat nor skip, filters kept across pages, a bad cursor or limit is a problem+json 400
    naming the parameter, and another workspace sees none of them."""

    async def walk(path: str, limit: int, **params: Any) -> list[list[str]]:
        pages: list[list[str]] = []
        cursor: str | None = None
        while True:
            answer = await client.get(
                path, params={**params, "limit": limit, **({"cursor": cursor} if cursor else {})}, headers=who.headers
            )
            assert answer.status_code == 200, answer.text
            body = answer.json()
            pages.append([item["id"] for item in body["items"]])
            cursor = body["next_cursor"]
            if cursor is None:
                return pages

    assert await walk("/api/v1/ads/launches", 2) == [launch_ids[:2], launch_ids[2:]]
    assert await walk("/api/v1/ads/launches", 1, direction_id=direction_id) == [[i] for i in launch_ids]
    assert await walk("/api/v1/ads/launches", 2, direction_id=str(uuid.uuid4())) == [[]]
    everything = (await client.get("/api/v1/ads/actions", headers=who.headers)).json()
    assert everything["next_cursor"] is None and everything["items"]
    actions = [a["id"] for a in everything["items"]]
    assert [i for page in await walk("/api/v1/ads/actions", 1) for i in page] == actions
    for path in ("/api/v1/ads/launches", "/api/v1/ads/actions"):
        for params, name in (({"cursor": "nope"}, "cursor"), ({"limit": 0}, "limit"), ({"limit": 201}, "limit")):
            bad = await client.get(path, params=params, headers=who.headers)
            assert bad.status_code == 400, (path, params, bad.text)
            assert bad.headers["content-type"].startswith("application/problem+json")
            assert field(bad) == name, bad.text
    for path in ("/api/v1/ads/launches", "/api/v1/ads/actions"):
        assert (await client.get(path, headers=other.headers)).json() == {"items": [], "next_cursor": None}


# --- actions --------------------------------------------------------------------------------------------------


async def _launched(client: Any, who: Any, sandbox: Any, run_jobs: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    [account] = await connect(client, who, sandbox)
    d = await direction(client, who, account["id"])
    creatives = await _ready_creatives(client, who, account["id"], d["id"], run_jobs, 2)
    response = await client.post(
        "/api/v1/ads/launches", json={"direction_id": d["id"], "creative_ids": creatives}, headers=who.headers
    )
    await run_jobs()
    launch = (await client.get(f"/api/v1/ads/launches/{response.json()['id']}", headers=who.headers)).json()
    assert launch["status"] == "succeeded", launch
    return account, launch


async def test_actions_are_idempotent_and_audited(client: Any, signup: Any, sandbox: Any, run_jobs: Any) -> None:
    owner = await signup()
    account, launch = await _launched(client, owner, sandbox, run_jobs)
    ad_id = next(iter(launch["ad_ids"].values()))
    body = {"ad_account_id": account["id"], "kind": "pause_ad", "target_id": ad_id}
    headers = {**owner.headers, "Idempotency-Key": "pause-1"}
    first = await client.post("/api/v1/ads/actions", json=body, headers=headers)
    assert first.status_code == 202, first.text
    replay = await client.post("/api/v1/ads/actions", json=body, headers=headers)
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    clash = await client.post("/api/v1/ads/actions", json={**body, "kind": "resume_ad"}, headers=headers)
    assert clash.status_code == 409
    await run_jobs()
    action = (await client.get(f"/api/v1/ads/actions/{first.json()['id']}", headers=owner.headers)).json()
    assert action["status"] == "succeeded"
    assert action["requested_by"] == "user" and action["requested_by_user"] == owner.user_id
    assert action["before"]["operation_status"] == "ENABLE" and action["after"]["operation_status"] == "DISABLE"
    assert action["answer"] == {"confirmed": {ad_id: "DISABLE"}}
    assert len(await sandbox.events("tiktok_business.ad.status")) == 1
    # ... and in the shared audit log, with before/after/answer.
    log = (await client.get("/api/v1/audit", params={"action": "ads.pause_ad.succeeded"}, headers=owner.headers)).json()
    [entry] = log["items"]
    assert entry["details"]["before"]["operation_status"] == "ENABLE"
    assert entry["details"]["answer"] == {"confirmed": {ad_id: "DISABLE"}}
    listed = await client.get("/api/v1/ads/actions", headers=owner.headers)
    assert len(listed.json()["items"]) == 1
    status = await client.post(
        "/api/v1/ads/actions",
        headers=owner.headers,
        json={"ad_account_id": account["id"], "kind": "get_campaign_status", "target_id": launch["campaign_id"]},
    )
    await run_jobs()
    got = (await client.get(f"/api/v1/ads/actions/{status.json()['id']}", headers=owner.headers)).json()
    assert got["answer"]["operation_status"] == "ENABLE"
    other = await signup()
    assert (await client.get(f"/api/v1/ads/actions/{action['id']}", headers=other.headers)).status_code == 404
    cross = await client.post("/api/v1/ads/actions", json=body, headers=other.headers)
    assert cross.status_code == 404


async def test_budget_update_minimum_and_daily_limit(client: Any, signup: Any, sandbox: Any, run_jobs: Any) -> None:
    owner = await signup()
    account, launch = await _launched(client, owner, sandbox, run_jobs)
    body = {"ad_account_id": account["id"], "kind": "update_adgroup_budget", "target_id": launch["adgroup_id"]}
    low = await client.post("/api/v1/ads/actions", json={**body, "budget_minor": 2_000_00}, headers=owner.headers)
    assert low.status_code == 422 and field(low) == "budget_minor"
    jump = await client.post("/api/v1/ads/actions", json={**body, "budget_minor": 50_000_00}, headers=owner.headers)
    assert jump.status_code == 422 and "50%" in jump.json()["detail"]
    for budget in (6_000_00, 7_000_00):
        ok = await client.post("/api/v1/ads/actions", json={**body, "budget_minor": budget}, headers=owner.headers)
        assert ok.status_code == 202, ok.text
        await run_jobs()
    third = await client.post("/api/v1/ads/actions", json={**body, "budget_minor": 8_000_00}, headers=owner.headers)
    assert third.status_code == 429
    state = await inspect(sandbox)
    assert state["entities"][f"adgroup:{launch['adgroup_id']}"]["budget"] == 7000.0
    actions = (await client.get("/api/v1/ads/actions", headers=owner.headers)).json()["items"]
    assert [a["after"]["budget_minor"] for a in actions] == [7_000_00, 6_000_00]


async def test_create_adgroup_action_runs_a_launch(client: Any, signup: Any, sandbox: Any, run_jobs: Any) -> None:
    owner = await signup()
    account, launch = await _launched(client, owner, sandbox, run_jobs)
    creatives = list(launch["ad_ids"])
    response = await client.post(
        "/api/v1/ads/actions",
        headers=owner.headers,
        json={
            "ad_account_id": account["id"],
            "kind": "create_adgroup",
            "direction_id": launch["direction_id"],
            "creative_ids": creatives[:1],
        },
    )
    assert response.status_code == 202, response.text
    await run_jobs()
    action = (await client.get(f"/api/v1/ads/actions/{response.json()['id']}", headers=owner.headers)).json()
    assert action["status"] == "succeeded", action
    assert action["answer"]["status"] == "succeeded" and action["answer"]["adgroup_id"] != launch["adgroup_id"]


# --- metrics and reports -------------------------------------------------------------------------------------


async def test_collector_upserts_and_isolates_failures(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any, session: Any
) -> None:
    owner = await signup()
    account, _ = await _launched(client, owner, sandbox, run_jobs)
    other_owner = await signup()
    [broken] = await connect(client, other_owner, sandbox)
    await sandbox.advance(2 * 86400)
    await sandbox.freeze()  # the same day pulled twice must give the same numbers
    token = (
        await session.execute(
            text(
                "SELECT c.access_token_enc FROM ad_connections c"
                " JOIN ad_accounts a ON a.connection_id = c.id WHERE a.id = :id"
            ),
            {"id": broken["id"]},
        )
    ).scalar_one()
    from reelflow.storage import crypto

    await _sandbox(sandbox, "POST", "/tiktok-business/_sandbox/revoke", json={"access_token": crypto.decrypt(token)})
    from reelflow.adapters.tiktok.business import tiktok_ads

    today = await _sandbox_today(sandbox)
    summary = await service.collect_all_metrics(ads_factory=tiktok_ads, today=today)
    assert summary["accounts"] == 2 and summary["failed"] == 1
    count = (await session.execute(text("SELECT count(*), sum(spend_minor) FROM ad_metrics_daily"))).one()
    assert count[0] >= 4 and count[1] > 0  # 2 ads × at least 2 days
    again = await service.collect_all_metrics(ads_factory=tiktok_ads, today=today)
    assert again["accounts"] == 1 and again["failed"] == 0  # needs re-authorization: skipped until then
    await session.rollback()
    assert (await session.execute(text("SELECT count(*), sum(spend_minor) FROM ad_metrics_daily"))).one() == count
    accounts = {a["id"]: a for a in (await client.get("/api/v1/ads/accounts", headers=owner.headers)).json()}
    assert accounts[account["id"]]["last_collected_at"] and accounts[account["id"]]["last_error"] is None
    failed = (await client.get(f"/api/v1/ads/accounts/{broken['id']}", headers=other_owner.headers)).json()
    assert failed["status"] == "reauth_required" and "40105" in failed["last_error"]
    row = (await session.execute(text("SELECT platform, leads, views_2s FROM ad_metrics_daily LIMIT 1"))).one()
    assert row[0] == "tiktok" and row[2] > 0
    report = await client.get(
        "/api/v1/ads/reports/directions",
        headers=owner.headers,
        params={"from": (today - __import__("datetime").timedelta(days=6)).isoformat(), "to": today.isoformat()},
    )
    [direction_row] = report.json()["rows"]
    assert direction_row["spend_minor"] == count[1] and direction_row["target_cpl_minor"] == 1_500_00
    assert direction_row["roi"] is None  # no revenue source yet
    creatives = await client.get(
        "/api/v1/ads/reports/creatives",
        headers=owner.headers,
        params={"from": (today - __import__("datetime").timedelta(days=6)).isoformat(), "to": today.isoformat()},
    )
    assert sum(r["spend_minor"] for r in creatives.json()["rows"]) == count[1]
    bad = await client.get("/api/v1/ads/reports/creatives", params={"from": "yesterday"}, headers=owner.headers)
    assert bad.status_code == 422 and field(bad) == "from"
    assert (await client.get("/api/v1/ads/reports/directions", headers=other_owner.headers)).json()["rows"] == []


async def test_metrics_upsert_replaces_days_in_one_statement_per_chunk(
    client: Any, signup: Any, sandbox: Any, session: Any, monkeypatch: Any
) -> None:
    from datetime import date

    from reelflow.storage.repositories import ads as ads_repo
    from reelflow.storage.repositories.ads import AdsRepository, MetricRow

    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    account_id, workspace_id = uuid.UUID(account["id"]), uuid.UUID(owner.workspace_id)
    monkeypatch.setattr(ads_repo, "_UPSERT_CHUNK", 3)  # several statements for 7 rows

    def row(ad: str, day: int, spend: int, ctr: float | None = 1.5, cpl: int | None = None) -> MetricRow:
        values = {name: 0 for name in ads_repo.METRIC_FIELDS}
        values.update(spend_minor=spend, impressions=spend * 10, ctr=ctr, cpl_minor=cpl, cpc_minor=None)
        return MetricRow(ad_id=ad, day=date(2026, 11, day), currency="KZT", values=values)

    rows = [row(f"ad{i}", d, 100 * i + d) for i in range(3) for d in (1, 2)] + [row("ad9", 1, 5, ctr=None, cpl=7)]
    repo = AdsRepository(session)
    assert await repo.upsert_metrics(workspace_id, account_id, "tiktok", [*rows, row("ad0", 1, 999)]) == 7
    await session.commit()
    stored = {(m.ad_id, m.day.day): m for m in await repo.metrics_for(account_id)}
    assert len(stored) == 7 and stored[("ad0", 1)].spend_minor == 999  # the later duplicate won
    assert stored[("ad9", 1)].ctr is None and stored[("ad9", 1)].cpl_minor == 7 and stored[("ad2", 2)].ctr == 1.5
    assert stored[("ad1", 2)].workspace_id == workspace_id and stored[("ad1", 2)].platform == "tiktok"
    # re-pulling replaces, never adds
    assert await repo.upsert_metrics(workspace_id, account_id, "tiktok", [row("ad0", 1, 1), row("ad1", 2, 2)]) == 2
    await session.commit()
    totals = (
        await session.execute(
            text("SELECT count(*), sum(spend_minor) FROM ad_metrics_daily WHERE ad_account_id = :a"),
            {"a": account_id},
        )
    ).one()
    assert totals == (7, 1 + 2 + sum(m.spend_minor for k, m in stored.items() if k not in {("ad0", 1), ("ad1", 2)}))


async def _sandbox_today(sandbox: Any) -> Any:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(await sandbox.now(), UTC).date()


async def test_rate_limited_account_does_not_stop_the_others(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any
) -> None:
    owner = await signup()
    await connect(client, owner, sandbox, count=3)
    sandbox.set_settings(http__max_attempts=1)
    await sandbox.fault(f"{API}/report/integrated/get*", error_code=40100, status=200, times=1)
    from reelflow.adapters.tiktok.business import tiktok_ads

    summary = await service.collect_all_metrics(ads_factory=tiktok_ads, concurrency=1)
    assert summary["accounts"] == 3 and summary["failed"] == 1
    accounts = (await client.get("/api/v1/ads/accounts", headers=owner.headers)).json()
    errored = [a for a in accounts if a["last_error"]]
    assert len(errored) == 1 and "40100" in errored[0]["last_error"] and errored[0]["status"] == "error"


async def _rendered_clip(session: Any, workspace_id: str) -> str:
    """A project with one rendered clip (rows and the clip's file in the blob store)."""
    from reelflow.storage.blobs import get_blob_store
    from reelflow.storage.repositories.clipping import ClippingRepository, ClipSpec

    repo = ClippingRepository(session)
    project = await repo.create_project(
        workspace_id=uuid.UUID(workspace_id),
        created_by=None,
        title="Talk",
        status="clips_ready",
        source_kind="url",
        source_url=None,
        options={},
    )
    [clip_id] = await repo.upsert_clips(
        project, [ClipSpec(1, 0.0, 20.0, 0.9, ["hook"], "A strong hook")], caption_style="bold", preset="tiktok_720"
    )
    key = f"clips/{clip_id}.mp4"
    size = await get_blob_store().write_bytes(key, VIDEO.read_bytes())
    await repo.update_clip(clip_id, status="ready", video_key=key, size_bytes=size)
    await session.commit()
    return str(clip_id)


async def test_creative_from_a_rendered_clip(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any, session: Any
) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    d = await direction(client, owner, account["id"])
    clip_id = await _rendered_clip(session, owner.workspace_id)
    body = {"ad_account_id": account["id"], "direction_id": d["id"], "clip_id": clip_id}
    first = await client.post("/api/v1/ads/creatives", json=body, headers=owner.headers)
    assert first.status_code == 202, first.text
    assert first.json()["name"] == "A strong hook" and first.json()["source"] == "clip"
    again = await client.post("/api/v1/ads/creatives", json=body, headers=owner.headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]
    await run_jobs()
    done = (await client.get(f"/api/v1/ads/creatives/{first.json()['id']}", headers=owner.headers)).json()
    assert done["status"] == "ready" and done["tiktok_video_id"]
    other = await signup()
    stranger = await client.post(
        "/api/v1/ads/creatives", headers=other.headers, json={**body, "ad_account_id": account["id"]}
    )
    assert stranger.status_code == 404
    missing = await client.post(
        "/api/v1/ads/creatives", json={**body, "clip_id": str(uuid.uuid4())}, headers=owner.headers
    )
    assert missing.status_code == 404


async def test_stored_tokens_rotate_to_a_new_key(client: Any, signup: Any, sandbox: Any, session: Any) -> None:
    import os

    from cryptography.fernet import Fernet

    from reelflow.storage import crypto
    from reelflow.storage.repositories.ads import AdsRepository

    owner = await signup()
    await connect(client, owner, sandbox)
    old = (await session.execute(text("SELECT access_token_enc FROM ad_connections"))).scalar_one()
    plain = crypto.decrypt(old)
    sandbox.set_settings(
        secrets__token_encryption_keys=Fernet.generate_key().decode()
        + ","
        + os.environ["REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS"]
    )
    assert await AdsRepository(session).rotate_tokens() == 1
    await session.commit()
    new = (await session.execute(text("SELECT access_token_enc FROM ad_connections"))).scalar_one()
    assert new != old and crypto.decrypt(new) == plain


async def test_launch_overrides_and_refusals(client: Any, signup: Any, sandbox: Any, run_jobs: Any) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    d = await direction(client, owner, account["id"])
    [creative] = await _ready_creatives(client, owner, account["id"], d["id"], run_jobs, 1)
    low = await client.post(
        "/api/v1/ads/launches",
        headers=owner.headers,
        json={"direction_id": d["id"], "creative_ids": [creative], "daily_budget_minor": 100},
    )
    assert low.status_code == 422 and field(low) == "daily_budget_minor"
    bad = await client.post(
        "/api/v1/ads/launches",
        headers=owner.headers,
        json={"direction_id": d["id"], "creative_ids": [creative], "objective": "fame"},
    )
    assert bad.status_code == 422 and field(bad) == "objective"
    none = await client.post("/api/v1/ads/launches", json={"direction_id": d["id"]}, headers=owner.headers)
    assert none.status_code == 422 and field(none) == "creative_ids"
    response = await client.post(
        "/api/v1/ads/launches",
        headers=owner.headers,
        json={"direction_id": d["id"], "mode": "auto", "daily_budget_minor": 7_500_00, "objective": "traffic"},
    )
    assert response.status_code == 202, response.text
    assert response.json()["creative_ids"] == [creative]  # auto: the idle creative
    await run_jobs()
    state = await inspect(sandbox)
    [campaign] = kinds(state, "campaign")
    [adgroup] = kinds(state, "adgroup")
    assert campaign["objective_type"] == "TRAFFIC" and adgroup["budget"] == 7500.0
    assert adgroup["optimization_goal"] == "CLICK" and adgroup["billing_event"] == "CPC"
    # Facebook directions are stored only: no adapter, so no launch.
    both = await client.post(
        "/api/v1/ads/directions",
        headers=owner.headers,
        json={
            "ad_account_id": account["id"],
            "name": "FB",
            "platform": "facebook",
            "objective": "traffic",
            "daily_budget_minor": 3_000_00,
        },
    )
    fb = both.json()["items"][0]
    refused = await client.post(
        "/api/v1/ads/launches", json={"direction_id": fb["id"], "creative_ids": [creative]}, headers=owner.headers
    )
    assert refused.status_code == 422 and "Facebook" in refused.json()["detail"]
