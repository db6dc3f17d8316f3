"""`reelflow worker --queues high,default`: an RQ SimpleWorker running the runtime's jobs.

Jobs run in the worker process, on one long-lived event loop (see docs/runtime.md for
why, measured). A maintenance thread pushes due retries and, one worker at a time, runs
the recovery sweep. SIGTERM or SIGINT (Heroku's restart, Ctrl-C): the worker takes no new
job; the current job may finish within `runtime_shutdown_grace` (default 20 s); after that it
is cancelled at its next await (media work: its ffmpeg children killed, whisper stopped
between segments) and handed back to the queue without spending an attempt, at the front of
the queue; then the worker exits (well inside Heroku's 30 s). A second signal stops at once
(the recovery sweep hands the run back).

Redis outages: the worker never exits because Redis is away. When RQ's loop stops on a Redis
error (or cannot even register the worker at start), `run_worker` logs one line, waits for
Redis with backoff (`REELFLOW_OPS__REDIS_RETRY_*`), then starts a fresh RQ worker. Jobs keep
their state in Postgres (claims, heartbeats, results), so a job in hand finishes or is
retried from Postgres, and the recovery sweep re-pushes whatever Redis lost.
"""

from __future__ import annotations

import os
import signal
import socket
import threading
import time
import uuid
from types import FrameType

import redis
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested
from rq.timeouts import BaseDeathPenalty
from rq.worker import WorkerStatus

from reelflow.logs import configure_logging, get_logger
from reelflow.queue import entry, executor
from reelflow.queue.dispatch import get_redis
from reelflow.queue.maintenance import push_due_retries, repush_missing, start_maintenance_thread
from reelflow.settings import get_settings
from reelflow.tasks.registry import QUEUES, load_tasks

log = get_logger("reelflow.runtime")


class NoDeathPenalty(BaseDeathPenalty):
    """The runtime enforces timeouts inside the job (asyncio), not with SIGALRM."""

    def setup_death_penalty(self) -> None:
        return None

    def cancel_death_penalty(self) -> None:
        return None


class ReelflowWorker(SimpleWorker):
    death_penalty_class = NoDeathPenalty

    def _install_signal_handlers(self) -> None:
        if threading.current_thread() is threading.main_thread():
            super()._install_signal_handlers()  # type: ignore[no-untyped-call]  # rq's method is unannotated

    def request_stop(self, signum: int, frame: FrameType | None) -> None:
        # Tell running jobs: they get the shutdown grace, then are handed back.
        if executor.shutdown_requested_at is None:
            executor.shutdown_requested_at = time.monotonic()
        try:
            # A second signal: cold stop; the sweep recovers the run. (rq's method is unannotated.)
            super().request_stop(signum, frame)  # type: ignore[no-untyped-call]
        except (redis.ConnectionError, redis.TimeoutError):
            # RQ records the request in Redis, which is away: stop anyway. Busy: after the job
            # (the grace applies); idle: now.
            self._stop_requested = True
            if self.get_state() != WorkerStatus.BUSY:
                raise StopRequested() from None


def _check_queues(queues: list[str]) -> list[str]:
    unknown = [q for q in queues if q not in QUEUES]
    if unknown or not queues:
        raise SystemExit(f"unknown queues {unknown}; choose from {', '.join(QUEUES)}")
    return queues


def run_worker(queues: list[str], *, burst: bool = False) -> None:
    """Run a worker on `queues` (in priority order) until SIGTERM (or until empty, with burst)."""
    settings = get_settings()
    configure_logging(settings.log.level, settings.log.as_json, cache=settings.log.cache_loggers)
    load_tasks()
    connection = get_redis()
    queues = _check_queues(queues)
    name = f"reelflow-{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    _install_stop_handlers()
    thread, stop = start_maintenance_thread(name)
    log.info("runtime.worker_started", queues=queues, worker=name, burst=burst)
    try:
        rounds = 0
        while executor.shutdown_requested_at is None:
            rounds += 1
            try:
                worker = ReelflowWorker(
                    [Queue(q, connection=connection) for q in queues],
                    connection=connection,
                    name=name if rounds == 1 else f"{name}-{rounds}",
                )
                worker.work(burst=burst, logging_level="WARNING", with_scheduler=False)
                if burst or executor.shutdown_requested_at is not None:
                    break
            except StopRequested:
                break
            except (redis.ConnectionError, redis.TimeoutError, OSError):
                pass  # RQ's bookkeeping lost Redis (the job's outcome is in Postgres already)
            if not wait_for_redis(connection):
                break
    finally:
        stop.set()
        thread.join(timeout=10)
        entry.close_thread_loop()
        log.info("runtime.worker_stopped", worker=name)


def _install_stop_handlers() -> None:
    """Before (and between) RQ loops: SIGTERM/SIGINT only mark the stop; RQ installs its own
    handlers while it runs (ReelflowWorker.request_stop marks it too)."""
    if threading.current_thread() is not threading.main_thread():
        return

    def stop(signum: int, frame: FrameType | None) -> None:
        if executor.shutdown_requested_at is None:
            executor.shutdown_requested_at = time.monotonic()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)


def wait_for_redis(connection: redis.Redis) -> bool:
    """Block until Redis answers (True) or the worker is asked to stop (False); one log line
    when the outage is noticed and one when it ends."""
    ops = get_settings().ops
    delay = ops.redis_retry_initial_s
    started = time.monotonic()
    noticed = False
    while executor.shutdown_requested_at is None:
        try:
            connection.ping()
            if noticed:
                log.warning("runtime.redis_back", after_s=round(time.monotonic() - started, 1))
            else:
                time.sleep(delay)  # RQ stopped for another reason: do not spin
            return True
        except (redis.ConnectionError, redis.TimeoutError, OSError) as exc:
            if not noticed:
                noticed = True
                log.warning("runtime.redis_unreachable", error=f"{type(exc).__name__}: {exc}"[:200])
        except StopRequested:
            break
        try:
            time.sleep(delay)
        except StopRequested:
            break
        delay = min(ops.redis_retry_max_s, delay * 2)
    return False


def drain(queues: list[str] | None = None, *, horizon: float = 30.0, timeout: float = 120.0) -> int:
    """Run jobs in this thread until no queue has work, retries due within `horizon` s included.

    Blocking; for tests and scripts (`await asyncio.to_thread(drain)`). Returns the number of
    burst passes. Runs that wait on children are resumed in the same drain.
    """
    load_tasks()
    connection = get_redis()
    names = queues or list(QUEUES)
    worker = ReelflowWorker(
        [Queue(q, connection=connection) for q in names],
        connection=connection,
        name=f"reelflow-drain-{uuid.uuid4().hex[:8]}",
    )
    deadline = time.monotonic() + timeout
    passes = 0
    loop = entry._loop()
    try:
        while time.monotonic() < deadline:
            loop.run_until_complete(push_due_retries())
            worker.work(burst=True, logging_level="WARNING")
            passes += 1
            wait = loop.run_until_complete(_seconds_to_next_due())
            if wait is None or wait > horizon:
                if loop.run_until_complete(_runnable_left(names)) == 0:
                    return passes
                # Queued in Postgres but not in Redis (flushed, or a push still in flight).
                time.sleep(0.05)
                loop.run_until_complete(repush_missing(grace=0.5))
                continue
            time.sleep(min(max(wait, 0.0), max(0.0, deadline - time.monotonic())))
        raise TimeoutError(f"jobs still pending after {timeout} s")
    finally:
        entry.close_thread_loop()


async def _seconds_to_next_due() -> float | None:
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.base import utcnow
    from reelflow.storage.repositories.runtime import RuntimeRepository

    async with session_scope() as session:
        due_at = await RuntimeRepository(session).next_due_at()
    return None if due_at is None else (due_at - utcnow()).total_seconds()


async def _runnable_left(queues: list[str]) -> int:
    """Runs queued (pushed) but not yet taken: a burst that raced a push sees them next pass."""
    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.runtime import RuntimeRepository

    async with session_scope() as session:
        return await RuntimeRepository(session).count_queued(queues)
