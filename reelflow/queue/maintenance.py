"""Due retries, crash recovery and re-pushing runs that Redis lost.

Every worker runs `maintenance_loop` in a thread: it pushes due retries every
`runtime_scheduler_interval` (claims are row-locked, so workers never push one twice),
and at most one worker at a time (a Redis lock that expires after
`runtime_sweep_interval`) runs `sweep`: stale heartbeats → recovered, committed runs
missing from Redis → pushed again. No Prefect needed.
"""

from __future__ import annotations

import asyncio
import threading
from datetime import timedelta

import redis
from rq.job import Job

from reelflow.logs import get_logger
from reelflow.queue.dispatch import get_redis, push_after_commit, push_now, rq_job_id
from reelflow.queue.executor import cancel_descendants, child_ended
from reelflow.queue.submit import policy_from_json
from reelflow.settings import get_settings
from reelflow.storage.db import dispose_engine, session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.runtime import Due, RuntimeRepository

SWEEP_LOCK = "reelflow:runtime:sweep-lock"
log = get_logger("reelflow.runtime")


async def push_due_retries() -> int:
    """Push every retry whose delay has passed; returns how many."""
    async with session_scope() as session:
        due = await RuntimeRepository(session).take_due_retries()
        push_after_commit(session, due)
    return len(due)


async def recover_stale(heartbeat_timeout: float | None = None) -> int:
    """Runs whose worker stopped heartbeating: retry (event `recovered`), or fail when out of attempts."""
    timeout = heartbeat_timeout if heartbeat_timeout is not None else get_settings().runtime_heartbeat_timeout
    count = 0
    async with session_scope() as session:
        repo = RuntimeRepository(session)
        for run in await repo.stale_running(timedelta(seconds=timeout)):
            count += 1
            now = utcnow()
            message = f"worker {run.worker} stopped heartbeating (last at {run.heartbeat_at})"
            if run.cancel_requested_at is not None:
                await repo.transition(run.id, from_statuses=("running",), status="cancelled", finished_at=now)
                await repo.add_event(run.id, "cancelled", run.attempt, message)
                await cancel_descendants(session, run)
                parent = await repo.get_run(run.parent_id) if run.parent_id else None
                if parent is not None:
                    await child_ended(session, parent)
                continue
            policy = policy_from_json(run.policy)
            error = {"type": "WorkerLost", "message": message}
            if policy.allows_another(run.attempt - run.attempt_base):
                await repo.transition(
                    run.id,
                    from_statuses=("running",),
                    attempt=run.attempt,
                    status="retrying",
                    error=error,
                    scheduled_at=now,
                    pushed_at=now,
                )
                await repo.add_event(run.id, "recovered", run.attempt, message, {"reason": "heartbeat timeout"})
                push_after_commit(session, [Due(run.id, run.attempt + 1, run.queue)])
                log.warning("runtime.recovered", run_id=str(run.id), job=run.name, attempt=run.attempt)
            else:
                await repo.transition(run.id, from_statuses=("running",), status="failed", error=error, finished_at=now)
                await repo.add_event(run.id, "failed", run.attempt, message, error)
                parent = await repo.lock_run(run.parent_id) if run.parent_id else None
                if parent is not None:
                    await child_ended(session, parent)
    return count


async def repush_missing(grace: float | None = None, connection: redis.Redis | None = None) -> int:
    """Committed runnable runs whose RQ job is not in Redis (flushed, restarted, push lost): push again."""
    grace = grace if grace is not None else get_settings().runtime_missing_grace
    connection = connection or get_redis()
    async with session_scope() as session:
        candidates = await RuntimeRepository(session).pushed_before(utcnow() - timedelta(seconds=grace))
    if not candidates:
        return 0
    with connection.pipeline(transaction=False) as pipe:
        for due in candidates:
            pipe.hget(Job.key_for(rq_job_id(due.id, due.attempt)), "status")
        statuses = pipe.execute()
    missing: list[Due] = []
    for due, status in zip(candidates, statuses, strict=True):
        if status is None:
            missing.append(due)
        elif status.decode() in ("finished", "failed", "stopped", "canceled"):
            # The RQ job ended without the run moving on (its worker failed before claiming).
            connection.delete(Job.key_for(rq_job_id(due.id, due.attempt)))
            missing.append(due)
    if missing:
        async with session_scope() as session:
            await RuntimeRepository(session).mark_pushed([d.id for d in missing])
        push_now(missing, connection)
        log.warning("runtime.repushed", runs=len(missing))
    return len(missing)


async def sweep() -> dict[str, int]:
    """One recovery pass (any process may call it; workers call it under a Redis lock)."""
    return {"recovered": await recover_stale(), "repushed": await repush_missing()}


def try_sweep_lock(connection: redis.Redis, owner: str, seconds: float) -> bool:
    """At most one sweep per `seconds` across all workers."""
    return bool(connection.set(SWEEP_LOCK, owner, nx=True, px=max(1, int(seconds * 1000))))


async def maintenance_loop(stop: threading.Event, owner: str) -> None:
    settings = get_settings()
    connection = get_redis()
    try:
        while not stop.is_set():
            try:
                await push_due_retries()
                if try_sweep_lock(connection, owner, settings.runtime_sweep_interval):
                    await sweep()
            except Exception:
                log.warning("runtime.maintenance_failed", exc_info=True)
            await asyncio.to_thread(stop.wait, settings.runtime_scheduler_interval)
    finally:
        await dispose_engine()


def start_maintenance_thread(owner: str) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(maintenance_loop(stop, owner)), name="reelflow-maintenance", daemon=True
    )
    thread.start()
    return thread, stop
