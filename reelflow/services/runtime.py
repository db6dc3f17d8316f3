"""Runtime use cases: start a job for a workspace, read runs and their events, cancel,
retry, and wait for runs (the flows' side of "submit, then wait or report")."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.errors import InvalidInput, NotFound
from reelflow.logs import OutageLog
from reelflow.queue import EnqueueResult, cancel_run, enqueue, retry_run
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.runtime import RUN_STATUSES, JobEvent, JobRun
from reelflow.storage.repositories.runtime import RuntimeRepository

FINISHED = ("succeeded", "failed", "cancelled")
DIAGNOSE_TASK = "runtime.diagnose"


async def start_job(
    session: AsyncSession, workspace_id: uuid.UUID | None, name: str, args: dict[str, Any], *, key: str | None = None
) -> EnqueueResult:
    """Enqueue task `name` for the workspace (None: a system job) (pushed after the caller commits)."""
    return await enqueue(session, name, args, key=key, workspace_id=workspace_id)


async def start_diagnostics(
    session: AsyncSession, workspace_id: uuid.UUID, *, fail_times: int, sleep_s: float, key: str | None = None
) -> EnqueueResult:
    """A job that fails `fail_times` times, then succeeds: checks workers end to end."""
    return await start_job(
        session, workspace_id, DIAGNOSE_TASK, {"fail_times": fail_times, "sleep_s": sleep_s}, key=key
    )


async def list_runs(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    status: str | None,
    name: str | None,
    since: datetime | None,
    parent_id: uuid.UUID | None,
    before: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[JobRun]:
    if status is not None and status not in RUN_STATUSES:
        raise InvalidInput(f"must be one of {', '.join(RUN_STATUSES)}", field="status")
    return list(
        await RuntimeRepository(session).list_runs(
            workspace_id, status=status, name=name, since=since, parent_id=parent_id, before=before, limit=limit
        )
    )


async def get_run(session: AsyncSession, workspace_id: uuid.UUID, run_id: uuid.UUID) -> JobRun:
    run = await RuntimeRepository(session).get_run(run_id, workspace_id)
    if run is None:
        raise NotFound("no such job")
    return run


async def list_events(
    session: AsyncSession, workspace_id: uuid.UUID, run_id: uuid.UUID, *, after: int | None, limit: int
) -> list[JobEvent]:
    await get_run(session, workspace_id, run_id)
    return list(await RuntimeRepository(session).list_events(run_id, after=after, limit=limit))


async def cancel(session: AsyncSession, workspace_id: uuid.UUID, run_id: uuid.UUID) -> JobRun:
    return await cancel_run(session, run_id, workspace_id=workspace_id)


async def retry(session: AsyncSession, workspace_id: uuid.UUID, run_id: uuid.UUID) -> JobRun:
    return await retry_run(session, run_id, workspace_id=workspace_id)


async def wait_for_runs(
    run_ids: Sequence[uuid.UUID], *, timeout_s: float, poll_s: float = 0.5
) -> dict[uuid.UUID, JobRun]:
    """Poll Postgres until every run has finished or `timeout_s` passed; returns the runs as
    last read (unfinished ones included: the caller reports them as still running). Postgres
    going away meanwhile is waited out until the deadline (one log line per outage), so a
    flow does not fail because it could not look while its runs kept going."""
    from sqlalchemy.exc import DBAPIError
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    deadline = time.monotonic() + timeout_s
    runs: dict[uuid.UUID, JobRun] = {}
    outage = OutageLog("runtime.wait_for_runs.database")
    while True:
        try:
            async with session_scope() as session:
                found = await RuntimeRepository(session).runs_by_ids(list(run_ids))
        except (DBAPIError, PoolTimeout, OSError) as exc:
            if time.monotonic() >= deadline:
                raise
            outage.failed(exc)
            await asyncio.sleep(min(2.0, max(poll_s, deadline - time.monotonic())))
            continue
        outage.ok()
        runs = {run.id: run for run in found}
        if all(run.status in FINISHED for run in runs.values()) or time.monotonic() >= deadline:
            return runs
        await asyncio.sleep(poll_s)


async def prune_runs(keep_days: int | None = None) -> dict[str, int]:
    """Delete finished top-level runs (with their children and events) older than `keep_days`
    (default `settings.runtime.keep_days`)."""
    days = keep_days or get_settings().runtime.keep_days
    async with session_scope() as session:
        deleted = await RuntimeRepository(session).prune(utcnow() - timedelta(days=days))
    return {"deleted": deleted, "keep_days": days}
