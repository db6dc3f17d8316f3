"""The ended-runs reconciliation (`reelflow.services.reconcile`, the `ads-reconcile-runs`
flow): an autopilot execution left `running` and a conversion event left `sending` by a real
job that ended for good (attempts used up; cancelled) are closed as `failed`, with an error
that says the job ended; open rows whose job is still alive are left alone."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from reelflow.domain.retry import RetryPolicy
from reelflow.flows.ads import reconcile_runs
from reelflow.queue import enqueue
from reelflow.services.reconcile import reconcile_autopilot_executions, reconcile_conversion_events
from reelflow.storage.db import session_scope
from reelflow.storage.models.autopilot import AutopilotExecution
from reelflow.storage.models.leads import LeadEvent
from reelflow.storage.models.runtime import JobRun
from tests.web.test_ads import API
from tests.web.test_autopilot import seeded_account
from tests.web.test_leads import PIXEL, _one_lead


async def _execution(run_id: uuid.UUID) -> AutopilotExecution:
    async with session_scope() as session:
        row = await session.scalar(select(AutopilotExecution).where(AutopilotExecution.run_id == run_id))
        assert row is not None
        session.expunge(row)
        return row


async def test_an_execution_whose_job_failed_for_good_is_failed_with_its_duration(
    client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    owner = await signup()
    account, _ = await seeded_account(client, owner, sandbox, session, adgroups=1, autopilot_reports=True)
    sandbox.set_settings(http__max_attempts=1)
    # Every ad group read fails with a 5xx (retryable): the run stops after writing its
    # execution, and with one attempt allowed the runtime fails it for good.
    await sandbox.fault(f"{API}/adgroup/get*", status=500, times=-1)
    started = await enqueue(
        session,
        "autopilot.run_account",
        {"account_id": account["id"], "trigger": "manual"},
        workspace_id=uuid.UUID(owner.workspace_id),
        policy=RetryPolicy(max_attempts=1),
    )
    await session.commit()
    await run_jobs()
    await sandbox.clear_faults()
    run = (await client.get(f"/api/v1/jobs/{started.run.id}", headers=owner.headers)).json()
    assert run["status"] == "failed", run
    assert (await _execution(started.run.id)).status == "running"  # what the sweep is for

    assert await reconcile_autopilot_executions() == 1
    execution = await _execution(started.run.id)
    assert execution.status == "failed" and execution.finished_at is not None
    assert execution.duration_ms is not None and execution.duration_ms >= 0
    assert any(e.startswith("the job ended (failed") for e in execution.errors), execution.errors
    shown = (await client.get(f"/api/v1/ads/autopilot/executions/{execution.id}", headers=owner.headers)).json()
    assert shown["status"] == "failed"
    assert await reconcile_autopilot_executions() == 0  # closed once


async def test_a_conversion_event_whose_job_was_cancelled_mid_retry_is_failed(
    client: Any, signup: Any, sandbox: Any, run_jobs: Any, prefect_harness: Any
) -> None:
    owner = await signup()
    sandbox.set_settings(http__max_attempts=1)  # let the runtime do the retrying
    _, _, lead = await _one_lead(client, owner, sandbox, run_jobs, pixel_id=PIXEL)
    await sandbox.fault("/tiktok-business/open_api/v1.3/event/track/", status=503, times=-1)
    url = f"/api/v1/ads/leads/{lead['id']}"
    assert (await client.patch(url, json={"status": "interested"}, headers=owner.headers)).status_code == 200
    await run_jobs(horizon=0)  # the first attempt only: it fails retryably, the event stays `sending`
    async with session_scope() as session:
        event = await session.scalar(select(LeadEvent))
        assert event is not None and event.status == "sending" and event.run_id is not None
        run_id = event.run_id
        run = await session.get(JobRun, run_id)
        assert run is not None and run.status == "retrying"
    assert await reconcile_conversion_events() == 0  # its job is still alive: left alone
    cancelled = await client.post(f"/api/v1/jobs/{run_id}/cancel", headers=owner.headers)
    assert cancelled.status_code == 202, cancelled.text
    await sandbox.clear_faults()

    assert await reconcile_runs() == {"executions": 0, "events": 1}  # the flow, as scheduled
    [shown] = (await client.get(url, headers=owner.headers)).json()["events"]
    assert shown["status"] == "failed" and shown["error"].startswith("the job ended (cancelled"), shown
    assert await reconcile_conversion_events() == 0
