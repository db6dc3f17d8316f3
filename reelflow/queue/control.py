"""Cancel and retry runs (used by the API and by operators)."""

from __future__ import annotations

import uuid

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.errors import Conflict, NotFound
from reelflow.queue.dispatch import push_after_commit
from reelflow.queue.executor import cancel_descendants, child_ended
from reelflow.queue.ids import rq_job_id
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.runtime import JobRun
from reelflow.storage.repositories.runtime import Due, RuntimeRepository


async def cancel_run(session: AsyncSession, run_id: uuid.UUID, *, workspace_id: uuid.UUID | None = None) -> JobRun:
    """Cancel a run in the caller's transaction.

    Queued, retrying or waiting runs are cancelled at once (a queued run never starts);
    a running one is asked to stop (`ctx.cancelled`) and is stopped after the cancel grace
    period if it does not. Its open children are cancelled too. Finished runs: 409.
    """
    repo = RuntimeRepository(session)
    run = await repo.get_run(run_id, workspace_id)
    if run is None or (workspace_id is not None and run.workspace_id != workspace_id):
        raise NotFound("no such job")
    parent = await repo.lock_run(run.parent_id) if run.parent_id else None
    run = await repo.lock_run(run_id)
    assert run is not None
    now = utcnow()
    if run.status in ("succeeded", "failed", "cancelled"):
        raise Conflict(f"the job has already {run.status}", job_status=run.status)
    if run.status == "running":
        if run.cancel_requested_at is None:
            run = await repo.transition(run.id, from_statuses=("running",), cancel_requested_at=now) or run
            await repo.add_event(run.id, "cancel_requested", run.attempt, "cancel requested")
        await cancel_descendants(session, run)
        return run
    cancelled = await repo.transition(run.id, from_statuses=(run.status,), status="cancelled", finished_at=now)
    assert cancelled is not None
    await repo.add_event(run.id, "cancelled", run.attempt, "cancelled before it ran" if run.attempt == 0 else None)
    await cancel_descendants(session, cancelled)
    if parent is not None:
        await child_ended(session, parent)
    return cancelled


async def retry_run(session: AsyncSession, run_id: uuid.UUID, *, workspace_id: uuid.UUID | None = None) -> JobRun:
    """Run a failed run again (a fresh retry budget, same run and key). Other states: 409."""
    repo = RuntimeRepository(session)
    run = await repo.get_run(run_id, workspace_id)
    if run is None or (workspace_id is not None and run.workspace_id != workspace_id):
        raise NotFound("no such job")
    now = utcnow()
    retried = await repo.transition(
        run.id,
        from_statuses=("failed",),
        status="queued",
        attempt_base=run.attempt,
        scheduled_at=now,
        pushed_at=now,
        finished_at=None,
        cancel_requested_at=None,
        progress=0,
        progress_message=None,
        rq_job_id=rq_job_id(run.id, run.attempt + 1),
    )
    if retried is None:
        raise Conflict(f"only failed jobs can be retried; this one is {run.status}", job_status=run.status)
    await repo.add_event(retried.id, "queued", retried.attempt, "retry requested", {"manual_retry": True})
    push_after_commit(session, [Due(retried.id, retried.rq_job_id or "", retried.queue)])
    return retried
