"""The jobs API: starting work with Idempotency-Key, reading runs and events, cancel, retry, scoping."""

from __future__ import annotations

import uuid
from typing import Any

from reelflow.queue import enqueue
from reelflow.storage.db import session_scope


async def _enqueue_for(workspace_id: str, name: str, args: dict[str, Any]) -> str:
    async with session_scope() as session:
        result = await enqueue(session, name, args, workspace_id=uuid.UUID(workspace_id))
        return str(result.run.id)


async def test_start_job_idempotency_over_http(client: Any, signup: Any, run_jobs: Any) -> None:
    account = await signup()
    headers = {**account.headers, "Idempotency-Key": "diag-1"}
    first = await client.post("/api/v1/jobs/diagnostics", json={"fail_times": 1}, headers=headers)
    assert first.status_code == 202, first.text
    assert first.headers["location"] == f"/api/v1/jobs/{first.json()['id']}"
    replay = await client.post("/api/v1/jobs/diagnostics", json={"fail_times": 1}, headers=headers)
    assert replay.status_code == 200 and replay.headers["idempotent-replayed"] == "true"
    assert replay.json()["id"] == first.json()["id"]
    other = await client.post("/api/v1/jobs/diagnostics", json={"fail_times": 2}, headers=headers)
    assert other.status_code == 409 and other.headers["content-type"].startswith("application/problem+json")

    await run_jobs()
    run_id = first.json()["id"]
    job = (await client.get(f"/api/v1/jobs/{run_id}", headers=account.headers)).json()
    assert job["status"] == "succeeded" and job["attempt"] == 2 and job["progress"] == 100
    events = (await client.get(f"/api/v1/jobs/{run_id}/events", headers=account.headers)).json()["items"]
    types = [e["type"] for e in events]
    assert [t for t in types if t != "deduplicated"] == [
        "queued",
        "started",
        "retry_scheduled",
        "started",
        "succeeded",
    ]
    assert "traceback" not in (events[2]["data"] or {})


async def test_another_workspaces_run_is_404(client: Any, signup: Any) -> None:
    owner, stranger = await signup(), await signup()
    run_id = await _enqueue_for(owner.workspace_id, "runtime.noop", {})
    assert (await client.get(f"/api/v1/jobs/{run_id}", headers=owner.headers)).status_code == 200
    for path in ("", "/events"):
        assert (await client.get(f"/api/v1/jobs/{run_id}{path}", headers=stranger.headers)).status_code == 404
    for action in ("cancel", "retry"):
        response = await client.post(f"/api/v1/jobs/{run_id}/{action}", headers=stranger.headers)
        assert response.status_code == 404
    assert (await client.get("/api/v1/jobs", headers=stranger.headers)).json()["items"] == []


async def test_list_filters_and_pagination(client: Any, signup: Any, run_jobs: Any) -> None:
    account = await signup()
    ids = [await _enqueue_for(account.workspace_id, "runtime.noop", {"i": i}) for i in range(5)]
    failing = await _enqueue_for(account.workspace_id, "runtime.fail_until", {"succeed_on": 9, "kind": "permanent"})
    await run_jobs()
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 2, "name": "runtime.noop"}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get("/api/v1/jobs", params=params, headers=account.headers)).json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == list(reversed(ids))  # newest first, each once
    failed = (await client.get("/api/v1/jobs", params={"status": "failed"}, headers=account.headers)).json()
    assert [item["id"] for item in failed["items"]] == [failing]
    assert failed["items"][0]["error"]["type"] == "Permanent"
    later = (await client.get("/api/v1/jobs", params={"since": "2999-01-01T00:00:00Z"}, headers=account.headers)).json()
    assert later["items"] == []
    bad = await client.get("/api/v1/jobs", params={"status": "nope"}, headers=account.headers)
    assert bad.status_code == 422


async def test_cancel_and_retry_rules(client: Any, signup: Any, run_jobs: Any) -> None:
    account = await signup()
    queued = await _enqueue_for(account.workspace_id, "runtime.noop", {"q": 1})
    cancelled = await client.post(f"/api/v1/jobs/{queued}/cancel", headers=account.headers)
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "cancelled"
    again = await client.post(f"/api/v1/jobs/{queued}/cancel", headers=account.headers)
    assert again.status_code == 409
    assert (await client.post(f"/api/v1/jobs/{queued}/retry", headers=account.headers)).status_code == 409

    failing = await _enqueue_for(account.workspace_id, "runtime.fail_until", {"succeed_on": 2, "kind": "permanent"})
    await run_jobs()
    assert (await client.get(f"/api/v1/jobs/{failing}", headers=account.headers)).json()["status"] == "failed"
    retried = await client.post(f"/api/v1/jobs/{failing}/retry", headers=account.headers)
    assert retried.status_code == 202 and retried.json()["status"] == "queued"
    await run_jobs()
    job = (await client.get(f"/api/v1/jobs/{failing}", headers=account.headers)).json()
    assert job["status"] == "succeeded" and job["attempt"] == 2


async def test_unknown_or_malformed_ids(client: Any, signup: Any) -> None:
    account = await signup()
    assert (await client.get(f"/api/v1/jobs/{uuid.uuid4()}", headers=account.headers)).status_code == 404
    assert (await client.get("/api/v1/jobs/not-a-uuid", headers=account.headers)).status_code in (400, 404)
    assert (await client.get("/api/v1/jobs")).status_code == 401
