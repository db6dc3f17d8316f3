"""The publishing schedules: each flow run submits one runtime job keyed by its slot (a
second run in the same slot is the same job); both deployments are in prefect.yaml."""

from __future__ import annotations

from reelflow.flows.publishing import collect_metrics, refresh_tokens
from reelflow.flows.serve import load_deployments


def test_publishing_deployments_are_scheduled():
    entries = {e["name"]: e for e in load_deployments()}
    assert entries["accounts-refresh-tokens"]["schedules"][0]["cron"] == "5 * * * *"
    assert entries["experiments-collect-metrics"]["schedules"][0]["cron"] == "*/30 * * * *"


async def test_flows_submit_one_job_per_slot(prefect_harness, services, run_jobs, client):
    first = await collect_metrics()
    again = await collect_metrics()
    assert first["created"] is True and again["created"] is False and again["run_id"] == first["run_id"]
    refresh = await refresh_tokens()
    assert refresh["created"] is True
    await run_jobs()
    import uuid

    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.runtime import RuntimeRepository

    async with session_scope() as session:
        repo = RuntimeRepository(session)
        for run_id in (first["run_id"], refresh["run_id"]):
            run = await repo.get_run(uuid.UUID(run_id))
            assert run is not None and run.status == "succeeded", (run.name, run.error) if run else run_id
