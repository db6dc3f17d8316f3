"""Queries for job runs, their events and side-effect records (the job runtime's storage).

Every state change of a running job is *fenced*: it only applies while the run is still
`running` with the attempt number that the caller claimed, so a worker that lost its run
(presumed dead, then recovered elsewhere) can never overwrite the newer attempt.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.engine import CursorResult
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from reelflow.storage.models.base import utcnow
from reelflow.storage.models.runtime import OPEN_STATUSES, TERMINAL_STATUSES, JobEvent, JobRun, SideEffect

_JOB_RUNS = cast(Any, JobRun.__table__)

T = TypeVar("T")


@dataclass(frozen=True)
class Claimed:
    """What a worker needs to run one attempt of a run it has just claimed."""

    id: uuid.UUID
    name: str
    args: dict[str, Any]
    workspace_id: uuid.UUID | None
    attempt: int
    attempt_base: int
    policy: dict[str, Any]
    timeout_s: float
    step: int
    parent_id: uuid.UUID | None
    queue: str


@dataclass(frozen=True)
class Due:
    """A run to hand to Redis: its id, the RQ job id of this push, and its queue."""

    id: uuid.UUID
    job_id: str
    queue: str
    front: bool = False  # recovered and handed-back runs keep their place: the front of the queue


@dataclass(frozen=True)
class Pushed:
    """A runnable run as last handed to Redis (for the missing-in-Redis check)."""

    id: uuid.UUID
    job_id: str | None
    queue: str
    attempt: int
    pushed_at: datetime


class RuntimeRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    # --- runs ---------------------------------------------------------------------------
    async def insert_run(self, values: dict[str, Any]) -> JobRun | None:
        """Insert a run; None when an idempotency index already holds its key."""
        stmt = insert(JobRun).values(**values).on_conflict_do_nothing().returning(JobRun)
        result = await self.session.execute(stmt)
        return result.scalar_one_or_none()

    async def find_by_key(self, workspace_id: uuid.UUID | None, key: str, *, explicit: bool) -> JobRun | None:
        stmt = select(JobRun).where(
            JobRun.workspace_id.is_(None) if workspace_id is None else JobRun.workspace_id == workspace_id,
            JobRun.idempotency_key == key,
            JobRun.key_explicit.is_(explicit),
        )
        if not explicit:
            stmt = stmt.where(JobRun.status.in_(OPEN_STATUSES))
        result = await self.session.execute(stmt.limit(1))
        return result.scalar_one_or_none()

    async def get_run(self, run_id: uuid.UUID, workspace_id: uuid.UUID | None = None) -> JobRun | None:
        stmt = select(JobRun).where(JobRun.id == run_id)
        if workspace_id is not None:
            stmt = stmt.where(JobRun.workspace_id == workspace_id)
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def runs_by_ids(self, run_ids: Sequence[uuid.UUID]) -> Sequence[JobRun]:
        if not run_ids:
            return []
        return (await self.session.execute(select(JobRun).where(JobRun.id.in_(run_ids)))).scalars().all()

    async def lock_run(self, run_id: uuid.UUID) -> JobRun | None:
        stmt = select(JobRun).where(JobRun.id == run_id).with_for_update()
        return (await self.session.execute(stmt.execution_options(populate_existing=True))).scalar_one_or_none()

    async def list_runs(
        self,
        workspace_id: uuid.UUID,
        *,
        status: str | None = None,
        name: str | None = None,
        since: datetime | None = None,
        parent_id: uuid.UUID | None = None,
        before: tuple[datetime, uuid.UUID] | None = None,
        limit: int = 50,
    ) -> Sequence[JobRun]:
        """Newest first; `before` is the (created_at, id) of the last row of the previous page."""
        stmt = select(JobRun).where(JobRun.workspace_id == workspace_id)
        if status:
            stmt = stmt.where(JobRun.status == status)
        if name:
            stmt = stmt.where(JobRun.name == name)
        if since:
            stmt = stmt.where(JobRun.created_at >= since)
        if parent_id:
            stmt = stmt.where(JobRun.parent_id == parent_id)
        if before:
            created_at, run_id = before
            stmt = stmt.where(
                or_(JobRun.created_at < created_at, and_(JobRun.created_at == created_at, JobRun.id < run_id))
            )
        stmt = stmt.order_by(JobRun.created_at.desc(), JobRun.id.desc()).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def list_events(self, run_id: uuid.UUID, *, after: int | None = None, limit: int = 200) -> Sequence[JobEvent]:
        stmt = select(JobEvent).where(JobEvent.run_id == run_id)
        if after is not None:
            stmt = stmt.where(JobEvent.id > after)
        stmt = stmt.order_by(JobEvent.id).limit(limit)
        return (await self.session.execute(stmt)).scalars().all()

    async def add_event(
        self,
        run_id: uuid.UUID,
        type_: str,
        attempt: int,
        message: str | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        await self.session.execute(
            insert(JobEvent).values(run_id=run_id, type=type_, attempt=attempt, at=utcnow(), message=message, data=data)
        )

    # --- execution (fenced) ---------------------------------------------------------------
    async def claim(self, run_id: uuid.UUID, worker: str) -> Claimed | None:
        """queued/retrying → running, attempt + 1; None when another delivery won or it is not runnable."""
        now = utcnow()
        stmt = (
            update(JobRun)
            .where(JobRun.id == run_id, JobRun.status.in_(("queued", "retrying")))
            .values(
                status="running",
                attempt=JobRun.attempt + 1,
                started_at=now,
                heartbeat_at=now,
                worker=worker,
                updated_at=now,
            )
            .returning(
                JobRun.id,
                JobRun.name,
                JobRun.args,
                JobRun.workspace_id,
                JobRun.attempt,
                JobRun.attempt_base,
                JobRun.policy,
                JobRun.timeout_s,
                JobRun.step,
                JobRun.parent_id,
                JobRun.queue,
            )
        )
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            return None
        claimed = Claimed(*row)
        await self.add_event(run_id, "started", claimed.attempt, data={"worker": worker})
        return claimed

    async def heartbeat(self, run_id: uuid.UUID, attempt: int) -> tuple[bool, datetime | None]:
        """(still ours, cancel requested at)."""
        run = _JOB_RUNS.c  # a Core statement: the ORM's bulk-update bookkeeping cost more than the update
        stmt = (
            update(_JOB_RUNS)
            .where(run.id == run_id, run.status == "running", run.attempt == attempt)
            .values(heartbeat_at=utcnow())
            .returning(run.cancel_requested_at)
        )
        row = (await self.session.execute(stmt)).one_or_none()
        return (row is not None, row[0] if row else None)

    async def set_progress(self, run_id: uuid.UUID, attempt: int, pct: int, message: str | None) -> bool:
        run = _JOB_RUNS.c
        stmt = (
            update(_JOB_RUNS)
            .where(run.id == run_id, run.status == "running", run.attempt == attempt)
            .values(progress=pct, progress_message=message, heartbeat_at=utcnow())
            .returning(run.id)
        )
        owned = (await self.session.execute(stmt)).one_or_none() is not None
        if owned:
            await self.add_event(run_id, "progress", attempt, message, {"pct": pct})
        return owned

    async def transition(
        self,
        run_id: uuid.UUID,
        *,
        from_statuses: Sequence[str],
        attempt: int | None = None,
        **values: Any,
    ) -> JobRun | None:
        """Move a run out of `from_statuses` (and `attempt`, when fenced); None if it was not there."""
        stmt = update(JobRun).where(JobRun.id == run_id, JobRun.status.in_(from_statuses))
        if attempt is not None:
            stmt = stmt.where(JobRun.attempt == attempt)
        stmt = stmt.values(updated_at=utcnow(), **values).returning(JobRun)
        result = await self.session.execute(stmt.execution_options(populate_existing=True))
        return result.scalar_one_or_none()

    # --- workflows --------------------------------------------------------------------------
    async def children(self, parent_id: uuid.UUID, batch: int | None = None) -> Sequence[JobRun]:
        stmt = select(JobRun).where(JobRun.parent_id == parent_id)
        if batch is not None:
            stmt = stmt.where(JobRun.child_batch == batch)
        stmt = stmt.order_by(JobRun.child_batch, JobRun.child_index)
        return (await self.session.execute(stmt.execution_options(populate_existing=True))).scalars().all()

    async def open_descendants(self, run_id: uuid.UUID) -> Sequence[JobRun]:
        """Every open run below `run_id` (children, grandchildren, ...), locked, parents first."""
        tree = text(
            """
            WITH RECURSIVE tree(id, depth) AS (
                SELECT id, 1 FROM job_runs WHERE parent_id = :root
                UNION ALL
                SELECT r.id, t.depth + 1 FROM job_runs r JOIN tree t ON r.parent_id = t.id
            )
            SELECT id FROM tree ORDER BY depth
            """
        )
        ids = [row[0] for row in (await self.session.execute(tree, {"root": run_id})).all()]
        if not ids:
            return []
        stmt = (
            select(JobRun)
            .where(JobRun.id.in_(ids), JobRun.status.in_(OPEN_STATUSES))
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        runs = {run.id: run for run in (await self.session.execute(stmt)).scalars().all()}
        return [runs[i] for i in ids if i in runs]

    # --- scheduling and recovery ----------------------------------------------------------------
    async def take_due_retries(self, limit: int = 200) -> list[Due]:
        """Retries (and delayed starts) whose time has come and that no one has pushed yet; marks them pushed."""
        stmt = text(
            """
            UPDATE job_runs
            SET pushed_at = now(), rq_job_id = 'rf-' || replace(id::text, '-', '') || '-' || (attempt + 1)
            WHERE id IN (
                SELECT id FROM job_runs
                WHERE status IN ('queued', 'retrying') AND pushed_at IS NULL AND scheduled_at <= now()
                ORDER BY scheduled_at LIMIT :limit FOR UPDATE SKIP LOCKED
            )
            RETURNING id, rq_job_id, queue
            """
        )
        rows = (await self.session.execute(stmt, {"limit": limit})).all()
        return [Due(row[0], row[1], row[2]) for row in rows]

    async def next_due_at(self) -> datetime | None:
        """When the next waiting retry becomes due (None when there is none)."""
        stmt = select(func.min(JobRun.scheduled_at)).where(
            JobRun.status.in_(("queued", "retrying")), JobRun.pushed_at.is_(None)
        )
        return (await self.session.execute(stmt)).scalar_one_or_none()

    async def stale_running(self, older_than: timedelta, limit: int = 100) -> Sequence[JobRun]:
        """Running runs whose heartbeat is older than `older_than` (their worker died), locked."""
        stmt = (
            select(JobRun)
            .where(JobRun.status == "running", JobRun.heartbeat_at < utcnow() - older_than)
            .order_by(JobRun.heartbeat_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .execution_options(populate_existing=True)
        )
        return (await self.session.execute(stmt)).scalars().all()

    async def pushed_before(self, before: datetime, limit: int = 500) -> list[Pushed]:
        """Runnable runs handed to Redis before `before` (candidates for a missing-in-Redis check)."""
        stmt = (
            select(JobRun.id, JobRun.rq_job_id, JobRun.queue, JobRun.attempt, JobRun.pushed_at)
            .where(JobRun.status.in_(("queued", "retrying")), JobRun.pushed_at < before)
            .order_by(JobRun.pushed_at)
            .limit(limit)
        )
        return [Pushed(r[0], r[1], r[2], r[3], r[4] or before) for r in (await self.session.execute(stmt)).all()]

    async def mark_pushed(self, due: Due) -> bool:
        """Record a re-push (new RQ job id); False if the run is no longer waiting to run."""
        stmt = (
            update(JobRun)
            .where(JobRun.id == due.id, JobRun.status.in_(("queued", "retrying")))
            .values(pushed_at=utcnow(), rq_job_id=due.job_id)
            .returning(JobRun.id)
        )
        return (await self.session.execute(stmt)).one_or_none() is not None

    async def count_queued(self, queues: Sequence[str]) -> int:
        """Runs queued and pushed to Redis but not yet taken."""
        stmt = (
            select(func.count())
            .select_from(JobRun)
            .where(JobRun.status == "queued", JobRun.queue.in_(queues), JobRun.pushed_at.is_not(None))
        )
        return int((await self.session.execute(stmt)).scalar_one())

    async def count_open(self) -> int:
        stmt = select(func.count()).select_from(JobRun).where(JobRun.status.in_(OPEN_STATUSES))
        return int((await self.session.execute(stmt)).scalar_one())

    async def prune(self, older_than: datetime) -> int:
        """Delete finished top-level runs (children and events cascade) that ended before `older_than`."""
        stmt = delete(JobRun).where(
            JobRun.status.in_(TERMINAL_STATUSES), JobRun.finished_at < older_than, JobRun.parent_id.is_(None)
        )
        result = await self.session.execute(stmt)
        return int(cast("CursorResult[Any]", result).rowcount or 0)


# --- the hot path: one statement each for claim and success, on the worker's own connection ---------
_CLAIM = text(
    """
    WITH claimed AS (
        UPDATE job_runs
        SET status = 'running', attempt = attempt + 1, started_at = :now, heartbeat_at = :now,
            worker = :worker, updated_at = :now
        WHERE id = :id AND status IN ('queued', 'retrying')
        RETURNING id, name, args, workspace_id, attempt, attempt_base, policy, timeout_s, step, parent_id, queue
    ), event AS (
        INSERT INTO job_events (run_id, type, attempt, at, data)
        SELECT id, 'started', attempt, :now, CAST(:data AS JSONB) FROM claimed
    )
    SELECT * FROM claimed
    """
)
_SUCCEED = text(
    """
    WITH done AS (
        UPDATE job_runs
        SET status = 'succeeded', result = CAST(:result AS JSONB), progress = 100, error = NULL,
            finished_at = :now, updated_at = :now
        WHERE id = :id AND status = 'running' AND attempt = :attempt
        RETURNING id, attempt
    )
    INSERT INTO job_events (run_id, type, attempt, at) SELECT id, 'succeeded', attempt, :now FROM done
    RETURNING run_id
    """
)


async def relax_commits(conn: AsyncConnection) -> None:
    """`synchronous_commit = off` for this connection (the executor's, when the setting allows)."""
    await conn.execute(text("SET synchronous_commit = off"))


async def claim_on(conn: AsyncConnection, run_id: uuid.UUID, worker: str) -> Claimed | None:
    """queued/retrying → running (attempt + 1) and a `started` event, in one statement (autocommit `conn`)."""
    params = {"id": run_id, "now": utcnow(), "worker": worker, "data": json.dumps({"worker": worker})}
    row = (await conn.execute(_CLAIM, params)).one_or_none()
    return Claimed(*row) if row is not None else None


async def succeed_on(conn: AsyncConnection, run_id: uuid.UUID, attempt: int, result: Any) -> bool:
    """running → succeeded with `result` and a `succeeded` event (fenced by attempt; autocommit `conn`)."""
    params = {
        "id": run_id,
        "attempt": attempt,
        "now": utcnow(),
        "result": None if result is None else json.dumps(result),
    }
    row = (await conn.execute(_SUCCEED, params)).one_or_none()
    return row is not None


# --- side effects at most once ----------------------------------------------------------------
def _lock_key(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big", signed=True)


class SideEffectRepository:
    """The `side_effects` rows behind `ctx.once` (the protocol itself is `reelflow.queue.once`).

    Works on one connection that holds a session-level advisory lock on the key while an
    attempt decides and acts; a worker that dies releases it with its connection.
    """

    def __init__(self, conn: AsyncConnection) -> None:
        self.conn = conn
        self.session = AsyncSession(bind=conn, expire_on_commit=False)

    async def lock(self, key: str) -> None:
        await self.conn.execute(select(func.pg_advisory_lock(_lock_key(key))))
        await self.conn.commit()

    async def unlock(self, key: str) -> None:
        await self.conn.rollback()
        await self.conn.execute(select(func.pg_advisory_unlock(_lock_key(key))))
        await self.conn.commit()

    async def ensure(self, key: str, token: str, run_id: uuid.UUID | None, attempt: int) -> SideEffect:
        """The key's record, created `pending` if new (committed)."""
        await self.session.execute(
            insert(SideEffect)
            .values(key=key, token=token, status="pending", run_id=run_id, attempt=attempt)
            .on_conflict_do_nothing()
        )
        record = (await self.session.execute(select(SideEffect).where(SideEffect.key == key))).scalar_one()
        await self.session.commit()
        return record

    async def mark_acting(self, key: str, run_id: uuid.UUID | None, attempt: int) -> None:
        """Commit "about to act": from now on the effect may have happened."""
        await self.session.execute(
            update(SideEffect)
            .where(SideEffect.key == key)
            .values(acted_at=utcnow(), run_id=run_id, attempt=attempt, updated_at=utcnow())
        )
        await self.session.commit()

    async def clear_acting(self, key: str) -> None:
        await self.session.execute(update(SideEffect).where(SideEffect.key == key).values(acted_at=None))
        await self.session.commit()

    async def record_done(self, key: str, result: Any, run_id: uuid.UUID | None, attempt: int) -> None:
        await self.session.execute(
            update(SideEffect)
            .where(SideEffect.key == key)
            .values(status="done", result=result, run_id=run_id, attempt=attempt, updated_at=utcnow())
        )
        await self.session.commit()


async def get_side_effect(session: AsyncSession, key: str) -> SideEffect | None:
    return (await session.execute(select(SideEffect).where(SideEffect.key == key))).scalar_one_or_none()
