"""Workflows (fan-out/fan-in, child failure, parent cancel) and cancellation."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from sqlalchemy import select

from reelflow.queue import cancel_run, enqueue, run_inline
from reelflow.queue.executor import execute_run
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.runtime import JobEvent, JobRun
from tests.fixtures.runtime import wait_for_runs


async def _start(name: str, args: dict[str, Any], **kwargs: Any) -> JobRun:
    async with session_scope() as session:
        return (await enqueue(session, name, args, **kwargs)).run


async def _run(run_id: uuid.UUID) -> JobRun:
    async with session_scope() as session:
        return (await session.execute(select(JobRun).where(JobRun.id == run_id))).scalar_one()


async def _children(run_id: uuid.UUID) -> list[JobRun]:
    async with session_scope() as session:
        rows = await session.execute(
            select(JobRun).where(JobRun.parent_id == run_id).order_by(JobRun.child_batch, JobRun.child_index)
        )
        return list(rows.scalars())


async def _event_types(run_id: uuid.UUID) -> list[str]:
    async with session_scope() as session:
        rows = await session.execute(select(JobEvent.type).where(JobEvent.run_id == run_id).order_by(JobEvent.id))
        return list(rows.scalars())


@pytest.fixture
def fast_runtime(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = get_settings()
    monkeypatch.setattr(settings.runtime, "heartbeat_interval", 0.1)
    monkeypatch.setattr(settings.runtime, "cancel_grace", 0.5)


async def test_workflow_fans_out_and_in(run_jobs: Any) -> None:
    parent = await _start("runtime.fan_out", {"n": 4})
    await run_jobs()
    done = await _run(parent.id)
    assert done.status == "succeeded", done.error
    assert done.result == {"squares": [0, 1, 4, 9], "total": 14, "steps": 2}
    children = await _children(parent.id)
    assert [(c.child_batch, c.child_index, c.status) for c in children] == [
        (0, 0, "succeeded"),
        (0, 1, "succeeded"),
        (0, 2, "succeeded"),
        (0, 3, "succeeded"),
        (1, 0, "succeeded"),
    ]
    types = await _event_types(parent.id)
    assert types.count("waiting") == 2 and types.count("resumed") == 2 and types[-1] == "succeeded"


async def test_workflow_runs_inline_too(services: Any) -> None:
    assert await run_inline("runtime.fan_out", {"n": 3}) == {"squares": [0, 1, 4], "total": 5, "steps": 0}


async def test_child_failure_fails_the_parent(run_jobs: Any) -> None:
    parent = await _start("runtime.fan_out", {"n": 3, "fail_index": 1})
    await run_jobs()
    done = await _run(parent.id)
    assert done.status == "failed"
    assert done.error["type"] == "Permanent" and "runtime.fail_until" in done.error["message"]
    statuses = {c.child_index: c.status for c in await _children(parent.id)}
    assert statuses[1] == "failed"
    assert all(s in ("succeeded", "cancelled") for i, s in statuses.items() if i != 1)


async def test_cancelling_the_parent_cancels_the_children(run_jobs: Any) -> None:
    parent = await _start("runtime.fan_out", {"n": 3})
    assert await execute_run(parent.id) == "waiting"  # one attempt: children enqueued, parent parked
    assert len(await _children(parent.id)) == 3
    async with session_scope() as session:
        await cancel_run(session, parent.id)
    await run_jobs()
    assert (await _run(parent.id)).status == "cancelled"
    for child in await _children(parent.id):
        assert child.status == "cancelled" and child.attempt == 0  # never started


async def test_cancel_a_queued_run_never_starts(run_jobs: Any) -> None:
    run = await _start("runtime.noop", {})
    async with session_scope() as session:
        await cancel_run(session, run.id)
    await run_jobs()
    assert (await _run(run.id)).status == "cancelled"
    assert await _event_types(run.id) == ["queued", "cancelled"]


async def test_cancel_a_running_run_cooperatively(run_jobs: Any, fast_runtime: None) -> None:
    run = await _start("runtime.sleep", {"seconds": 20, "steps": 200})
    drained = asyncio.ensure_future(run_jobs())
    await wait_for_runs([run.id], statuses=("running",), timeout=10)
    async with session_scope() as session:
        await cancel_run(session, run.id)
    await asyncio.wait_for(drained, 10)
    done = await _run(run.id)
    assert done.status == "cancelled" and done.result["cancelled"] is True
    assert "cancel_requested" in await _event_types(run.id)


async def test_a_run_ignoring_cancel_is_stopped_after_the_grace(run_jobs: Any, fast_runtime: None) -> None:
    run = await _start("runtime.stubborn_sleep", {"seconds": 30})
    drained = asyncio.ensure_future(run_jobs())
    await wait_for_runs([run.id], statuses=("running",), timeout=10)
    async with session_scope() as session:
        await cancel_run(session, run.id)
    await asyncio.wait_for(drained, 10)
    done = await _run(run.id)
    assert done.status == "cancelled" and (done.finished_at - done.started_at).total_seconds() < 5
