"""Hostile and careless clients over the real app: never a 500, always a problem naming the field."""

from __future__ import annotations

import base64
import json

from sqlalchemy import text

from reelflow.settings import reset_settings_cache

RULES = "/api/v1/monitoring/rules"
PROBLEM = "application/problem+json"


def _field(response) -> str:
    return response.json()["errors"][0]["field"]


async def _count(session, table: str) -> int:
    return int((await session.execute(text(f"SELECT count(*) FROM {table}"))).scalar_one())


async def test_nul_bytes_in_any_text_field_are_422_naming_the_field(client, signup, session):
    owner = await signup()
    cases = [
        ("/api/v1/signup", {"email": "a@example.com", "workspace_name": "x\u0000y"}, "workspace_name"),
        (RULES, {"name": "n\u0000", "kind": "keyword", "values": ["a"]}, "name"),
        (RULES, {"name": "n", "kind": "keyword", "values": ["ok", "b\u0000"]}, "values[1]"),
        (
            RULES,
            {"name": "n", "kind": "combined", "combined": {"or": [{"kind": "hashtag", "values": ["\u0000"]}]}},
            "combined.or[0].values[0]",
        ),
        ("/api/v1/projects", {"url": "https://example.com/a.mp4", "title": "t\u0000"}, "title"),
        ("/api/v1/tokens", {"name": "\u0000"}, "name"),
    ]
    for path, body, field in cases:
        response = await client.post(path, headers=owner.headers, json=body)
        assert response.status_code == 422, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert _field(response) == field
        assert response.json()["request_id"] == response.headers["x-request-id"]
    assert await _count(session, "monitoring_rules") == 0
    assert await _count(session, "workspaces") == 1


async def test_nul_in_query_parameters_is_400_naming_it(client, signup):
    owner = await signup()
    response = await client.get("/api/v1/monitoring/videos", headers=owner.headers, params={"q": "a\u0000b"})
    assert response.status_code == 400 and _field(response) == "q"


async def test_datetime_query_parameters_must_be_rfc3339(client, signup):
    owner = await signup()
    for bad in ("0.5", "1733220000", "yesterday", "2026-12-03"):
        response = await client.get("/api/v1/jobs", headers=owner.headers, params={"since": bad})
        assert response.status_code == 400 and _field(response) == "since", (bad, response.text)
    for good in ("2026-12-03T10:00:00Z", "2026-12-03T10:00:00.123+01:00", "2026-12-03T10:00:00"):
        response = await client.get("/api/v1/jobs", headers=owner.headers, params={"since": good})
        assert response.status_code == 200, (good, response.text)


async def test_deep_and_huge_bodies_are_rejected_before_decoding(client, signup):
    owner = await signup()
    deep = b"[" * 100_000 + b"]" * 100_000
    response = await client.post(
        RULES, headers={**owner.headers, "Content-Type": "application/json"}, content=b'{"name": ' + deep + b"}"
    )
    assert response.status_code == 400 and response.headers["content-type"] == PROBLEM
    mild = json.dumps({"name": "x", "kind": "keyword", "values": ["a"], "extra": [[[[[[[[1]]]]]]]]})
    assert (
        await client.post(RULES, headers={**owner.headers, "Content-Type": "application/json"}, content=mild)
    ).status_code == 422
    big = await client.post(RULES, headers=owner.headers, json={"name": "x" * 3_000_000})
    assert big.status_code == 413 and big.headers["content-type"] == PROBLEM


async def test_integers_beyond_64_bits_and_non_finite_numbers_are_422(client, signup, session):
    owner = await signup()
    headers = {**owner.headers, "Content-Type": "application/json"}
    for raw, field in [
        (b'{"name": "x", "kind": "keyword", "values": ["a"], "interval_minutes": 99999999999999999999999}', None),
        (b'{"url": "https://example.com/v.mp4", "options": {"top_n": 1e400}}', None),
    ]:
        path = RULES if b"kind" in raw else "/api/v1/projects"
        response = await client.post(path, headers=headers, content=raw)
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        if field:
            assert _field(response) == field
    huge = await client.post(
        "/api/v1/uploads",
        headers=owner.headers,
        json={"filename": "a.mp4", "size_bytes": 2**70, "content_type": "video/mp4"},
    )
    assert huge.status_code == 422 and _field(huge) == "size_bytes"
    assert await _count(session, "monitoring_rules") == 0


async def test_wrong_types_are_422_never_coerced(client, signup, session):
    owner = await signup()
    for body, field in [
        ({"name": "x", "kind": "keyword", "values": ["a"], "interval_minutes": "60"}, "interval_minutes"),
        ({"name": 5, "kind": "keyword", "values": ["a"]}, "name"),
        ({"name": "x", "kind": "keyword", "values": "a"}, "values"),
        ({"name": "x", "kind": "keyword", "values": ["a"], "active": "true"}, "active"),
    ]:
        response = await client.post(RULES, headers=owner.headers, json=body)
        assert response.status_code == 422, (body, response.text)
        assert _field(response) == field, response.json()
    token = await client.post("/api/v1/tokens", headers=owner.headers, json={"name": "t", "expires_in_days": "5"})
    assert token.status_code == 422 and _field(token) == "expires_in_days"
    assert await _count(session, "monitoring_rules") == 0


async def test_interval_zero_is_422_not_the_default(client, signup, session):
    owner = await signup()
    response = await client.post(
        RULES, headers=owner.headers, json={"name": "x", "kind": "keyword", "values": ["a"], "interval_minutes": 0}
    )
    assert response.status_code == 422 and _field(response) == "interval_minutes"
    assert await _count(session, "monitoring_rules") == 0


async def test_text_plain_body_is_415(client, signup):
    owner = await signup()
    response = await client.post(
        RULES,
        headers={**owner.headers, "Content-Type": "text/plain"},
        content=b'{"name": "x", "kind": "keyword", "values": ["a"]}',
    )
    assert response.status_code == 415 and response.headers["content-type"] == PROBLEM


async def test_bad_cursors_and_limits_are_400_naming_the_parameter(client, signup):
    owner = await signup()

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    cursors = [
        "not a cursor",
        "é" * 10,
        "A" * 5000,
        b64(b"[" * 5000 + b"]" * 5000),
        b64(b'["2024-01-01T00:00:00", 99999999999999999999999999]'),
        b64(b'[1e999, "x"]'),
        b64(b'["\\u0000", "x"]'),
        b64(b'{"a": 1}'),
        b64(b'["2024-01-01", "not-a-uuid"]'),
    ]
    for path in (
        RULES,
        "/api/v1/monitoring/videos",
        "/api/v1/members",
        "/api/v1/projects",
        "/api/v1/jobs",
        "/api/v1/audit",
    ):
        for cursor in cursors:
            response = await client.get(path, headers=owner.headers, params={"cursor": cursor})
            assert response.status_code == 400, (path, cursor[:40], response.text)
            assert _field(response) == "cursor"
        for limit in ("0", "-1", "999999999999999999999999", "abc", "1e3", "201"):
            response = await client.get(path, headers=owner.headers, params={"limit": limit})
            assert response.status_code == 400, (path, limit, response.text)
            assert _field(response) == "limit"


async def test_signed_links_with_hostile_tokens_are_403_or_404(client):
    for query in [
        {"expires": "1", "sig": "é" * 64},
        {"expires": "1", "sig": "a" * 100_00},
        {"expires": "9" * 40, "sig": "a" * 64},
        {"expires": "-5", "sig": "0" * 64},
    ]:
        response = await client.get("/api/v1/blobs/clips/x.mp4", params=query)
        assert response.status_code in (400, 403, 404), (query, response.text)
        assert response.headers["content-type"] == PROBLEM
    upload = "/api/v1/uploads/00000000-0000-0000-0000-000000000001"
    for token in ["١٢٣.abc", "²³.abc", "1." + "é" * 64, "9" * 5000 + "." + "a" * 64, "1.\u0000"]:
        response = await client.get(upload, params={"token": token})
        assert response.status_code in (400, 403, 404), (token[:20], response.text)


async def test_hostnames_that_are_not_idna_are_422(client, signup):
    owner = await signup()
    for url in [
        "https://xn--/a.mp4",
        "https://a..b/v.mp4",
        "https://" + "a" * 64 + ".com/v.mp4",
        "https://xn--a-ecp.ru/",
    ]:
        response = await client.post("/api/v1/projects", headers=owner.headers, json={"url": url})
        assert response.status_code == 422, (url, response.text)
        assert _field(response) == "url"


async def test_router_404_and_405_are_problems_with_request_id(client, signup):
    owner = await signup()
    for response in (
        await client.get("/nope"),
        await client.get("/api/v1/nope", headers=owner.headers),
        await client.delete("/api/v1/signup"),
        await client.put("/api/v1/me", headers=owner.headers, json={}),
    ):
        assert response.status_code in (404, 405)
        assert response.headers["content-type"] == PROBLEM
        body = response.json()
        assert body["request_id"] == response.headers["x-request-id"] and body["status"] == response.status_code


async def test_idempotency_key_reused_with_another_body_is_409(client, signup, session):
    owner = await signup()
    other = await signup()
    key = {"Idempotency-Key": "same-key-1"}
    first = await client.post(
        RULES, headers={**owner.headers, **key}, json={"name": "a", "kind": "keyword", "values": ["a"]}
    )
    assert first.status_code == 201
    again = await client.post(
        RULES, headers={**owner.headers, **key}, json={"kind": "keyword", "values": ["a"], "name": "a"}
    )
    # The same request again is a replay of the first answer: no second rule.
    assert again.status_code == 200 and again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert await _count(session, "monitoring_rules") == 1
    changed = await client.post(
        RULES, headers={**owner.headers, **key}, json={"name": "b", "kind": "keyword", "values": ["b"]}
    )
    assert changed.status_code == 409 and changed.headers["content-type"] == PROBLEM
    # Another workspace, or another route, has its own keys.
    theirs = await client.post(
        RULES, headers={**other.headers, **key}, json={"name": "b", "kind": "keyword", "values": ["b"]}
    )
    assert theirs.status_code == 201
    token = await client.post("/api/v1/tokens", headers={**owner.headers, **key}, json={"name": "ci"})
    assert token.status_code == 201
    # A failed first attempt does not burn the key.
    bad_key = {"Idempotency-Key": "fix-and-retry"}
    bad = await client.post(RULES, headers={**owner.headers, **bad_key}, json={"name": "", "kind": "keyword"})
    assert bad.status_code == 422
    fixed = await client.post(
        RULES, headers={**owner.headers, **bad_key}, json={"name": "c", "kind": "keyword", "values": ["c"]}
    )
    assert fixed.status_code == 201
    project = {"url": "https://example.com/one.mp4"}
    p1 = await client.post("/api/v1/projects", headers={**owner.headers, "Idempotency-Key": "p-1"}, json=project)
    assert p1.status_code in (202, 422), p1.text
    p2 = await client.post(
        "/api/v1/projects",
        headers={**owner.headers, "Idempotency-Key": "p-1"},
        json={"url": "https://example.com/two.mp4"},
    )
    assert p2.status_code in (409, 422) if p1.status_code == 422 else p2.status_code == 409
    odd = await client.post(
        RULES, headers={**owner.headers, "Idempotency-Key": "x" * 300}, json={"name": "d", "kind": "keyword"}
    )
    assert odd.status_code == 400 and _field(odd) == "Idempotency-Key"


async def test_forwarded_for_spoofing_does_not_reset_the_signup_limit(client, mail_sink, monkeypatch):
    statuses = []
    for i in range(13):
        response = await client.post(
            "/api/v1/signup",
            json={"email": f"s{i}@example.com", "workspace_name": "s"},
            headers={"X-Forwarded-For": f"203.0.113.{i}", "X-Real-IP": f"198.51.100.{i}"},
        )
        statuses.append(response.status_code)
        if response.status_code == 429:
            assert int(response.headers["retry-after"]) >= 1
            assert response.headers["content-type"] == PROBLEM
    assert statuses[:10] == [202] * 10 and statuses[10:] == [429] * 3


async def test_forwarded_for_is_believed_behind_configured_hops(services, mail_sink, monkeypatch):
    import httpx

    from reelflow.web.app import create_app

    monkeypatch.setenv("REELFLOW_PROXY__HOPS", "1")
    reset_settings_cache()
    try:
        transport = httpx.ASGITransport(app=create_app())
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as proxied:
            statuses = []
            for i in range(12):
                response = await proxied.post(
                    "/api/v1/signup",
                    json={"email": f"h{i}@example.com", "workspace_name": "h"},
                    # the client forges the first entry; the router appends the real address last
                    headers={"X-Forwarded-For": f"10.0.0.{i}, 192.0.2.7"},
                )
                statuses.append(response.status_code)
            assert statuses[10] == 429
    finally:
        reset_settings_cache()


async def test_idempotency_keys_are_scoped_to_the_route(client, signup):
    owner = await signup()
    key = {**owner.headers, "Idempotency-Key": "shared-key"}
    diagnose = await client.post("/api/v1/jobs/diagnostics", headers=key, json={})
    refresh = await client.post("/api/v1/monitoring/engagement/refresh", headers=key, json={})
    assert diagnose.status_code == 202 and refresh.status_code == 202, (diagnose.text, refresh.text)
    assert diagnose.json()["id"] != refresh.json()["id"]
    replay = await client.post("/api/v1/jobs/diagnostics", headers=key, json={})
    assert replay.status_code == 200 and replay.json()["id"] == diagnose.json()["id"]
    changed = await client.post("/api/v1/jobs/diagnostics", headers=key, json={"fail_times": 1})
    assert changed.status_code == 409


async def test_query_integers_beyond_64_bits_are_400_naming_the_parameter(client, signup):
    owner = await signup()
    for params in ({"min_views": "99999999999999999999999"}, {"min_views": "-99999999999999999999999"}):
        response = await client.get("/api/v1/monitoring/videos", headers=owner.headers, params=params)
        assert response.status_code == 400 and _field(response) == "min_views", response.text
    fine = await client.get("/api/v1/monitoring/videos", headers=owner.headers, params={"min_views": "9"})
    assert fine.status_code == 200
