"""The launch workflow survives a worker killed between the campaign and the ad group:
the resumed run re-uses the recorded campaign, and the sandbox shows exactly one."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from tests.fixtures.runtime import wait_for_runs
from tests.web.test_ads import API, connect, direction, inspect, kinds, upload


async def test_launch_killed_between_campaign_and_adgroup_resumes_without_a_second_campaign(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any, worker_processes: Any
) -> None:
    owner = await signup()
    [account] = await connect(client, owner, sandbox)
    d = await direction(client, owner, account["id"])
    creative = await upload(client, owner, account["id"], d["id"], "Crash test")
    await run_jobs()  # the creative is uploaded in-process first
    # The ad group request hangs (never handled) so the worker can be killed mid-launch.
    await sandbox.fault(f"{API}/adgroup/create*", kind="timeout", delay=30, times=1)
    response = await client.post(
        "/api/v1/ads/launches", headers=owner.headers, json={"direction_id": d["id"], "creative_ids": [creative["id"]]}
    )
    assert response.status_code == 202, response.text
    launch_id = response.json()["id"]
    worker = worker_processes.start("high,default")
    deadline = time.monotonic() + 60
    while not await sandbox.requests(f"{API}/adgroup/create*", method="POST"):
        assert time.monotonic() < deadline, "the launch never reached the ad group step"
        await asyncio.sleep(0.1)
    assert len(kinds(await inspect(sandbox), "campaign")) == 1
    worker_processes.kill(worker)  # SIGKILL between the campaign and the ad group
    await sandbox.clear_faults()
    worker_processes.start("high,default")
    run_id = (await client.get(f"/api/v1/ads/launches/{launch_id}", headers=owner.headers)).json()["run_id"]
    statuses = await wait_for_runs([uuid.UUID(run_id)], timeout=90)
    assert set(statuses.values()) == {"succeeded"}
    launch = (await client.get(f"/api/v1/ads/launches/{launch_id}", headers=owner.headers)).json()
    assert launch["status"] == "succeeded" and len(launch["ad_ids"]) == 1
    state = await inspect(sandbox)
    assert len(kinds(state, "campaign")) == 1
    assert len(kinds(state, "adgroup")) == 1 and len(kinds(state, "ad")) == 1
    assert len(await sandbox.requests(f"{API}/campaign/create*", method="POST")) == 1
    events = (await client.get(f"/api/v1/jobs/{run_id}/events", headers=owner.headers)).json()
    assert "recovered" in [e["type"] for e in events["items"]]
