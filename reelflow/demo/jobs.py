"""Demo step: a job through the API, with its life as events (a Retryable failure, then success)."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reelflow.demo import Demo


async def _wait(demo: Demo, run_id: str, within_s: float = 60.0) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        job: dict[str, Any] = (await demo.client.get(f"/api/v1/jobs/{run_id}")).raise_for_status().json()
        if job["status"] in ("succeeded", "failed", "cancelled") or time.monotonic() > deadline:
            return job
        await asyncio.sleep(0.2)


async def run(demo: Demo) -> None:
    demo.section("Job runtime: a run, its retries and its events")
    key = f"demo-{uuid.uuid4().hex[:8]}"
    body = {"fail_times": 1, "sleep_s": 0.5}
    headers = {"Idempotency-Key": key}
    started = await demo.client.post("/api/v1/jobs/diagnostics", json=body, headers=headers)
    started.raise_for_status()
    run_id = started.json()["id"]
    demo.say(f"POST /jobs/diagnostics (Idempotency-Key {key}) → {started.status_code}, run {run_id}")
    replay = await demo.client.post("/api/v1/jobs/diagnostics", json=body, headers=headers)
    demo.say(
        f"same request again → {replay.status_code}, Idempotent-Replayed: {replay.headers.get('Idempotent-Replayed')}"
        f", same run: {replay.json()['id'] == run_id}"
    )
    conflict = await demo.client.post("/api/v1/jobs/diagnostics", json={"fail_times": 2}, headers=headers)
    demo.say(f"same key, other args → {conflict.status_code} {conflict.json()['title']}")

    job = await _wait(demo, run_id)
    events = (await demo.client.get(f"/api/v1/jobs/{run_id}/events")).raise_for_status().json()["items"]
    first_at = events[0]["at"] if events else None
    for event in events:
        offset = _seconds_between(first_at, event["at"])
        detail = event["message"] or ""
        if event["type"] == "retry_scheduled":
            detail = f"{detail} (retry in {event['data']['delay_s']} s)"
        demo.say(f"  +{offset:5.2f}s  attempt {event['attempt']}  {event['type']:<16} {detail}".rstrip())
    demo.say(f"run {job['status']} after {job['attempt']} attempts; result {job['result']}")
    if job["status"] != "succeeded":
        raise RuntimeError(f"the diagnostic job ended {job['status']}: {job['error']}")


def _seconds_between(start: str | None, end: str) -> float:
    from datetime import datetime

    if start is None:
        return 0.0
    return (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()
