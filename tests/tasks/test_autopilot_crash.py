"""A worker killed right after the autopilot's platform call (before the action is recorded):
the recovered run resumes the same execution and the sandbox sees each change once."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from tests.fixtures.runtime import wait_for_runs
from tests.web.test_ads import API
from tests.web.test_autopilot import changed_ids, seeded_account


async def test_worker_killed_after_the_platform_call_applies_each_action_once(
    client: Any, signup: Any, sandbox: Any, session: Any, worker_processes: Any
) -> None:
    owner = await signup()
    account, _ = await seeded_account(client, owner, sandbox, session, adgroups=2, autopilot=True)
    # The "after" read of the first action hangs (the state read before it passes), so the
    # worker can be killed between the status update and its record.
    await sandbox.fault(f"{API}/adgroup/get*", kind="timeout", delay=30, skip=1, times=1)
    response = await client.post(f"/api/v1/ads/accounts/{account['id']}/autopilot/run", headers=owner.headers)
    assert response.status_code == 202, response.text
    run_id = uuid.UUID(response.json()["id"])
    worker = worker_processes.start("high,default")
    deadline = time.monotonic() + 90
    while not await sandbox.requests(f"{API}/adgroup/status/update*", method="POST"):
        assert time.monotonic() < deadline, "the run never reached its first action"
        await asyncio.sleep(0.1)
    await asyncio.sleep(0.3)  # inside the hanging "after" read
    worker_processes.kill(worker)  # SIGKILL after the platform call, before the record
    await sandbox.clear_faults()
    worker_processes.start("high,default")
    statuses = await wait_for_runs([run_id], timeout=120)
    assert set(statuses.values()) == {"succeeded"}
    updates = changed_ids(await sandbox.requests(f"{API}/adgroup/status/update*", method="POST"))
    assert len(updates) == len(set(updates)) == 2  # two ad groups, each paused exactly once
    [execution] = (await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()["items"]
    assert [a["status"] for a in execution["applied"]] == ["succeeded", "succeeded"]
    events = (await client.get(f"/api/v1/jobs/{run_id}/events", headers=owner.headers)).json()
    assert "recovered" in [e["type"] for e in events["items"]]
