"""Run one attempt of a run: claim it, run the task with heartbeats and a timeout, record the outcome.

Every write after the claim is fenced by (status = running, attempt), so an attempt that
lost its run — presumed dead and recovered elsewhere, or cancelled — changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import time
import traceback
import uuid
import weakref
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

import structlog
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from reelflow.domain.retry import RetryPolicy
from reelflow.errors import LimitExceeded, Permanent, ReelflowError, Retryable
from reelflow.logs import get_logger
from reelflow.queue.dispatch import push_after_commit
from reelflow.queue.ids import rq_job_id
from reelflow.queue.once import run_once
from reelflow.queue.submit import canonical_json, enqueue, policy_from_json
from reelflow.settings import get_settings
from reelflow.storage.db import get_engine, session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.runtime import JobRun
from reelflow.storage.repositories.runtime import (
    Claimed,
    Due,
    RuntimeRepository,
    claim_on,
    relax_commits,
    succeed_on,
)
from reelflow.tasks.registry import ChildSpec, Suspended, get_task

T = TypeVar("T")
log = get_logger("reelflow.runtime")
WORKER_NAME = f"{socket.gethostname()}:{os.getpid()}"

# Set by the worker on SIGTERM (monotonic time): running jobs get a grace period, then are handed back.
shutdown_requested_at: float | None = None


class RunContext:
    """The `TaskContext` of a job run by a worker."""

    def __init__(self, claimed: Claimed, children_results: list[Any]) -> None:
        self.run_id = claimed.id
        self.attempt = claimed.attempt
        self.workspace_id = claimed.workspace_id
        self.step = claimed.step
        self.children_results = children_results
        self._claimed = claimed
        self._cancel_requested = False
        self._batch_calls = 0
        self.pending_batch: tuple[int, list[ChildSpec]] | None = None
        self._last_heartbeat_event = 0.0
        self.lost = False

    @property
    def cancelled(self) -> bool:
        return self._cancel_requested

    async def heartbeat(self) -> None:
        """Record liveness now (and a `heartbeat` event at most every 10 s); refresh `cancelled`."""
        async with session_scope() as session:
            repo = RuntimeRepository(session)
            owned, cancel_at = await repo.heartbeat(self.run_id, self.attempt)
            now = time.monotonic()
            if owned and now - self._last_heartbeat_event >= 10:
                self._last_heartbeat_event = now
                await repo.add_event(self.run_id, "heartbeat", self.attempt)
        self._note_heartbeat(owned, cancel_at is not None)

    def _note_heartbeat(self, owned: bool, cancel_requested: bool) -> None:
        self.lost = self.lost or not owned
        self._cancel_requested = self._cancel_requested or cancel_requested or not owned

    async def progress(self, pct: int, message: str | None = None) -> None:
        pct = max(0, min(100, int(pct)))
        async with session_scope() as session:
            owned = await RuntimeRepository(session).set_progress(self.run_id, self.attempt, pct, message)
        self._note_heartbeat(owned, False)

    async def run_children(self, children: Sequence[ChildSpec]) -> list[Any]:
        children = _checked(children)
        if not children:
            return []
        batch = self._batch_calls
        self._batch_calls += 1
        if batch < self.step:  # replay: this batch finished before the task was resumed
            async with session_scope() as session:
                runs = await RuntimeRepository(session).children(self.run_id, batch)
            return [run.result for run in runs]
        self.pending_batch = (batch, children)
        raise Suspended

    async def start_children(self, children: Sequence[ChildSpec]) -> NoReturn:
        self.pending_batch = (self.step, _checked(children))
        raise Suspended

    async def once(
        self,
        key: str,
        act: Callable[[str], Awaitable[T]],
        *,
        lookup: Callable[[str], Awaitable[T | None]] | None = None,
    ) -> T:
        return await run_once(key, act, lookup=lookup, run_id=self.run_id, attempt=self.attempt)


def _checked(children: Sequence[ChildSpec]) -> list[ChildSpec]:
    """Known task names and JSON-safe args, checked in the parent (where a mistake fails it)."""
    for name, args in children:
        try:
            get_task(name)
        except KeyError:
            raise Permanent(f"no task registered as {name!r}") from None
        canonical_json(args)
    return list(children)


def classify(exc: BaseException, policy: RetryPolicy) -> tuple[bool, float | None]:
    """(retryable, delay override) for an error raised by a task."""
    name = type(exc).__name__
    if isinstance(exc, Permanent) or not policy.is_retryable(name):
        return False, None
    if isinstance(exc, Retryable | LimitExceeded):
        return True, exc.retry_after
    if isinstance(exc, ReelflowError) and 400 <= exc.status < 500:
        return False, None  # not found, invalid input, conflict...: retrying cannot fix them
    return True, None


def error_json(exc: BaseException, type_name: str | None = None) -> dict[str, Any]:
    return {"type": type_name or type(exc).__name__, "message": str(exc) or type(exc).__name__}


async def execute_run(run_id: uuid.UUID) -> str:
    """Run the next attempt of `run_id`; returns what happened (for logs and tests)."""
    conn = await _executor_connection()
    try:
        claimed = await claim_on(conn, run_id, WORKER_NAME)
    except Exception:
        await close_executor_connection()
        raise
    if claimed is None:
        log.debug("runtime.skip", run_id=str(run_id), reason="not runnable (duplicate delivery, cancelled, gone)")
        return "skipped"
    with structlog.contextvars.bound_contextvars(run_id=claimed.id, job=claimed.name, attempt=claimed.attempt):
        return await _run_claimed(claimed, conn)


# The claim and the common outcome (success) are single autocommit statements on one connection
# kept per event loop: no pool checkout, pre-ping, BEGIN or COMMIT round trips per job. They need
# not wait for the WAL flush either (unless runtime_synchronous_commit): a Postgres crash can lose
# the last few, which only makes a run execute again (delivery is at least once anyway). Side
# effects (`ctx.once`) and every other transition keep synchronous commits.
_connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, AsyncConnection] = weakref.WeakKeyDictionary()


async def _executor_connection() -> AsyncConnection:
    loop = asyncio.get_running_loop()
    conn = _connections.get(loop)
    if conn is None or conn.closed or conn.invalidated:
        conn = await get_engine().connect()
        conn = await conn.execution_options(isolation_level="AUTOCOMMIT")
        if not get_settings().runtime.synchronous_commit:
            await relax_commits(conn)
        _connections[loop] = conn
    return conn


async def close_executor_connection() -> None:
    """Drop this loop's executor connection (before disposing the engine, or after an error).

    Invalidated rather than returned, so its session settings never reach the pool.
    """
    conn = _connections.pop(asyncio.get_running_loop(), None)
    if conn is not None:
        with contextlib.suppress(Exception):
            await conn.invalidate()
            await conn.close()


async def _run_claimed(claimed: Claimed, conn: AsyncConnection) -> str:
    settings = get_settings()
    policy = policy_from_json(claimed.policy)
    children_results: list[Any] = []
    if claimed.step > 0:
        async with session_scope() as session:
            runs = await RuntimeRepository(session).children(claimed.id, claimed.step - 1)
        children_results = [run.result for run in runs]
    ctx = RunContext(claimed, children_results)
    log.info("runtime.started")
    stop_reason: list[str] = []
    timed_out = False

    async def body() -> Any:
        nonlocal timed_out
        definition = get_task(claimed.name)
        try:
            async with asyncio.timeout(claimed.timeout_s) as deadline:
                return await definition.fn(ctx, **claimed.args)
        except TimeoutError:
            if deadline.expired():
                timed_out = True
            raise

    inner = asyncio.ensure_future(body())
    watcher = asyncio.ensure_future(_watch(ctx, inner, stop_reason, settings.runtime.heartbeat_interval))
    try:
        result = await inner
    except Suspended:
        if ctx.pending_batch is None:  # raised by hand: treat as a bug in the task
            return await _fail(ctx, claimed, policy, RuntimeError("Suspended raised outside start_children"))
        return await _suspend(ctx, claimed)
    except asyncio.CancelledError:
        if not stop_reason:
            raise  # the worker itself is being torn down
        reason = stop_reason[0]
        if reason == "lost":
            log.warning("runtime.lost", detail="the run was recovered or cancelled elsewhere; result discarded")
            return "lost"
        if reason == "shutdown":
            return await _hand_back(claimed)
        return await _cancelled(claimed, "stopped after the cancel grace period")
    except KeyError as exc:
        if str(exc).startswith("'no task registered"):
            return await _fail(ctx, claimed, policy, Permanent(f"no task registered as {claimed.name!r}"))
        return await _fail(ctx, claimed, policy, exc)
    except TimeoutError as exc:
        if timed_out:
            timeout_error = TimeoutError(f"start-to-close timeout of {claimed.timeout_s:g} s exceeded")
            return await _fail(ctx, claimed, policy, timeout_error, type_name="StartToCloseTimeout")
        return await _fail(ctx, claimed, policy, exc)
    except Exception as exc:  # noqa: BLE001 - every task error is recorded on the run
        if shutdown_requested_at is not None and classify(exc, policy)[0] and not ctx.cancelled:
            # The worker is stopping (a deploy): a transient error now — typically a child
            # process killed by the same SIGTERM — hands the run back without spending an attempt.
            log.info("runtime.error_during_shutdown", error=type(exc).__name__)
            return await _hand_back(claimed)
        return await _fail(ctx, claimed, policy, exc)
    finally:
        watcher.cancel()
    return await _succeed(ctx, claimed, result, conn)


async def _watch(ctx: RunContext, inner: asyncio.Future[Any], stop_reason: list[str], interval: float) -> None:
    """Heartbeat, and stop the task when cancelled (after a grace), lost, or at worker shutdown."""
    settings = get_settings()
    cancel_seen: float | None = None
    while not inner.done():
        await asyncio.sleep(interval)
        try:
            await ctx.heartbeat()
        except Exception:
            log.warning("runtime.heartbeat_failed", exc_info=True)
            continue
        now = time.monotonic()
        if ctx.lost:
            stop_reason.append("lost")
        elif ctx.cancelled:
            cancel_seen = cancel_seen or now
            if now - cancel_seen >= settings.runtime.cancel_grace:
                stop_reason.append("cancelled")
        elif shutdown_requested_at is not None and now - shutdown_requested_at >= settings.runtime.shutdown_grace:
            stop_reason.append("shutdown")
        if stop_reason:
            inner.cancel()
            return


async def _succeed(ctx: RunContext, claimed: Claimed, result: Any, conn: AsyncConnection) -> str:
    try:
        canonical_json({"result": result})
    except ReelflowError:
        return await _fail(ctx, claimed, RetryPolicy(max_attempts=1), Permanent("the task's result is not JSON-safe"))
    if claimed.parent_id is None and not ctx.cancelled:
        try:
            owned = await succeed_on(conn, claimed.id, claimed.attempt, result)
        except Exception:
            await close_executor_connection()
            raise
        if not owned:
            return "lost"
        log.info("runtime.succeeded")
        return "succeeded"
    if ctx.cancelled and not ctx.lost:
        # The task saw `ctx.cancelled` and returned early: it stopped because it was asked to.
        async with session_scope() as session:
            return await _cancelled_in(session, claimed, "stopped on request", result=result)
    async with session_scope() as session:
        repo = RuntimeRepository(session)
        parent = await _lock_parent(repo, claimed.parent_id)
        run = await repo.transition(
            claimed.id,
            from_statuses=("running",),
            attempt=claimed.attempt,
            status="succeeded",
            result=result,
            progress=100,
            error=None,
            finished_at=utcnow(),
        )
        if run is None:
            return "lost"
        await repo.add_event(run.id, "succeeded", claimed.attempt)
        if parent is not None:
            await child_ended(session, parent)
    log.info("runtime.succeeded")
    return "succeeded"


async def _fail(
    ctx: RunContext, claimed: Claimed, policy: RetryPolicy, exc: BaseException, type_name: str | None = None
) -> str:
    error = error_json(exc, type_name)
    trace = "".join(traceback.format_exception(exc))[-4000:]
    retryable, delay_override = classify(exc, policy)
    if type_name and type_name in policy.non_retryable:
        retryable = False
    attempts = claimed.attempt - claimed.attempt_base
    async with session_scope() as session:
        repo = RuntimeRepository(session)
        if ctx.cancelled and not ctx.lost:
            return await _cancelled_in(session, claimed, "cancelled while failing")
        if retryable and policy.allows_another(attempts):
            delay = delay_override if delay_override is not None else policy.delay(attempts)
            delay = max(0.0, float(delay))
            job_id = rq_job_id(claimed.id, claimed.attempt + 1)
            retry_at = utcnow() + timedelta(seconds=delay)
            run = await repo.transition(
                claimed.id,
                from_statuses=("running",),
                attempt=claimed.attempt,
                status="retrying",
                error=error,
                scheduled_at=retry_at,
                pushed_at=utcnow() if delay == 0 else None,
                rq_job_id=job_id if delay == 0 else None,
            )
            if run is None:
                return "lost"
            data = {**error, "delay_s": round(delay, 3), "retry_at": retry_at.isoformat()}
            await repo.add_event(run.id, "retry_scheduled", claimed.attempt, error["message"], data)
            if delay == 0:
                push_after_commit(session, [Due(run.id, job_id, run.queue)])
            log.info("runtime.retry_scheduled", error=error["type"], delay_s=round(delay, 3))
            return "retrying"
        ended = await _end(session, claimed, "failed", error["message"], {**error, "traceback": trace}, error=error)
        if ended == "lost":
            return "lost"
    log.warning("runtime.failed", error=error["type"], message=error["message"])
    return "failed"


async def _cancelled(claimed: Claimed, message: str) -> str:
    async with session_scope() as session:
        return await _cancelled_in(session, claimed, message)


async def _cancelled_in(session: AsyncSession, claimed: Claimed, message: str, result: Any = None) -> str:
    if await _end(session, claimed, "cancelled", message, None, result=result) == "lost":
        return "lost"
    log.info("runtime.cancelled")
    return "cancelled"


async def _end(
    session: AsyncSession,
    claimed: Claimed,
    status: str,
    message: str,
    data: dict[str, Any] | None,
    **fields: Any,
) -> str:
    """Move a running attempt to a terminal status (failed or cancelled): its event, its
    descendants cancelled, its parent told. Returns "lost" when the attempt no longer owns
    the run (it was recovered elsewhere) and nothing was changed."""
    repo = RuntimeRepository(session)
    parent = await _lock_parent(repo, claimed.parent_id)
    run = await repo.transition(
        claimed.id,
        from_statuses=("running",),
        attempt=claimed.attempt,
        status=status,
        finished_at=utcnow(),
        **fields,
    )
    if run is None:
        return "lost"
    await repo.add_event(run.id, status, claimed.attempt, message, data)
    await cancel_descendants(session, run)
    if parent is not None:
        await child_ended(session, parent)
    return status


async def _hand_back(claimed: Claimed) -> str:
    """Worker shutting down: give the run back to the queue without spending an attempt."""
    async with session_scope() as session:
        repo = RuntimeRepository(session)
        run = await repo.transition(
            claimed.id,
            from_statuses=("running",),
            attempt=claimed.attempt,
            status="retrying",
            attempt_base=claimed.attempt_base + 1,
            scheduled_at=utcnow(),
            pushed_at=utcnow(),
            rq_job_id=rq_job_id(claimed.id, claimed.attempt + 1),
        )
        if run is None:
            return "lost"
        await repo.add_event(run.id, "recovered", claimed.attempt, "handed back by a worker shutting down")
        push_after_commit(session, [Due(run.id, run.rq_job_id or "", run.queue, front=True)])
    log.info("runtime.handed_back")
    return "handed_back"


async def _suspend(ctx: RunContext, claimed: Claimed) -> str:
    assert ctx.pending_batch is not None
    batch, children = ctx.pending_batch
    async with session_scope() as session:
        repo = RuntimeRepository(session)
        run = await repo.transition(
            claimed.id, from_statuses=("running",), attempt=claimed.attempt, status="waiting", step=batch
        )
        if run is None:
            return "lost"
        for index, (name, args) in enumerate(children):
            await enqueue(
                session,
                name,
                args,
                key=f"wf:{claimed.id.hex}:{batch}:{index}",
                workspace_id=claimed.workspace_id,
                parent=claimed.id,
                _child_position=(batch, index),
            )
        await repo.add_event(run.id, "waiting", claimed.attempt, data={"batch": batch, "children": len(children)})
        await child_ended(session, run)  # children that already ended (a replay after a crash)
    log.info("runtime.waiting", batch=batch, children=len(children))
    return "waiting"


async def _lock_parent(repo: RuntimeRepository, parent_id: uuid.UUID | None) -> JobRun | None:
    # Parent before child, in every transaction that touches both: no deadlocks.
    return await repo.lock_run(parent_id) if parent_id is not None else None


async def child_ended(session: AsyncSession, parent: JobRun) -> None:
    """A child of `parent` (locked) reached an end: resume, fail or keep waiting."""
    if parent.status != "waiting":
        return
    repo = RuntimeRepository(session)
    batch = parent.step
    children = await repo.children(parent.id, batch)
    for child in children:
        if child.status in ("failed", "cancelled"):
            error = child.error or {"type": "ChildCancelled", "message": "child run cancelled"}
            message = f"child {child.name} ({child.id}) {child.status}: {error.get('message')}"
            grandparent = await _lock_parent(repo, parent.parent_id)
            failed = await repo.transition(
                parent.id,
                from_statuses=("waiting",),
                status="failed",
                error={"type": error.get("type", "ChildFailed"), "message": message, "child_run_id": str(child.id)},
                finished_at=utcnow(),
            )
            if failed is None:
                return
            await repo.add_event(parent.id, "failed", parent.attempt, message, {"child_run_id": str(child.id)})
            await cancel_descendants(session, failed)
            if grandparent is not None:
                await child_ended(session, grandparent)
            return
    if any(child.status != "succeeded" for child in children):
        return
    resumed = await repo.transition(
        parent.id,
        from_statuses=("waiting",),
        status="queued",
        step=batch + 1,
        attempt_base=parent.attempt,  # each step gets its own retry budget
        scheduled_at=utcnow(),
        pushed_at=utcnow(),
        rq_job_id=rq_job_id(parent.id, parent.attempt + 1),
    )
    if resumed is None:
        return
    await repo.add_event(parent.id, "resumed", parent.attempt, data={"batch": batch, "children": len(children)})
    push_after_commit(session, [Due(parent.id, resumed.rq_job_id or "", parent.queue)])


async def cancel_descendants(session: AsyncSession, run: JobRun) -> None:
    """Cancel every open run below `run`: at once if not running, cooperatively if running."""
    repo = RuntimeRepository(session)
    now = utcnow()
    for child in await repo.open_descendants(run.id):
        if child.status == "running":
            if child.cancel_requested_at is None:
                await repo.transition(child.id, from_statuses=("running",), cancel_requested_at=now)
                await repo.add_event(child.id, "cancel_requested", child.attempt, f"parent {run.id} ended")
        else:
            await repo.transition(child.id, from_statuses=(child.status,), status="cancelled", finished_at=now)
            await repo.add_event(child.id, "cancelled", child.attempt, f"parent {run.id} ended")
