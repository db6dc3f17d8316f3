"""Property-based hostility, driven by the app's own OpenAPI document: every write endpoint's
body fields and every query parameter get hostile values (Hypothesis draws which and where).

For every request: no 5xx; a 400/422 is problem+json naming the field or parameter at fault;
a refused request stores nothing.

Hypothesis samples (operation, field, value); the exhaustive tests below walk every write
operation's every body field, every query parameter of every operation (writes included) and
every path parameter with the worst values, so no endpoint of any area (identity, monitoring,
clipping, discovery, publishing, experiments, clippers, ads, jobs) is left to chance. Path ids
are real resources of the caller's workspace where the test can make them (a random id would
stop at the 404 before the service's own checks). The lead webhook, whose body is raw and
signed, has its own hostile bodies and signatures.
"""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st
from sqlalchemy import text

HOSTILE_STRINGS = [
    "\u0000",
    "a\u0000b",
    "x" * 20_000,
    "１２３",
    "٣",
    "²",
    "💥" * 500,
    "\r\nX-Injected: 1",
    "../../etc/passwd",
    "' OR 1=1 --",
    "<script>alert(1)</script>",
    "https://xn--/a.mp4",
    "http://[::1]:99999/",
    "%00",
    " ",
    "",
    "null",
    "-1",
    "99999999999999999999999999",
    "1e400",
    "NaN",
    "true",
]
HOSTILE_VALUES: list[Any] = [
    *HOSTILE_STRINGS,
    2**63,
    -(2**63) - 1,
    2**200,
    -1,
    0,
    1.5,
    1e308,
    -0.0,
    True,
    False,
    None,
    [],
    {},
    [None] * 50,
    {"\u0000": 1},
    {"nested": [[[[[[[[[[["deep"]]]]]]]]]]]},
]
SKIP_PATHS = re.compile(r"^/api/v1/(uploads|blobs)/")  # raw bytes and signed links: test_hardening covers them
VALID_BODIES: dict[tuple[str, str], dict[str, Any]] = {
    ("post", "/api/v1/signup"): {"email": "p@example.com", "workspace_name": "P"},
    ("post", "/api/v1/monitoring/rules"): {"name": "r", "kind": "keyword", "values": ["a"]},
    ("post", "/api/v1/projects"): {"url": "https://example.com/v.mp4"},
    ("post", "/api/v1/uploads"): {"filename": "a.mp4", "size_bytes": 1000, "content_type": "video/mp4"},
    ("post", "/api/v1/tokens"): {"name": "t"},
    ("post", "/api/v1/members"): {"email": "m@example.com", "role": "editor"},
    ("post", "/api/v1/auth/tokens"): {"email": "m@example.com", "password": "0123456789ab"},
    ("post", "/api/v1/auth/redeem"): {"token": "rfl_" + "x" * 43},
    ("post", "/api/v1/auth/password-reset"): {"email": "m@example.com"},
    ("post", "/api/v1/discovery/campaigns"): {"name": "c", "search_type": "keyword"},
    ("patch", "/api/v1/discovery/campaigns/{campaign_id}"): {"name": "c2"},
    ("post", "/api/v1/discovery/campaigns/{campaign_id}/searches"): {
        "platform": "tiktok",
        "target": 100,
        "keywords": ["cats"],
    },
    ("post", "/api/v1/clippers/campaigns"): {"name": "k", "budget_minor": 100_000, "rate_per_1000_minor": 100},
    ("patch", "/api/v1/clippers/campaigns/{campaign_id}"): {"name": "k2"},
    ("post", "/api/v1/clippers/payouts"): {"amount_minor": 1000},
    ("post", "/api/v1/clippers/submissions"): {
        "campaign_id": "{campaign_id:clippers}",
        "url": "https://www.tiktok.com/@a/video/1",
    },
    ("post", "/api/v1/experiments"): {
        "name": "e",
        "project_id": "{project_id}",
        "variants": [{"label": "a", "clip_id": "{clip_id}"}, {"label": "b", "clip_id": "{clip_id}"}],
    },
    ("post", "/api/v1/publish/tiktok"): {"clip_id": "{clip_id}"},
    ("post", "/api/v1/publish/youtube"): {"clip_id": "{clip_id}"},
    ("put", "/api/v1/publish-config"): {"hashtags": ["a"]},
    ("patch", "/api/v1/clips/{clip_id}"): {"caption_text": "hello"},
    ("post", "/api/v1/ads/directions"): {
        "ad_account_id": str(uuid.UUID(int=1)),
        "name": "d",
        "platform": "tiktok",
        "objective": "lead_generation",
        "daily_budget_minor": 500_000,
        "adgroup_mode": "create_new",
    },
    ("post", "/api/v1/ads/launches"): {"direction_id": str(uuid.UUID(int=1))},
    ("post", "/api/v1/ads/actions"): {"ad_account_id": str(uuid.UUID(int=1)), "kind": "pause_campaign"},
    ("post", "/api/v1/ads/creatives"): {"ad_account_id": str(uuid.UUID(int=1)), "clip_id": "{clip_id}", "name": "c"},
    ("post", "/api/v1/monitoring/engagement/refresh"): {"force": False},
    ("post", "/api/v1/jobs/diagnostics"): {"sleep_s": 0},
}


_OPERATIONS: dict[str, Any] = {}


async def _operations(client: Any) -> tuple[list[tuple[str, str, list[str]]], list[tuple[str, str, list[str]]]]:
    """From the served OpenAPI document: (write operations with their body fields, read
    operations with their query parameters)."""
    if not _OPERATIONS:
        document = (await client.get("/schema/openapi.json")).json()
        schemas = document["components"]["schemas"]
        writes, reads = [], []
        for path, item in sorted(document["paths"].items()):
            if SKIP_PATHS.match(path):
                continue
            for method, operation in item.items():
                body = (operation.get("requestBody") or {}).get("content", {}).get("application/json")
                if body is not None:
                    ref = body["schema"].get("$ref", "")
                    fields = sorted(schemas.get(ref.rsplit("/", 1)[-1], {}).get("properties", {}))
                    writes.append((method, path, fields or ["body"]))
                query = [p["name"] for p in operation.get("parameters", []) if p.get("in") == "query"]
                if method == "get" and query:
                    reads.append((method, path, query))
        _OPERATIONS["writes"], _OPERATIONS["reads"] = writes, reads
    return _OPERATIONS["writes"], _OPERATIONS["reads"]


async def _row_counts(session: Any) -> dict[str, int]:
    from reelflow.storage.models import Base

    counts = {}
    for table in Base.metadata.sorted_tables:
        if table.name in ("audit_log", "job_events"):  # append-only logs of attempts, not state
            continue
        counts[table.name] = int((await session.execute(text(f'SELECT count(*) FROM "{table.name}"'))).scalar_one())
    await session.rollback()
    return counts


def _id_for(name: str, path: str, ids: dict[str, str] | None) -> str:
    """A real id of the caller's workspace for a path or body placeholder, else a random one."""
    if ids:
        if name == "campaign_id":
            name = "campaign_id:clippers" if "/clippers/" in path else "campaign_id:discovery"
        if name in ids:
            return ids[name]
    return str(uuid.uuid4())


def _concrete(path: str, ids: dict[str, str] | None = None) -> str:
    return re.sub(r"\{([^}:]+)(?::[^}]+)?\}", lambda m: _id_for(m.group(1), path, ids), path)


def _valid_body(method: str, path: str, ids: dict[str, str] | None) -> dict[str, Any]:
    """The operation's valid body, placeholders such as `"{clip_id}"` (at any depth) replaced
    by real ids."""
    raw = json.dumps(VALID_BODIES.get((method, path), {}))
    raw = re.sub(r'"\{([\w:]+)\}"', lambda m: json.dumps((ids or {}).get(m.group(1), str(uuid.uuid4()))), raw)
    body: dict[str, Any] = json.loads(raw)
    return body


def _check(response: Any, where: str) -> None:
    assert response.status_code < 500, (where, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", (where, response.text[:300])
        problem = response.json()
        assert problem["status"] == response.status_code and problem["request_id"]
        if response.status_code in (400, 422):
            assert problem.get("errors") and problem["errors"][0]["field"], (where, problem)


@pytest.fixture
async def owner(signup: Any, mail_sink: Any) -> Any:
    return await signup()


@pytest.fixture
async def real_ids(client: Any, owner: Any, session: Any) -> dict[str, str]:
    """Real resources of the owner's workspace, by path parameter name."""
    from tests.publishing_support import make_clip

    ids: dict[str, str] = {}
    made = await client.post(
        "/api/v1/discovery/campaigns", json={"name": "hostile", "search_type": "keyword"}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    ids["campaign_id:discovery"] = made.json()["id"]
    made = await client.post(
        "/api/v1/clippers/campaigns",
        json={"name": "hostile", "budget_minor": 100_000, "rate_per_1000_minor": 100, "status": "active"},
        headers=owner.headers,
    )
    assert made.status_code == 201, made.text
    ids["campaign_id:clippers"] = made.json()["id"]
    made = await client.post(
        "/api/v1/monitoring/rules", json={"name": "hostile", "kind": "keyword", "values": ["a"]}, headers=owner.headers
    )
    assert made.status_code == 201, made.text
    ids["rule_id"] = made.json()["id"]
    project_id, clip_id = await make_clip(session, owner.workspace_id)
    ids["project_id"], ids["clip_id"] = str(project_id), str(clip_id)
    ids["user_id"] = owner.user_id
    return ids


@seed(20261203)
@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), value=st.sampled_from(HOSTILE_VALUES))
async def test_hostile_body_fields_never_5xx_and_store_nothing(
    client: Any, owner: Any, real_ids: dict[str, str], session: Any, data: Any, value: Any
) -> None:
    writes, _ = await _operations(client)
    method, path, fields = data.draw(st.sampled_from(writes), label="operation")
    field_index = data.draw(st.integers(min_value=0, max_value=50), label="field")
    field = fields[field_index % len(fields)]
    body: Any = _valid_body(method, path, real_ids)
    if field == "body":
        body = value
    else:
        body[field] = value
    before = await _row_counts(session)
    response = await client.request(
        method.upper(),
        _concrete(path, real_ids),
        headers={**owner.headers, "Content-Type": "application/json"},
        content=json.dumps(body).encode(),
    )
    _check(response, f"{method.upper()} {path} {field}={str(value)[:40]!r}")
    if response.status_code >= 400:
        assert await _row_counts(session) == before, f"{method.upper()} {path} stored rows although refused"


@seed(20261203)
@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), value=st.sampled_from(HOSTILE_STRINGS))
async def test_hostile_query_parameters_never_5xx(
    client: Any, owner: Any, real_ids: dict[str, str], data: Any, value: str
) -> None:
    _, reads = await _operations(client)
    _, path, parameters = data.draw(st.sampled_from(reads), label="operation")
    parameter_index = data.draw(st.integers(min_value=0, max_value=50), label="parameter")
    parameter = parameters[parameter_index % len(parameters)]
    response = await client.get(_concrete(path, real_ids), headers=owner.headers, params={parameter: value})
    _check(response, f"GET {path}?{parameter}={value[:40]!r}")


@pytest.mark.parametrize("raw", [b"[" * 5000, b'{"a":' * 3000, b"\xff\xfe", b"{" + b'"a":1,' * 100_000 + b"}"])
async def test_malformed_bodies_everywhere_are_4xx(client: Any, owner: Any, raw: bytes) -> None:
    writes, reads = await _operations(client)
    paths = {path for _, path, _ in writes}
    assert {"/api/v1/members", "/api/v1/monitoring/rules", "/api/v1/projects", "/api/v1/auth/tokens"} <= paths
    assert len(reads) >= 5
    for method, path, _ in writes:
        response = await client.request(
            method.upper(),
            _concrete(path),
            headers={**owner.headers, "Content-Type": "application/json"},
            content=raw,
        )
        assert 400 <= response.status_code < 500, (method, path, response.status_code, response.text[:200])
        assert response.headers["content-type"] == "application/problem+json"


WORST_QUERY = ["\u0000", "99999999999999999999999999", "-99999999999999999999999999", "1e400", "x" * 5000, "٣"]
WORST_BODY: list[Any] = ["\u0000", "x" * 20_000, 2**63, -1, None, ["\u0000"]]
NEWER_AREAS = ("/api/v1/ads/", "/api/v1/discovery/", "/api/v1/clippers/", "/api/v1/publish", "/api/v1/experiments")


async def _all_operations(client: Any) -> list[tuple[str, str, list[str], list[str]]]:
    """(method, path, query parameters, path parameters) of every operation."""
    document = (await client.get("/schema/openapi.json")).json()
    found = []
    for path, item in sorted(document["paths"].items()):
        if SKIP_PATHS.match(path):
            continue
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch", "delete"):
                continue
            parameters = operation.get("parameters", [])
            query = [p["name"] for p in parameters if p.get("in") == "query"]
            in_path = [p["name"] for p in parameters if p.get("in") == "path"]
            found.append((method, path, query, in_path))
    return found


async def test_every_query_parameter_with_the_worst_values(client: Any, owner: Any, real_ids: dict[str, str]) -> None:
    """Exhaustive over parameters of every operation, writes included (Hypothesis samples the
    rest): the values that used to reach the database or a decoder unchecked."""
    operations = await _all_operations(client)
    covered = {path for method, path, query, _ in operations if query}
    assert any(path.startswith(NEWER_AREAS) for path in covered)
    for method, path, query, _ in operations:
        if method == "delete":  # real ids: the query would not be what is at stake
            continue
        for parameter in query:
            for value in WORST_QUERY:
                response = await client.request(
                    method.upper(), _concrete(path, real_ids), headers=owner.headers, params={parameter: value}
                )
                _check(response, f"{method.upper()} {path}?{parameter}={value[:30]!r}")


async def test_every_body_field_of_every_write_with_the_worst_values(
    client: Any, owner: Any, real_ids: dict[str, str], session: Any
) -> None:
    """Exhaustive over body fields: every write operation of every area, each field in turn
    replaced by each of the worst values, the other fields valid (and the path ids real), so
    the value reaches the service's own checks; an operation that refused them all stored
    nothing."""
    writes, _ = await _operations(client)
    areas = {area for area in NEWER_AREAS if any(path.startswith(area) for _, path, _ in writes)}
    assert areas == set(NEWER_AREAS), f"write operations of {set(NEWER_AREAS) - areas} are missing"
    for method, path, fields in writes:
        base = _valid_body(method, path, real_ids)
        before = await _row_counts(session)
        all_refused = True
        for field in fields:
            for value in WORST_BODY:
                body: Any = value if field == "body" else {**base, field: value}
                response = await client.request(
                    method.upper(),
                    _concrete(path, real_ids),
                    headers={**owner.headers, "Content-Type": "application/json"},
                    content=json.dumps(body).encode(),
                )
                _check(response, f"{method.upper()} {path} {field}={str(value)[:30]!r}")
                all_refused = all_refused and response.status_code >= 400
        if all_refused:
            assert await _row_counts(session) == before, f"{method.upper()} {path} stored rows although refused"


HOSTILE_SEGMENTS = ["%00", "..", "x" * 3000, "٣", "-1", "99999999999999999999999999", "%F0%9F%92%A5", "a%2Fb", " "]


async def test_every_path_parameter_with_hostile_segments(client: Any, owner: Any) -> None:
    for method, path, _, in_path in await _all_operations(client):
        for parameter in in_path:
            for segment in HOSTILE_SEGMENTS:
                concrete = path.replace("{" + parameter + "}", segment)
                concrete = _concrete(concrete)
                response = await client.request(
                    method.upper(),
                    concrete,
                    headers={**owner.headers, "Content-Type": "application/json"},
                    content=b"{}" if method in ("post", "put", "patch") else None,
                )
                _check(response, f"{method.upper()} {path} {parameter}={segment[:30]!r}")


# --- the lead webhook: raw, signed bodies ------------------------------------------------------

LEADS = "/api/v1/webhooks/tiktok/leads"


def _lead() -> dict[str, Any]:
    import time

    return {
        "lead_id": "7300000000000000001",
        "advertiser_id": "7100000000000000001",
        "page_id": "7200000000000000001",
        "campaign_id": "1800000000000000001",
        "create_time": int(time.time()),
        "ttclid": "E.C.P.abc",
        "fields": {"full_name": "Jane Doe", "phone_number": "+7 701 234 5678", "email": "jane@example.com"},
    }


def _signed(raw: bytes) -> dict[str, str]:
    import time

    from reelflow.adapters.webhooks import sign_tiktok
    from reelflow.services.leads import webhook_secret
    from reelflow.settings import get_settings

    return {
        "content-type": "application/json",
        "x-tiktok-signature": sign_tiktok(webhook_secret(get_settings()), raw, int(time.time())),
    }


def _check_webhook(response: Any, where: str) -> None:
    assert response.status_code < 500, (where, response.status_code, response.text[:500])
    if response.status_code >= 400:
        assert response.headers["content-type"] == "application/problem+json", (where, response.text[:300])
        assert response.json()["status"] == response.status_code


@seed(20261203)
@settings(
    max_examples=80,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), value=st.sampled_from(HOSTILE_VALUES))
async def test_signed_lead_webhook_with_hostile_fields_never_5xx(
    client: Any, services: Any, data: Any, value: Any
) -> None:
    lead = _lead()
    field = data.draw(st.sampled_from([*lead, "fields.full_name", "fields.email", "fields.phone_number"]))
    if field.startswith("fields."):
        lead["fields"] = {**lead["fields"], field.split(".", 1)[1]: value}
    else:
        lead[field] = value
    lead["lead_id"] = lead["lead_id"] if field == "lead_id" else str(uuid.uuid4().int)[:19]
    raw = json.dumps(lead).encode()
    response = await client.post(LEADS, content=raw, headers=_signed(raw))
    _check_webhook(response, f"lead {field}={str(value)[:40]!r}")


@pytest.mark.parametrize(
    "raw",
    [b"", b"null", b"[]", b"1e400", b'"x"', b"[" * 5000, b'{"a":' * 3000, b"\xff\xfe", b'{"lead_id": "\\u0000"}'],
)
async def test_signed_lead_webhook_with_hostile_bodies_is_4xx(client: Any, services: Any, raw: bytes) -> None:
    response = await client.post(LEADS, content=raw, headers=_signed(raw))
    _check_webhook(response, f"lead body {raw[:30]!r}")
    assert response.status_code >= 400


@pytest.mark.parametrize(
    "signature",
    ["", "t=", "s=", "t=1", "t=99999999999999999999999999,s=ab", "t=٣,s=aa", "t=1,s=" + "z" * 5000, "t=1," * 2000],
)
async def test_lead_webhook_with_hostile_signatures_is_401(client: Any, services: Any, signature: str) -> None:
    raw = json.dumps(_lead()).encode()
    response = await client.post(
        LEADS, content=raw, headers={"content-type": "application/json", "x-tiktok-signature": signature.encode()}
    )
    _check_webhook(response, f"signature {signature[:30]!r}")
    assert response.status_code in (400, 401), response.text


async def test_lead_webhook_challenge_with_hostile_values(client: Any, services: Any) -> None:
    for value in [*HOSTILE_STRINGS, "x" * 300]:
        response = await client.get(LEADS, params={"challenge": value})
        _check_webhook(response, f"challenge={value[:30]!r}")
