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
import uuid
from datetime import timedelta

import redis
from rq.job import Job

from reelflow.logs import OutageLog, get_logger
from reelflow.queue.dispatch import get_redis, push_after_commit
from reelflow.queue.executor import cancel_descendants, child_ended
from reelflow.queue.ids import rq_job_id
from reelflow.queue.submit import policy_from_json
from reelflow.settings import get_settings
from reelflow.storage.db import dispose_engine, session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.runtime import Due, Pushed, RuntimeRepository

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
    timeout = heartbeat_timeout if heartbeat_timeout is not None else get_settings().runtime.heartbeat_timeout
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
                parent = await repo.lock_run(run.parent_id) if run.parent_id else None
                if parent is not None:
                    await child_ended(session, parent)
                continue
            policy = policy_from_json(run.policy)
            error = {"type": "WorkerLost", "message": message}
            if policy.allows_another(run.attempt - run.attempt_base):
                job_id = rq_job_id(run.id, run.attempt + 1)
                await repo.transition(
                    run.id,
                    from_statuses=("running",),
                    attempt=run.attempt,
                    status="retrying",
                    error=error,
                    scheduled_at=now,
                    pushed_at=now,
                    rq_job_id=job_id,
                )
                await repo.add_event(run.id, "recovered", run.attempt, message, {"reason": "heartbeat timeout"})
                push_after_commit(session, [Due(run.id, job_id, run.queue, front=True)])
                log.warning("runtime.recovered", run_id=str(run.id), job=run.name, attempt=run.attempt)
            else:
                await repo.transition(run.id, from_statuses=("running",), status="failed", error=error, finished_at=now)
                await repo.add_event(run.id, "failed", run.attempt, message, error)
                parent = await repo.lock_run(run.parent_id) if run.parent_id else None
                if parent is not None:
                    await child_ended(session, parent)
    return count


async def repush_missing(grace: float | None = None, connection: redis.Redis | None = None) -> int:
    """Committed runnable runs whose RQ job is gone (Redis flushed or restarted, a push lost, a worker
    killed between taking the job and claiming the run): push them again, under a new RQ job id."""
    settings = get_settings()
    grace = grace if grace is not None else settings.runtime.missing_grace
    connection = connection or get_redis()
    now = utcnow()
    async with session_scope() as session:
        candidates = await RuntimeRepository(session).pushed_before(now - timedelta(seconds=grace))
    if not candidates:
        return 0
    with connection.pipeline(transaction=False) as pipe:
        for run in candidates:
            pipe.hget(Job.key_for(run.job_id or ""), "status")
        statuses = pipe.execute()
    missing: list[Pushed] = []
    check_list: list[Pushed] = []
    long_ago = now - timedelta(seconds=grace + settings.runtime.heartbeat_timeout)
    for run, status in zip(candidates, statuses, strict=True):
        if status is None or status.decode() in ("finished", "failed", "stopped", "canceled"):
            missing.append(run)
        elif run.pushed_at < long_ago:
            check_list.append(run)  # is it still waiting in its queue, or taken by a worker that died?
    if check_list:
        with connection.pipeline(transaction=False) as pipe:
            for run in check_list:
                pipe.lpos(f"rq:queue:{run.queue}", run.job_id or "")
            positions = pipe.execute()
        missing += [run for run, position in zip(check_list, positions, strict=True) if position is None]
    if not missing:
        return 0
    pushes: list[Due] = []
    async with session_scope() as session:
        repo = RuntimeRepository(session)
        for run in missing:
            due = Due(run.id, rq_job_id(run.id, run.attempt + 1, f"-r{uuid.uuid4().hex[:6]}"), run.queue, front=True)
            if await repo.mark_pushed(due):
                pushes.append(due)
        push_after_commit(session, pushes)
    log.warning("runtime.repushed", runs=len(pushes))
    return len(pushes)


async def sweep() -> dict[str, int]:
    """One recovery pass (any process may call it; workers call it under a Redis lock)."""
    return {"recovered": await recover_stale(), "repushed": await repush_missing()}


def try_sweep_lock(connection: redis.Redis, owner: str, seconds: float) -> bool:
    """At most one sweep per `seconds` across all workers."""
    return bool(connection.set(SWEEP_LOCK, owner, nx=True, px=max(1, int(seconds * 1000))))


async def maintenance_loop(stop: threading.Event, owner: str) -> None:
    settings = get_settings()
    connection = get_redis()
    outage = OutageLog("runtime.maintenance", log)
    try:
        while not stop.is_set():
            try:
                await push_due_retries()
                if try_sweep_lock(connection, owner, settings.runtime.sweep_interval):
                    await sweep()
                outage.ok()
            except Exception as exc:  # noqa: BLE001 - Postgres or Redis away: retried next tick
                outage.failed(exc)
            await asyncio.to_thread(stop.wait, settings.runtime.scheduler_interval)
    finally:
        await dispose_engine()


def start_maintenance_thread(owner: str) -> tuple[threading.Thread, threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(
        target=lambda: asyncio.run(maintenance_loop(stop, owner)), name="reelflow-maintenance", daemon=True
    )
    thread.start()
    return thread, stop
