"""Hand runs to Redis (RQ) — only after the transaction that made them runnable commits.

A session collects pushes in `session.info`; an `after_commit` listener on the
session's sync session sends them in one pipeline, and `after_rollback` drops them. RQ
only ever sees the runtime's single entry point and a run id.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

import redis
from rq import Queue
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from reelflow.logs import get_logger
from reelflow.queue.ids import rq_job_id
from reelflow.settings import get_settings
from reelflow.storage.repositories.runtime import Due

__all__ = ["Due", "get_redis", "push_after_commit", "push_now", "rq_job_id"]

ENTRY_POINT = "reelflow.queue.entry.execute"
_PENDING = "reelflow_runtime_pushes"
log = get_logger(__name__)


@functools.cache
def _redis_for(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, health_check_interval=30)


def get_redis() -> redis.Redis:
    url = get_settings().redis.url
    if not url:
        raise RuntimeError("REDIS_URL is not set and no embedded Redis was started")
    return _redis_for(url)


def push_now(items: Iterable[Due], connection: redis.Redis | None = None) -> None:
    """Push runs to their RQ queues now, one pipeline per call."""
    by_queue: dict[str, list[Due]] = {}
    for item in items:
        by_queue.setdefault(item.queue, []).append(item)
    if not by_queue:
        return
    connection = connection or get_redis()
    with connection.pipeline() as pipe:
        for name, due in by_queue.items():
            queue = Queue(name, connection=connection)
            queue.enqueue_many(
                [
                    Queue.prepare_data(
                        ENTRY_POINT,
                        args=(str(d.id),),
                        job_id=d.job_id,
                        timeout=-1,  # the runtime enforces start-to-close timeouts itself
                        result_ttl=0,
                        failure_ttl=300,
                        description=f"run {d.id}",
                        at_front=d.front,
                    )
                    for d in due
                ],
                pipeline=pipe,
            )
        pipe.execute()


def push_after_commit(session: AsyncSession, items: Iterable[Due]) -> None:
    """Push `items` once `session` commits; forget them if it rolls back."""
    sync = session.sync_session
    pending: list[Due] | None = sync.info.get(_PENDING)
    if pending is None:
        pending = sync.info[_PENDING] = []
        event.listen(sync, "after_commit", _after_commit)
        event.listen(sync, "after_rollback", _after_rollback)
    pending.extend(items)


def _after_commit(sync: Session) -> None:
    pending: list[Due] = sync.info.get(_PENDING) or []
    if not pending:
        return
    items = list(pending)
    pending.clear()
    try:
        push_now(items)
    except redis.RedisError:
        # The runs are committed; the recovery sweep pushes runs missing from Redis.
        log.warning("runtime.push_failed", runs=len(items), exc_info=True)


def _after_rollback(sync: Session) -> None:
    pending = sync.info.get(_PENDING)
    if pending:
        pending.clear()
