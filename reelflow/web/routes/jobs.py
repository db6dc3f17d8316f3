"""Job runs: list, read, events, cancel, retry; and a diagnostic job to check the pipeline."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.services import runtime
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.jobs import idempotency_key, job_response
from reelflow.web.pagination import Page, check_limit, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.jobs import DiagnosticsIn, JobEventOut, JobOut, event_out, job_out

STARTERS = ("owner", "admin", "editor")


class JobsController(Controller):
    path = "/jobs"
    tags = ["jobs"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @get("")
    async def list_jobs(
        self,
        db_session: AsyncSession,
        principal: Principal,
        status: str | None = None,
        name: str | None = None,
        since: datetime | None = None,
        parent_id: uuid.UUID | None = None,
        cursor: str | None = None,
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[JobOut]:
        """The workspace's job runs, newest first; filter by status, task name, creation time or parent."""
        check_limit(limit, 200)
        rows = await runtime.list_runs(
            db_session,
            principal.workspace_id,
            status=status,
            name=name,
            since=since,
            parent_id=parent_id,
            before=decode_time_id_cursor(cursor),
            limit=limit + 1,
        )
        items, next_cursor = page_of(rows, limit, lambda run: encode_cursor(run.created_at, run.id))
        return Page(items=[job_out(run) for run in items], next_cursor=next_cursor)

    @get("/{run_id:uuid}")
    async def get_job(self, db_session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> JobOut:
        """One run: status, attempt, progress, result or error."""
        return job_out(await runtime.get_run(db_session, principal.workspace_id, run_id))

    @get("/{run_id:uuid}/events")
    async def list_events(
        self,
        db_session: AsyncSession,
        principal: Principal,
        run_id: uuid.UUID,
        after: int | None = None,
        limit: int = Parameter(default=200, ge=1, le=1000),
    ) -> Page[JobEventOut]:
        """The run's history, oldest first (`after` = the last event id seen, to follow it)."""
        check_limit(limit, 1000)
        rows = await runtime.list_events(db_session, principal.workspace_id, run_id, after=after, limit=limit + 1)
        items, next_cursor = page_of(rows, limit, lambda event: str(event.id))
        return Page(items=[event_out(e) for e in items], next_cursor=next_cursor)

    @post("/{run_id:uuid}/cancel", guards=[requires_role(*STARTERS)], status_code=202)
    async def cancel_job(self, db_session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> JobOut:
        """Cancel: a queued run never starts; a running one is asked to stop (then stopped). 409 if finished."""
        return job_out(await runtime.cancel(db_session, principal.workspace_id, run_id))

    @post("/{run_id:uuid}/retry", guards=[requires_role(*STARTERS)], status_code=202)
    async def retry_job(self, db_session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> JobOut:
        """Run a failed run again with a fresh retry budget. Other states: 409."""
        return job_out(await runtime.retry(db_session, principal.workspace_id, run_id))

    @post("/diagnostics", guards=[requires_role(*STARTERS)])
    async def diagnostics(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, data: DiagnosticsIn
    ) -> Response[JobOut]:
        """Start a diagnostic job (fails `fail_times` times, then succeeds) to check workers end to end."""
        result = await runtime.start_diagnostics(
            db_session,
            principal.workspace_id,
            fail_times=data.fail_times,
            sleep_s=data.sleep_s,
            key=idempotency_key(request),
        )
        return job_response(result)


route_handlers = [JobsController]
