"""Ads autopilot API: run it now for an ad account, and read its execution records and
reports (newest first, cursor-paginated, by platform and account). Workspace-scoped:
another workspace's ids are 404s."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import Parameter
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.domain.identity import EDITORS
from reelflow.services import autopilot as service
from reelflow.storage.repositories.identity import Principal
from reelflow.web.auth import requires_role
from reelflow.web.deps import provide_principal
from reelflow.web.jobs import idempotency_key, job_response
from reelflow.web.openapi import problems
from reelflow.web.pagination import Page, check_limit, decode_time_id_cursor, encode_cursor, page_of
from reelflow.web.schemas.autopilot import ExecutionOut, ReportOut, execution_out, report_out
from reelflow.web.schemas.jobs import JobOut

READERS = ("owner", "admin", "editor")


class AutopilotController(Controller):
    path = "/ads"
    tags = ["ads"]
    dependencies = {"principal": Provide(provide_principal, sync_to_thread=False)}

    @post("/accounts/{account_id:uuid}/autopilot/run", guards=[requires_role(*EDITORS)], responses=problems(404, 409))
    async def run(
        self, request: Request[Any, Any, Any], db_session: AsyncSession, principal: Principal, account_id: uuid.UUID
    ) -> Response[JobOut]:
        """Run the autopilot for this account now (the hourly job): 202 with the run (poll
        `/api/v1/jobs/{id}`; its result names the execution). Acts only with the account's
        `autopilot` on, else reports. Honours `Idempotency-Key` (a replay answers 200)."""
        return job_response(
            await service.start_run(db_session, principal.workspace_id, account_id, key=idempotency_key(request))
        )

    @get("/autopilot/executions", guards=[requires_role(*READERS)], responses=problems(400, 422))
    async def list_executions(
        self,
        db_session: AsyncSession,
        principal: Principal,
        platform: str | None = Parameter(default=None, max_length=20),
        ad_account_id: uuid.UUID | None = None,
        cursor: str | None = Parameter(default=None, max_length=1024),
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[ExecutionOut]:
        """Execution records, newest first; `platform` tiktok or facebook, `ad_account_id`."""
        check_limit(limit, 200)
        rows = await service.list_executions(
            db_session,
            principal.workspace_id,
            platform=platform,
            account_id=ad_account_id,
            after=decode_time_id_cursor(cursor),
            limit=limit + 1,
        )
        items, next_cursor = page_of(rows, limit, lambda e: encode_cursor(e.started_at, e.id))
        return Page(items=[execution_out(e) for e in items], next_cursor=next_cursor)

    @get("/autopilot/executions/{execution_id:uuid}", guards=[requires_role(*READERS)], responses=problems(404))
    async def get_execution(
        self, db_session: AsyncSession, principal: Principal, execution_id: uuid.UUID
    ) -> ExecutionOut:
        return execution_out(await service.get_execution(db_session, principal.workspace_id, execution_id))

    @get("/autopilot/reports", guards=[requires_role(*READERS)], responses=problems(400, 422))
    async def list_reports(
        self,
        db_session: AsyncSession,
        principal: Principal,
        platform: str | None = Parameter(default=None, max_length=20),
        ad_account_id: uuid.UUID | None = None,
        cursor: str | None = Parameter(default=None, max_length=1024),
        limit: int = Parameter(default=50, ge=1, le=200),
    ) -> Page[ReportOut]:
        """Reports (the text sent to Telegram, and whether it was), newest first; readable
        without Telegram configured."""
        check_limit(limit, 200)
        rows = await service.list_reports(
            db_session,
            principal.workspace_id,
            platform=platform,
            account_id=ad_account_id,
            after=decode_time_id_cursor(cursor),
            limit=limit + 1,
        )
        items, next_cursor = page_of(rows, limit, lambda r: encode_cursor(r.created_at, r.id))
        return Page(items=[report_out(r) for r in items], next_cursor=next_cursor)


route_handlers = [AutopilotController]
