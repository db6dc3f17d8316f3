"""Close records whose runtime job ended for good without closing them.

An autopilot execution is written `running` when its job starts and finished by the job
itself; a conversion event is `queued` when logged and `sending` while its job sends it. If
the job then ends for good without getting there (attempts used up on a retryable error, a
worker lost on its last attempt, cancelled), the record would stay open forever. This sweep
(the `ads-reconcile-runs` flow, every five minutes) finds such rows by their run id and
marks them `failed` with an error naming how the job ended. Each update is guarded by the
open status, so a job that does finish concurrently is never overwritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from reelflow.logs import get_logger
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.reconcile import Ended, ReconcileRepository

log = get_logger("reelflow.reconcile")


def ended_error(row: Ended) -> str:
    """'the job ended (failed: WorkerLost: ...) before it finished the run'."""
    error: dict[str, Any] = row.run_error or {}
    detail = ": ".join(str(error[k]) for k in ("type", "message") if error.get(k))
    how = f"{row.run_status}: {detail}" if detail else row.run_status
    return f"the job ended ({how}) before it finished (run {row.run_id})"[:2000]


def _duration_ms(started: datetime | None, finished: datetime) -> int:
    return max(0, int((finished - started).total_seconds() * 1000)) if started is not None else 0


async def reconcile_autopilot_executions(limit: int = 500) -> int:
    """Executions still `running` whose job failed or was cancelled → `failed`, with the error
    appended, `finished_at` the job's end and the duration from the execution's start."""
    async with session_scope() as session:
        repo = ReconcileRepository(session)
        closed = 0
        for row in await repo.ended_executions(limit):
            finished = row.run_finished_at or utcnow()
            closed += await repo.fail_execution(
                row.id, ended_error(row), finished_at=finished, duration_ms=_duration_ms(row.started_at, finished)
            )
    if closed:
        log.warning("autopilot.executions_reconciled", failed=closed)
    return closed


async def reconcile_conversion_events(limit: int = 500) -> int:
    """Conversion events still `queued` or `sending` whose job failed or was cancelled → `failed`."""
    async with session_scope() as session:
        repo = ReconcileRepository(session)
        closed = 0
        for row in await repo.ended_events(limit):
            closed += await repo.fail_event(row.id, ended_error(row))
    if closed:
        log.warning("leads.events_reconciled", failed=closed)
    return closed


async def reconcile_ended_runs(limit: int = 500) -> dict[str, int]:
    """One sweep: both reconciliations."""
    return {
        "executions": await reconcile_autopilot_executions(limit),
        "events": await reconcile_conversion_events(limit),
    }
