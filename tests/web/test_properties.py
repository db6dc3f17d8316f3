"""Property-based hostility, driven by the app's own OpenAPI document: every write endpoint's
body fields and every query parameter get hostile values (Hypothesis draws which and where).

For every request: no 5xx; a 400/422 is problem+json naming the field or parameter at fault;
a refused request stores nothing.
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


def _concrete(path: str) -> str:
    return re.sub(r"\{[^}]+\}", lambda _: str(uuid.uuid4()), path)


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


@seed(20261203)
@settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data(), value=st.sampled_from(HOSTILE_VALUES))
async def test_hostile_body_fields_never_5xx_and_store_nothing(
    client: Any, owner: Any, session: Any, data: Any, value: Any
) -> None:
    writes, _ = await _operations(client)
    method, path, fields = data.draw(st.sampled_from(writes), label="operation")
    field_index = data.draw(st.integers(min_value=0, max_value=50), label="field")
    field = fields[field_index % len(fields)]
    body: Any = dict(VALID_BODIES.get((method, path), {}))
    if field == "body":
        body = value
    else:
        body[field] = value
    before = await _row_counts(session)
    response = await client.request(
        method.upper(),
        _concrete(path),
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
async def test_hostile_query_parameters_never_5xx(client: Any, owner: Any, data: Any, value: str) -> None:
    _, reads = await _operations(client)
    _, path, parameters = data.draw(st.sampled_from(reads), label="operation")
    parameter_index = data.draw(st.integers(min_value=0, max_value=50), label="parameter")
    parameter = parameters[parameter_index % len(parameters)]
    response = await client.get(_concrete(path), headers=owner.headers, params={parameter: value})
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


async def test_every_query_parameter_with_the_worst_values(client: Any, owner: Any) -> None:
    """Exhaustive over parameters (Hypothesis samples the rest): the values that used to reach
    the database or a decoder unchecked."""
    _, reads = await _operations(client)
    worst = ["\u0000", "99999999999999999999999999", "-99999999999999999999999999", "1e400", "x" * 5000, "٣"]
    for _, path, parameters in reads:
        for parameter in parameters:
            for value in worst:
                response = await client.get(_concrete(path), headers=owner.headers, params={parameter: value})
                _check(response, f"GET {path}?{parameter}={value[:30]!r}")
