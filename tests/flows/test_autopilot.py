"""The hourly `ads-autopilot` flow as a real Prefect flow run: one runtime job per due account."""

from __future__ import annotations

from typing import Any

from tests.web.test_autopilot import seeded_account


async def test_autopilot_flow_submits_one_run_per_due_account(
    prefect_harness: Any, client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    from reelflow.flows.ads import autopilot

    owner = await signup()
    await seeded_account(client, owner, sandbox, session, adgroups=1, autopilot_reports=True)
    first = await autopilot()
    again = await autopilot()
    assert len(first["runs"]) == 1 and again["runs"] == first["runs"]  # the same hour: the same run
    await run_jobs()
    executions = (await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()["items"]
    assert [e["trigger"] for e in executions] == ["schedule"]
