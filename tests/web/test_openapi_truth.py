"""The served OpenAPI document says what the handlers really answer (schemathesis checks the
same against a running server; these pin the mechanisms in `reelflow/web/openapi.py`)."""

from __future__ import annotations

from typing import Any


async def _document(client: Any) -> dict[str, Any]:
    response = await client.get("/schema/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def _content(document: dict[str, Any], path: str, method: str, status: str) -> set[str]:
    return set(document["paths"][path][method]["responses"][status].get("content") or {})


async def test_downloads_document_their_media_types(client: Any) -> None:
    document = await _document(client)
    assert _content(document, "/api/v1/clippers/ledger.csv", "get", "200") == {"text/csv"}
    for path in (
        "/api/v1/discovery/campaigns/{campaign_id}/creators",
        "/api/v1/discovery/campaigns/{campaign_id}/searches/{search_id}/creators",
    ):
        assert _content(document, path, "get", "200") == {"application/json", "text/csv"}
    assert _content(document, "/api/v1/projects/{project_id}/transcript", "get", "200") == {
        "application/json",
        "application/x-subrip",
        "text/vtt",
    }
    images = document["paths"]["/api/v1/discovery/images/{token}"]["get"]["responses"]
    assert {"image/jpeg", "image/png", "image/webp"} <= set(images["200"]["content"]) and "304" in images


async def test_every_success_status_a_handler_returns_is_documented(client: Any) -> None:
    document = await _document(client)
    for path, item in document["paths"].items():
        for method, operation in item.items():
            responses = operation.get("responses", {})
            if method in ("post", "put", "patch", "delete") and ({"201", "202"} & set(responses)):
                # a replay of any write sent with an Idempotency-Key answers 200
                assert "200" in responses, (method, path)
    two_ways = {
        ("/api/v1/ads/creatives", "post"),
        ("/api/v1/ads/actions", "post"),
        ("/api/v1/clips/{clip_id}", "patch"),
        ("/api/v1/discovery/campaigns/{campaign_id}/searches", "post"),
        ("/api/v1/publish/tiktok", "post"),
        ("/api/v1/publish/youtube", "post"),
        ("/api/v1/projects", "post"),
    }
    for path, method in two_ways:
        assert {"200", "202"} <= set(document["paths"][path][method]["responses"]), (method, path)
    assert "201" in document["paths"]["/api/v1/oauth/tiktok-business/callback"]["get"]["responses"]
    assert "401" in document["paths"]["/api/v1/webhooks/tiktok/leads"]["post"]["responses"]


async def test_operations_that_reach_a_platform_document_502(client: Any) -> None:
    document = await _document(client)
    for path, method in (
        ("/api/v1/publish/tiktok", "post"),
        ("/api/v1/accounts/{account_id}", "delete"),
        ("/api/v1/ads/accounts", "post"),
        ("/api/v1/oauth/{provider}/callback", "get"),
    ):
        assert "502" in document["paths"][path][method]["responses"], (method, path)
    assert "502" not in document["paths"]["/api/v1/me"]["get"]["responses"]


async def test_an_id_in_the_body_documents_404(client: Any) -> None:
    document = await _document(client)
    for path in ("/api/v1/ads/directions", "/api/v1/experiments", "/api/v1/publish/tiktok", "/api/v1/ads/launches"):
        assert "404" in document["paths"][path]["post"]["responses"], path
    assert "404" not in document["paths"]["/api/v1/monitoring/rules"]["post"]["responses"]


async def test_options_allow_lists_every_documented_method(client: Any) -> None:
    """RFC 9110 §10.2.1 and schemathesis' ST205: `Allow` on an OPTIONS answer names exactly the
    methods the document lists for the path (Litestar's own handler named only one route
    object's methods where a controller has several handlers on one path, e.g. /tokens)."""
    import re

    document = await _document(client)
    wrong = []
    for path, operations in document["paths"].items():
        documented = {method.upper() for method in operations if method in ("get", "post", "put", "patch", "delete")}
        url = re.sub(r"\{[^}]+\}", "00000000-0000-0000-0000-000000000000", path)
        response = await client.request("OPTIONS", url)
        allow = {m.strip() for m in response.headers.get("allow", "").split(",") if m.strip()} - {"HEAD", "OPTIONS"}
        if allow != documented:
            wrong.append((path, sorted(documented), response.headers.get("allow")))
    assert wrong == []
