"""Pruning old runs (the task behind the Prefect deployment), and due retries without Prefect."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select, update

from reelflow.flows.runtime import prune_runs as prune_flow
from reelflow.queue import enqueue
from reelflow.queue.inline import InlineContext
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.runtime import JobEvent, JobRun
from reelflow.tasks.runtime import prune_runs


async def test_prune_deletes_old_finished_runs_with_events_and_children(run_jobs: Any) -> None:
    async with session_scope() as session:
        old = (await enqueue(session, "runtime.fan_out", {"n": 2})).run
        recent = (await enqueue(session, "runtime.noop", {})).run
        still_open = (await enqueue(session, "runtime.sleep", {"seconds": 1}, queue="media")).run
    await run_jobs(["default"])
    async with session_scope() as session:
        await session.execute(
            update(JobRun)
            .where(JobRun.id.in_([old.id, still_open.id]))
            .values(finished_at=utcnow() - timedelta(days=40))
        )
    result = await prune_runs(InlineContext(), keep_days=30)
    assert result == {"deleted": 1, "keep_days": 30}
    async with session_scope() as session:
        left = set((await session.execute(select(JobRun.id))).scalars())
        assert left == {recent.id, still_open.id}  # the old run's children went with it
        orphans = await session.execute(
            select(func.count()).select_from(JobEvent).where(JobEvent.run_id.not_in([recent.id, still_open.id]))
        )
        assert orphans.scalar_one() == 0


def test_prune_flow_is_a_prefect_flow() -> None:
    assert prune_flow.name == "runtime-prune-runs"
