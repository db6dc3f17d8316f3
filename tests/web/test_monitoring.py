"""Monitoring API: rule CRUD and validation, reading API filters, sorts, pagination, isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from reelflow.storage.repositories.monitoring import CreatorRow, MonitoringRepository, VideoRow

RULES = "/api/v1/monitoring/rules"


async def test_rule_crud_pause_resume_delete(client, signup):
    account = await signup()
    created = await client.post(
        RULES,
        headers=account.headers,
        json={"name": "Skincare", "kind": "hashtag", "values": ["#SkinCare", "glow"], "region": "us"},
    )
    assert created.status_code == 201, created.text
    rule = created.json()
    assert rule["definition"] == {"kind": "hashtag", "values": ["skincare", "glow"]}
    assert rule["interval_minutes"] == 60 and rule["active"] is True and rule["next_poll_at"]
    assert rule["region"] == "US"
    assert rule["query"]["and"][0]["field_name"] == "hashtag_name"
    assert rule["totals"] == {"polls": 0, "failures": 0, "fetched": 0, "new": 0, "duplicates": 0, "creators_created": 0}
    assert rule["last_error"] is None and rule["last_polled_at"] is None

    rid = rule["id"]
    got = await client.get(f"{RULES}/{rid}", headers=account.headers)
    assert got.status_code == 200 and got.json()["name"] == "Skincare"

    patched = await client.patch(
        f"{RULES}/{rid}", headers=account.headers, json={"values": ["serum"], "interval_minutes": 180, "name": "S"}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["definition"]["values"] == ["serum"] and patched.json()["interval_minutes"] == 180

    paused = await client.post(f"{RULES}/{rid}/pause", headers=account.headers)
    assert paused.status_code == 200 and paused.json()["active"] is False and paused.json()["next_poll_at"] is None
    resumed = await client.post(f"{RULES}/{rid}/resume", headers=account.headers)
    assert resumed.json()["active"] is True and resumed.json()["next_poll_at"]

    second = await client.post(
        RULES,
        headers=account.headers,
        json={
            "name": "Combined",
            "kind": "combined",
            "combined": {
                "and": [{"kind": "hashtag", "values": ["skincare"]}],
                "not": [{"kind": "user", "values": ["spam.bot"]}],
            },
            "interval_minutes": 30,
        },
    )
    assert second.status_code == 201, second.text
    page1 = await client.get(RULES, headers=account.headers, params={"limit": 1})
    assert len(page1.json()["items"]) == 1 and page1.json()["next_cursor"]
    page2 = await client.get(RULES, headers=account.headers, params={"limit": 1, "cursor": page1.json()["next_cursor"]})
    assert page2.json()["items"][0]["id"] == second.json()["id"] and page2.json()["next_cursor"] is None

    deleted = await client.delete(f"{RULES}/{rid}", headers=account.headers)
    assert deleted.status_code == 204
    assert (await client.get(f"{RULES}/{rid}", headers=account.headers)).status_code == 404


async def test_bad_rules_are_422_naming_the_field(client, signup):
    account = await signup()
    cases = [
        ({"name": "x", "kind": "keyword", "values": []}, "values"),
        ({"name": "x", "kind": "sound", "values": ["a"]}, "kind"),
        ({"name": "x", "kind": "hashtag", "values": ["two words"]}, "values[0]"),
        ({"name": "x", "kind": "keyword", "values": ["a"], "interval_minutes": 1}, "interval_minutes"),
        (
            {"name": "x", "kind": "combined", "combined": {"or": [{"kind": "hashtag", "values": ["#"]}]}},
            "combined.or[0].values[0]",
        ),
        ({"name": "x", "kind": "keyword"}, "values"),
    ]
    for body, field in cases:
        response = await client.post(RULES, headers=account.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        problem = response.json()
        assert response.headers["content-type"] == "application/problem+json"
        assert problem["errors"][0]["field"] == field, (body, problem)
    rule = await client.post(RULES, headers=account.headers, json={"name": "ok", "kind": "keyword", "values": ["a"]})
    bad_patch = await client.patch(
        f"{RULES}/{rule.json()['id']}", headers=account.headers, json={"interval_minutes": 2}
    )
    assert bad_patch.status_code == 422 and bad_patch.json()["errors"][0]["field"] == "interval_minutes"


async def _seed_videos(session, workspace_id: str, rule_id: str, count: int) -> list[uuid.UUID]:
    repo = MonitoringRepository(session)
    ws = uuid.UUID(workspace_id)
    now = datetime.now(UTC)
    creators, created = await repo.upsert_creators(ws, "tiktok", [CreatorRow("alice"), CreatorRow("bob")])
    assert sorted(created) == ["alice", "bob"]
    videos = [
        VideoRow(
            platform_video_id=str(7_300_000_000_000_000_000 + i),
            username="alice" if i % 2 == 0 else "bob",
            description=f"video {i}",
            hashtags=["skincare", "glow"],
            region="US",
            duration_s=20,
            url=None,
            posted_at=now - timedelta(hours=i),
            views=1000 * i,
            likes=10 * i,
            comments=i,
            shares=i,
            saves=i,
        )
        for i in range(count)
    ]
    rows = await repo.upsert_videos(ws, "tiktok", videos, creators, next_check_at=now, observed_at=now)
    ids = [r[0] for r in rows]
    await repo.link_rule_videos(ws, uuid.UUID(rule_id), ids[: count // 2])
    # velocities and tiers for sorting and filtering
    await session.execute(
        __import__("sqlalchemy").text(
            "UPDATE monitoring_videos SET velocity = (views % 7000), tier = CASE WHEN views > 5000 THEN 'warm' "
            "ELSE 'hot' END, forecast_1h = views + 100"
        )
    )
    await session.commit()
    return ids


async def test_reading_api_filters_sorts_pages_and_isolates(client, signup, session):
    account = await signup()
    other = await signup()
    rule = (
        await client.post(RULES, headers=account.headers, json={"name": "r", "kind": "keyword", "values": ["a"]})
    ).json()
    ids = await _seed_videos(session, account.workspace_id, rule["id"], 10)
    h = account.headers

    by_views = (await client.get("/api/v1/monitoring/videos", headers=h, params={"limit": 4})).json()
    assert [v["views"] for v in by_views["items"]] == [9000, 8000, 7000, 6000]
    rest = []
    cursor = by_views["next_cursor"]
    while cursor:
        page = (await client.get("/api/v1/monitoring/videos", headers=h, params={"limit": 4, "cursor": cursor})).json()
        rest += [v["views"] for v in page["items"]]
        cursor = page["next_cursor"]
    assert rest == [5000, 4000, 3000, 2000, 1000, 0]
    assert by_views["items"][0]["platform_video_id"] == "7300000000000000009"  # ids stay strings

    velocity = (
        await client.get("/api/v1/monitoring/videos", headers=h, params={"sort": "velocity", "limit": 3})
    ).json()
    assert [v["velocity"] for v in velocity["items"]] == [6000.0, 5000.0, 4000.0]
    nxt = (
        await client.get(
            "/api/v1/monitoring/videos",
            headers=h,
            params={"sort": "velocity", "limit": 3, "cursor": velocity["next_cursor"]},
        )
    ).json()
    assert [v["velocity"] for v in nxt["items"]] == [3000.0, 2000.0, 2000.0]

    forecast = (
        await client.get("/api/v1/monitoring/videos", headers=h, params={"sort": "forecast", "limit": 1})
    ).json()
    assert forecast["items"][0]["forecast_1h"] == 9100

    by_rule = (await client.get("/api/v1/monitoring/videos", headers=h, params={"rule_id": rule["id"]})).json()
    assert len(by_rule["items"]) == 5
    warm = (await client.get("/api/v1/monitoring/videos", headers=h, params={"tier": "warm"})).json()
    assert {v["views"] for v in warm["items"]} == {6000, 7000, 8000, 9000}
    rich = (await client.get("/api/v1/monitoring/videos", headers=h, params={"min_views": 8000})).json()
    assert len(rich["items"]) == 2
    since = (datetime.now(UTC) - timedelta(hours=2, minutes=30)).isoformat()
    recent = (await client.get("/api/v1/monitoring/videos", headers=h, params={"since": since})).json()
    assert len(recent["items"]) == 3
    creators = (await client.get("/api/v1/monitoring/creators", headers=h)).json()["items"]
    assert [(c["username"], c["videos"]) for c in creators] == [("alice", 5), ("bob", 5)]
    by_creator = (
        await client.get("/api/v1/monitoring/videos", headers=h, params={"creator_id": creators[0]["id"]})
    ).json()
    assert all(v["username"] == "alice" for v in by_creator["items"]) and len(by_creator["items"]) == 5

    bad_sort = await client.get("/api/v1/monitoring/videos", headers=h, params={"sort": "likes"})
    assert bad_sort.status_code == 422 and bad_sort.json()["errors"][0]["field"] == "sort"

    trending = (await client.get("/api/v1/monitoring/trending", headers=h, params={"limit": 2})).json()
    assert [v["velocity"] for v in trending] == [6000.0, 5000.0]

    detail = await client.get(f"/api/v1/monitoring/videos/{ids[3]}", headers=h)
    assert detail.status_code == 200 and detail.json()["video"]["views"] == 3000
    assert detail.json()["rule_ids"] == [rule["id"]]

    stats = (await client.get(f"{RULES}/{rule['id']}/stats", headers=h)).json()
    assert stats["videos"] == 5 and stats["creators"] == 2 and stats["views"] == 10_000

    accuracy = (await client.get("/api/v1/monitoring/accuracy", headers=h)).json()
    assert accuracy == {"horizons": [], "open_forecasts": 0}

    # another workspace sees none of it: 404 for ids, empty lists
    o = other.headers
    assert (await client.get(f"/api/v1/monitoring/videos/{ids[3]}", headers=o)).status_code == 404
    assert (await client.get(f"{RULES}/{rule['id']}", headers=o)).status_code == 404
    assert (await client.get(f"{RULES}/{rule['id']}/stats", headers=o)).status_code == 404
    assert (await client.patch(f"{RULES}/{rule['id']}", headers=o, json={"name": "x"})).status_code == 404
    assert (await client.delete(f"{RULES}/{rule['id']}", headers=o)).status_code == 404
    assert (await client.post(f"{RULES}/{rule['id']}/pause", headers=o)).status_code == 404
    assert (await client.get("/api/v1/monitoring/videos", headers=o, params={"rule_id": rule["id"]})).status_code == 404
    assert (await client.get("/api/v1/monitoring/videos", headers=o)).json()["items"] == []
    assert (await client.get("/api/v1/monitoring/creators", headers=o)).json()["items"] == []


async def test_poll_endpoint_enqueues_the_poll_job_idempotently(client, signup, sandbox, run_jobs):
    account = await signup()
    other = await signup()
    rule = (
        await client.post(RULES, headers=account.headers, json={"name": "r", "kind": "hashtag", "values": ["skincare"]})
    ).json()
    key = {"Idempotency-Key": "poll-1"}
    first = await client.post(f"{RULES}/{rule['id']}/poll", headers={**account.headers, **key})
    assert first.status_code == 202, first.text
    assert first.json()["name"] == "monitoring.poll_rule" and first.json()["args"] == {"rule_id": rule["id"]}
    replay = await client.post(f"{RULES}/{rule['id']}/poll", headers={**account.headers, **key})
    assert replay.status_code == 200 and replay.headers["Idempotent-Replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    assert (await client.post(f"{RULES}/{rule['id']}/poll", headers=other.headers)).status_code == 404

    await run_jobs()

    run = (await client.get(f"/api/v1/jobs/{first.json()['id']}", headers=account.headers)).json()
    assert run["status"] == "succeeded", run
    assert run["result"]["new"] > 0 and run["result"]["fetched"] == run["result"]["new"]
    polled = (await client.get(f"{RULES}/{rule['id']}", headers=account.headers)).json()
    assert polled["totals"]["new"] == run["result"]["new"] and polled["totals"]["polls"] == 1

    refresh = await client.post(
        "/api/v1/monitoring/engagement/refresh", headers={**account.headers, "Idempotency-Key": "r1"}, json={}
    )
    assert refresh.status_code == 202 and refresh.json()["name"] == "monitoring.refresh_engagement"
    await run_jobs()
    done = (await client.get(f"/api/v1/jobs/{refresh.json()['id']}", headers=account.headers)).json()
    # nothing is due yet (just polled: first check after the hot cadence); force takes them all
    assert done["status"] == "succeeded" and done["result"]["selected"] == 0
    forced = await client.post("/api/v1/monitoring/engagement/refresh", headers=account.headers, json={"force": True})
    await run_jobs()
    done = (await client.get(f"/api/v1/jobs/{forced.json()['id']}", headers=account.headers)).json()
    assert done["result"]["selected"] == run["result"]["new"]
