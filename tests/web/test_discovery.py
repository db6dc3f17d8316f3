"""Discovery API: campaigns CRUD and statuses, search validation, paging to the target with
duplicates across pages and keywords, progress, cancel, results, filters, CSV, limits, isolation."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import select

from reelflow.storage.models.discovery import DiscoverySearch

CAMPAIGNS = "/api/v1/discovery/campaigns"


def _field(response: Any) -> str:
    return str(response.json()["errors"][0]["field"])


async def _campaign(client: Any, account: Any, search_type: str = "keyword", name: str = "Spring") -> dict[str, Any]:
    response = await client.post(CAMPAIGNS, headers=account.headers, json={"name": name, "search_type": search_type})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_campaign_crud_statuses_and_pagination(client, signup):
    account = await signup()
    created = await client.post(
        CAMPAIGNS,
        headers=account.headers,
        json={"name": "  Summer   launch ", "description": "Fitness creators", "search_type": "keyword"},
    )
    assert created.status_code == 201, created.text
    campaign = created.json()
    assert campaign["name"] == "Summer launch" and campaign["status"] == "draft"
    assert campaign["searches"] == 0 and campaign["creators"] == 0
    cid = campaign["id"]

    bad = await client.post(CAMPAIGNS, headers=account.headers, json={"name": "x", "search_type": "hashtag"})
    assert bad.status_code == 422 and _field(bad) == "search_type"
    empty = await client.post(CAMPAIGNS, headers=account.headers, json={"name": "   ", "search_type": "keyword"})
    assert empty.status_code == 422 and _field(empty) == "name"

    patched = await client.patch(
        f"{CAMPAIGNS}/{cid}", headers=account.headers, json={"name": "Summer", "description": "d"}
    )
    assert patched.status_code == 200 and patched.json()["name"] == "Summer" and patched.json()["description"] == "d"
    to_completed = await client.patch(f"{CAMPAIGNS}/{cid}", headers=account.headers, json={"status": "completed"})
    assert to_completed.status_code == 409  # a draft cannot complete
    unknown = await client.patch(f"{CAMPAIGNS}/{cid}", headers=account.headers, json={"status": "paused"})
    assert unknown.status_code == 422 and _field(unknown) == "status"
    archived = await client.patch(f"{CAMPAIGNS}/{cid}", headers=account.headers, json={"status": "archived"})
    assert archived.status_code == 200 and archived.json()["status"] == "archived" and archived.json()["archived_at"]
    back = await client.patch(f"{CAMPAIGNS}/{cid}", headers=account.headers, json={"status": "draft"})
    assert back.status_code == 200 and back.json()["status"] == "draft"

    for i in range(3):
        await _campaign(client, account, name=f"C{i}")
    page1 = await client.get(CAMPAIGNS, headers=account.headers, params={"limit": 2})
    assert page1.status_code == 200 and len(page1.json()["items"]) == 2 and page1.json()["next_cursor"]
    page2 = await client.get(
        CAMPAIGNS, headers=account.headers, params={"limit": 2, "cursor": page1.json()["next_cursor"]}
    )
    names = [c["name"] for c in page1.json()["items"] + page2.json()["items"]]
    assert names == ["C2", "C1", "C0", "Summer"] and page2.json()["next_cursor"] is None
    drafts = await client.get(CAMPAIGNS, headers=account.headers, params={"status": "draft"})
    assert len(drafts.json()["items"]) == 4
    bad_cursor = await client.get(CAMPAIGNS, headers=account.headers, params={"cursor": "nope"})
    assert bad_cursor.status_code == 400 and _field(bad_cursor) == "cursor"

    deleted = await client.delete(f"{CAMPAIGNS}/{cid}", headers=account.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"{CAMPAIGNS}/{cid}", headers=account.headers)).status_code == 404


async def test_search_validation(client, signup):
    account = await signup()
    kw = await _campaign(client, account)
    sim = await _campaign(client, account, "similar")
    url = f"{CAMPAIGNS}/{kw['id']}/searches"

    async def post(campaign: dict[str, Any], body: dict[str, Any]) -> Any:
        return await client.post(f"{CAMPAIGNS}/{campaign['id']}/searches", headers=account.headers, json=body)

    cases = [
        (kw, {"platform": "tiktok", "target": 200, "keywords": ["gym"]}, "target"),
        (kw, {"platform": "tiktok", "target": 100, "keywords": []}, "keywords"),
        (kw, {"platform": "tiktok", "target": 100, "keywords": ["  "]}, "keywords[0]"),
        (kw, {"platform": "tiktok", "target": 100, "keywords": ["x" * 101]}, "keywords[0]"),
        (kw, {"platform": "tiktok", "target": 100, "keywords": [f"k{i}" for i in range(11)]}, "keywords"),
        (kw, {"platform": "tiktok", "target": 100, "keywords": [3]}, "keywords[0]"),
        (kw, {"platform": "youtube", "target": 100, "keywords": ["gym"]}, "platform"),
        (kw, {"platform": "instagram", "target": 100, "handle": "nike"}, "platform"),
        (sim, {"platform": "instagram", "target": 100, "handle": "bad..handle"}, "handle"),
        (sim, {"platform": "instagram", "target": 100}, "handle"),
        (sim, {"platform": "instagram", "target": 100, "handle": "ok", "keywords": ["x"]}, "keywords"),
    ]
    for campaign, body, field in cases:
        response = await post(campaign, body)
        assert response.status_code == 422, (body, response.text)
        assert _field(response) == field, (body, response.json())
    # eleven spellings of ten keywords are fine: case-insensitive de-duplication
    ok = await client.post(
        url,
        headers=account.headers,
        json={"platform": "tiktok", "target": 100, "keywords": [" Gym ", "gym", "GYM", "protein  shake"]},
    )
    assert ok.status_code == 202, ok.text
    assert ok.json()["keywords"] == ["Gym", "protein shake"] and ok.json()["status"] == "pending"
    assert (await client.get(f"{CAMPAIGNS}/{kw['id']}", headers=account.headers)).json()["status"] == "active"
    missing = await client.post(
        f"{CAMPAIGNS}/{uuid.uuid4()}/searches",
        headers=account.headers,
        json={"platform": "tiktok", "target": 100, "keywords": ["gym"]},
    )
    assert missing.status_code == 404


async def test_keyword_search_pages_to_target_with_duplicates(client, signup, sandbox, run_jobs, session):
    account = await signup()
    campaign = await _campaign(client, account)
    cid = campaign["id"]
    started = await client.post(
        f"{CAMPAIGNS}/{cid}/searches",
        headers={**account.headers, "Idempotency-Key": "search-1"},
        json={"platform": "tiktok", "target": 100, "keywords": ["workout", "gymtok"]},
    )
    assert started.status_code == 202, started.text
    sid = started.json()["id"]
    assert started.headers["location"].endswith(sid)
    replay = await client.post(
        f"{CAMPAIGNS}/{cid}/searches",
        headers={**account.headers, "Idempotency-Key": "search-1"},
        json={"platform": "tiktok", "target": 100, "keywords": ["workout", "gymtok"]},
    )
    assert replay.status_code == 200 and replay.json()["id"] == sid and replay.headers["idempotent-replayed"] == "true"
    conflict = await client.post(
        f"{CAMPAIGNS}/{cid}/searches",
        headers={**account.headers, "Idempotency-Key": "search-1"},
        json={"platform": "tiktok", "target": 500, "keywords": ["workout"]},
    )
    assert conflict.status_code == 409

    await run_jobs()
    progress = (await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}", headers=account.headers)).json()
    assert progress["status"] == "completed", progress
    assert progress["found"] >= 100 and progress["progress"] == 100
    assert progress["credits_used"] == progress["pages"] >= 4
    assert progress["items_seen"] > progress["found"]  # pages repeat items; authors repeat across videos
    assert progress["started_at"] and progress["finished_at"] and progress["error"] is None

    # each provider page was fetched once: no (keyword, cursor) twice
    requests = await sandbox.requests("/scrapecreators/v1/tiktok/search/keyword")
    seen = [(q.get("query"), q.get("cursor")) for q in (dict(parse_qsl(r["query"])) for r in requests)]
    assert len(seen) == len(set(seen)) == progress["pages"]

    # one row per creator, however many pages/keywords found them
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 40, "sort": "followers"}
        if cursor:
            params["cursor"] = cursor
        page = (
            await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}/creators", headers=account.headers, params=params)
        ).json()
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert len(rows) == progress["found"]
    assert len({r["external_id"] for r in rows}) == len(rows)
    followers = [r["followers"] for r in rows]
    assert followers == sorted(followers, reverse=True)
    both = [r for r in rows if set(r["keywords"]) == {"workout", "gymtok"}]
    assert both, "some creators are found by both keywords and are still one row"
    first = rows[0]
    assert first["videos"] and first["avatar_url"].startswith("/api/v1/discovery/images/")
    assert first["avg_views"] is not None and first["engagement_rate"] is not None

    # filters
    filtered = (
        await client.get(
            f"{CAMPAIGNS}/{cid}/searches/{sid}/creators",
            headers=account.headers,
            params={"min_followers": 10_000, "has_email": "true", "limit": 200},
        )
    ).json()["items"]
    assert all(r["followers"] >= 10_000 and r["emails"] for r in filtered)
    by_kw = (
        await client.get(
            f"{CAMPAIGNS}/{cid}/searches/{sid}/creators",
            headers=account.headers,
            params={"keyword": "GYMTOK", "limit": 200},
        )
    ).json()["items"]
    assert by_kw and all("gymtok" in r["keywords"] for r in by_kw)
    bad_sort = await client.get(
        f"{CAMPAIGNS}/{cid}/searches/{sid}/creators", headers=account.headers, params={"sort": "name"}
    )
    assert bad_sort.status_code == 400 and _field(bad_sort) == "sort"

    # the campaign's view and counts
    across = (await client.get(f"{CAMPAIGNS}/{cid}/creators", headers=account.headers, params={"limit": 200})).json()
    assert len(across["items"]) + (1 if across["next_cursor"] else 0) >= min(200, progress["found"])
    got = (await client.get(f"{CAMPAIGNS}/{cid}", headers=account.headers)).json()
    assert got["searches"] == 1 and got["creators"] == progress["found"]

    # a GET never writes
    row = (await session.execute(select(DiscoverySearch).where(DiscoverySearch.id == uuid.UUID(sid)))).scalar_one()
    before = row.updated_at
    await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}", headers=account.headers)
    await session.refresh(row)
    assert row.updated_at == before

    # CSV: BOM, header, one line per creator
    export = await client.get(
        f"{CAMPAIGNS}/{cid}/searches/{sid}/creators", headers=account.headers, params={"format": "csv"}
    )
    assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
    assert export.content.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))
    assert table[0][:3] == ["platform", "handle", "name"] and len(table) - 1 == progress["found"]


async def test_csv_export_is_formula_safe_utf8_with_bom(client, signup, session):
    from reelflow.storage.repositories.discovery import DiscoveryRepository

    account = await signup()
    campaign = await _campaign(client, account)
    cid = campaign["id"]
    started = await client.post(
        f"{CAMPAIGNS}/{cid}/searches",
        headers=account.headers,
        json={"platform": "tiktok", "target": 100, "keywords": ["x"]},
    )
    sid = started.json()["id"]
    await client.post(f"{CAMPAIGNS}/{cid}/searches/{sid}/cancel", headers=account.headers)
    repo = DiscoveryRepository(session)
    ws = uuid.UUID(account.workspace_id)
    base = {
        "platform": "tiktok",
        "following": None,
        "likes": None,
        "video_count": None,
        "verified": False,
        "emails": [],
        "links": [],
        "region": "FR",
        "avatar_url": None,
        "profile_url": None,
    }
    nasty = [
        {
            **base,
            "external_id": "1",
            "handle": "=cmd|' /C calc'!A0",
            "display_name": "+SUM(1,1)",
            "followers": 10,
            "bio": "@import évènement 🙂",
        },
        {
            **base,
            "external_id": "2",
            "handle": "-2+3",
            "display_name": 'Zoë «quoted, "comma"»',
            "followers": 5,
            "bio": "line one\nline two",
            "emails": ["=evil@example.com"],
        },
    ]
    ids = await repo.upsert_creators(ws, nasty)
    await repo.upsert_links(
        [
            {
                "search_id": uuid.UUID(sid),
                "creator_id": cid_,
                "workspace_id": ws,
                "campaign_id": uuid.UUID(cid),
                "position": i + 1,
                "keywords": ["x"],
                "videos": [],
                "avg_views": None,
                "engagement_rate": None,
                "found_at": datetime.now(UTC),
            }
            for i, cid_ in enumerate(ids.values())
        ]
    )
    await session.commit()
    export = await client.get(
        f"{CAMPAIGNS}/{cid}/searches/{sid}/creators", headers=account.headers, params={"format": "csv"}
    )
    assert export.status_code == 200
    assert export.headers["content-disposition"].startswith("attachment;")
    raw = export.content
    assert raw.startswith("\ufeff".encode())
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, rows = table[0], table[1:]
    by_handle = {r[header.index("handle")]: r for r in rows}
    assert set(by_handle) == {"'=cmd|' /C calc'!A0", "'-2+3"}
    first = by_handle["'=cmd|' /C calc'!A0"]
    assert first[header.index("name")] == "'+SUM(1,1)"
    assert first[header.index("bio")] == "'@import évènement 🙂"
    second = by_handle["'-2+3"]
    assert second[header.index("name")] == 'Zoë «quoted, "comma"»'
    assert second[header.index("bio")] == "line one\nline two"
    assert second[header.index("emails")] == "'=evil@example.com"
    assert second[header.index("followers")] == "5"
    for row in rows:
        for cell in row:
            assert not cell.startswith(("=", "+", "-", "@")), cell


async def test_campaign_results_merge_searches(client, signup, sandbox, run_jobs):
    account = await signup()
    cid = (await _campaign(client, account))["id"]
    first = await client.post(
        f"{CAMPAIGNS}/{cid}/searches",
        headers=account.headers,
        json={"platform": "tiktok", "target": 100, "keywords": ["workout"]},
    )
    busy = await client.patch(f"{CAMPAIGNS}/{cid}", headers=account.headers, json={"status": "completed"})
    assert busy.status_code == 409  # not while a search runs
    second = await client.post(
        f"{CAMPAIGNS}/{cid}/searches",
        headers=account.headers,
        json={"platform": "tiktok", "target": 100, "keywords": ["gymtok"]},
    )
    assert first.status_code == second.status_code == 202
    await run_jobs()
    found = [
        (await client.get(f"{CAMPAIGNS}/{cid}/searches/{s.json()['id']}", headers=account.headers)).json()["found"]
        for s in (first, second)
    ]
    rows: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 100, "sort": "found"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(f"{CAMPAIGNS}/{cid}/creators", headers=account.headers, params=params)).json()
        rows += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    ids = [r["external_id"] for r in rows]
    assert len(ids) == len(set(ids)) and len(ids) < sum(found)  # creators found by both searches are one row
    both = [r for r in rows if r["searches"] == 2]
    assert both and all({"workout", "gymtok"} <= set(r["keywords"]) for r in both)
    campaign = (await client.get(f"{CAMPAIGNS}/{cid}", headers=account.headers)).json()
    assert campaign["creators"] == len(rows) and campaign["searches"] == 2
    export = await client.get(f"{CAMPAIGNS}/{cid}/creators", headers=account.headers, params={"format": "csv"})
    assert len(list(csv.reader(io.StringIO(export.content.decode("utf-8-sig"))))) - 1 == len(rows)
    done = await client.patch(f"{CAMPAIGNS}/{cid}", headers=account.headers, json={"status": "completed"})
    assert done.status_code == 200 and done.json()["status"] == "completed" and done.json()["completed_at"]
