"""Queries of the ended-runs reconciliation: rows still open (an autopilot execution
`running`, a conversion event `queued`/`sending`) whose runtime run has ended for good
(`failed` or `cancelled`) without the job recording it, and the guarded update that closes one."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from reelflow.storage.models.autopilot import AutopilotExecution
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.leads import LeadEvent
from reelflow.storage.models.runtime import JobRun

ENDED = ("failed", "cancelled")
OPEN_EVENT_STATUSES = ("queued", "sending")


@dataclass(frozen=True, slots=True)
class Ended:
    """An open row and how its run ended."""

    id: uuid.UUID
    run_id: uuid.UUID
    run_status: str
    run_error: dict[str, Any] | None
    run_finished_at: datetime | None
    started_at: datetime | None


class ReconcileRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- autopilot executions ---------------------------------------------------------------------

    async def ended_executions(self, limit: int) -> list[Ended]:
        """Executions still `running` whose run failed or was cancelled."""
        e = AutopilotExecution
        rows = await self.session.execute(
            select(e.id, JobRun.id, JobRun.status, JobRun.error, JobRun.finished_at, e.started_at)
            .join(JobRun, JobRun.id == e.run_id)
            .where(e.status == "running", JobRun.status.in_(ENDED))
            .order_by(e.started_at)
            .limit(limit)
        )
        return [Ended(*row) for row in rows.tuples()]

    async def fail_execution(
        self, execution_id: uuid.UUID, error: str, *, finished_at: datetime, duration_ms: int
    ) -> bool:
        """Close one execution as `failed` (only if it is still `running`), its error appended."""
        e = AutopilotExecution
        result = await self.session.execute(
            update(e)
            .where(e.id == execution_id, e.status == "running")
            .values(
                status="failed",
                errors=e.errors.op("||")(func.jsonb_build_array(error)),
                finished_at=finished_at,
                duration_ms=duration_ms,
                updated_at=utcnow(),
            )
            .returning(e.id)
        )
        return result.scalar_one_or_none() is not None

    # --- conversion events ------------------------------------------------------------------------

    async def ended_events(self, limit: int) -> list[Ended]:
        """Conversion events still `queued` or `sending` whose run failed or was cancelled."""
        ev = LeadEvent
        rows = await self.session.execute(
            select(ev.id, JobRun.id, JobRun.status, JobRun.error, JobRun.finished_at, ev.started_at)
            .join(JobRun, JobRun.id == ev.run_id)
            .where(ev.status.in_(OPEN_EVENT_STATUSES), JobRun.status.in_(ENDED))
            .order_by(ev.created_at)
            .limit(limit)
        )
        return [Ended(*row) for row in rows.tuples()]

    async def fail_event(self, event_id: uuid.UUID, error: str) -> bool:
        """Close one conversion event as `failed` (only if it is still queued or sending)."""
        ev = LeadEvent
        result = await self.session.execute(
            update(ev)
            .where(ev.id == event_id, ev.status.in_(OPEN_EVENT_STATUSES))
            .values(status="failed", error=error, updated_at=utcnow())
            .returning(ev.id)
        )
        return result.scalar_one_or_none() is not None
