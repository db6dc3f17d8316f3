"""Enqueue, execution, retries, timeouts and idempotency against real Postgres, Redis and RQ."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from rq import Queue
from sqlalchemy import select

from reelflow.errors import Conflict
from reelflow.queue import RetryPolicy, enqueue
from reelflow.queue.dispatch import get_redis
from reelflow.storage.db import session_scope
from reelflow.storage.models.runtime import JobEvent, JobRun
from reelflow.tasks.registry import TaskContext, task

TINY = RetryPolicy(initial_interval=0.3, backoff_coefficient=2.0, max_interval=5.0, max_attempts=4, jitter=0.0)


@task("testruntime.always_fails", policy=TINY)
async def always_fails(ctx: TaskContext) -> None:
    raise RuntimeError(f"attempt {ctx.attempt}")


@task("testruntime.bad_value", policy=RetryPolicy(max_attempts=5, non_retryable=("ValueError",)))
async def bad_value(ctx: TaskContext) -> None:
    raise ValueError("never going to work")


@task("testruntime.slow", timeout=0.5, policy=RetryPolicy(max_attempts=1))
async def slow(ctx: TaskContext) -> None:
    await asyncio.sleep(5)


async def _start(name: str, args: dict[str, Any], **kwargs: Any) -> JobRun:
    async with session_scope() as session:
        return (await enqueue(session, name, args, **kwargs)).run


async def _run(run_id: uuid.UUID) -> JobRun:
    async with session_scope() as session:
        run = (await session.execute(select(JobRun).where(JobRun.id == run_id))).scalar_one()
        return run


async def _events(run_id: uuid.UUID) -> list[JobEvent]:
    async with session_scope() as session:
        rows = await session.execute(select(JobEvent).where(JobEvent.run_id == run_id).order_by(JobEvent.id))
        return list(rows.scalars())


def _rq_len(name: str = "default") -> int:
    return len(Queue(name, connection=get_redis()))


async def test_enqueue_runs_once_and_records_events(run_jobs: Any) -> None:
    run = await _start("runtime.noop", {"x": 1})
    assert run.status == "queued"
    assert _rq_len() == 1
    await run_jobs()
    done = await _run(run.id)
    assert done.status == "succeeded" and done.result == {"ok": True} and done.attempt == 1
    assert [e.type for e in await _events(run.id)] == ["queued", "started", "succeeded"]


async def test_rollback_drops_the_push(services: Any) -> None:
    async with session_scope() as session:
        await enqueue(session, "runtime.noop", {"x": 2})
        await session.flush()
        await session.rollback()
    assert _rq_len() == 0
    async with session_scope() as session:
        assert (await session.execute(select(JobRun))).first() is None


async def test_push_waits_for_commit(services: Any) -> None:
    async with session_scope() as session:
        await enqueue(session, "runtime.noop", {"x": 3})
        await session.flush()
        assert _rq_len() == 0  # not before commit
    assert _rq_len() == 1


async def test_backoff_schedule_is_honoured(run_jobs: Any) -> None:
    run = await _start("testruntime.always_fails", {})
    await run_jobs()
    done = await _run(run.id)
    assert done.status == "failed" and done.attempt == 4
    assert done.error == {"type": "RuntimeError", "message": "attempt 4"}
    events = await _events(run.id)
    retries = [e for e in events if e.type == "retry_scheduled"]
    assert [e.data["delay_s"] for e in retries] == [0.3, 0.6, 1.2]  # no jitter in this policy
    starts = [e.at for e in events if e.type == "started"]
    for retry, started in zip(retries, starts[1:], strict=True):
        retry_at = datetime.fromisoformat(retry.data["retry_at"])
        assert abs((retry_at - retry.at).total_seconds() - retry.data["delay_s"]) < 0.5
        # Never early; late by at most the due-retry poll (0.25 s) plus a loaded machine's delays.
        assert retry_at <= started < retry_at + timedelta(seconds=1.5)


async def test_non_retryable_fails_at_once(run_jobs: Any) -> None:
    run = await _start("testruntime.bad_value", {})
    await run_jobs()
    done = await _run(run.id)
    assert done.status == "failed" and done.attempt == 1 and done.error["type"] == "ValueError"


async def test_permanent_fails_at_once(run_jobs: Any) -> None:
    run = await _start("runtime.fail_until", {"succeed_on": 3, "kind": "permanent"})
    await run_jobs()
    done = await _run(run.id)
    assert done.status == "failed" and done.attempt == 1 and done.error["type"] == "Permanent"


async def test_retry_after_overrides_the_backoff(run_jobs: Any) -> None:
    run = await _start("runtime.fail_until", {"succeed_on": 2, "retry_after": 1.5})
    await run_jobs()
    done = await _run(run.id)
    assert done.status == "succeeded" and done.attempt == 2
    events = await _events(run.id)
    assert [e.type for e in events] == ["queued", "started", "retry_scheduled", "started", "succeeded"]
    assert events[2].data["delay_s"] == 1.5
    retry_at = datetime.fromisoformat(events[2].data["retry_at"])
    assert retry_at <= events[3].at < retry_at + timedelta(seconds=1.5)


async def test_start_to_close_timeout(run_jobs: Any) -> None:
    run = await _start("testruntime.slow", {})
    await run_jobs()
    done = await _run(run.id)
    assert done.status == "failed" and done.error["type"] == "StartToCloseTimeout"
    assert (done.finished_at - done.started_at).total_seconds() < 2


async def test_same_key_same_args_returns_the_run(services: Any) -> None:
    first = await _start("runtime.noop", {"a": 1}, key="k-1")
    async with session_scope() as session:
        again = await enqueue(session, "runtime.noop", {"a": 1}, key="k-1")
    assert again.created is False and again.run.id == first.id
    assert _rq_len() == 1
    with pytest.raises(Conflict):
        await _start("runtime.noop", {"a": 2}, key="k-1")


async def test_keys_are_per_workspace_and_derived_keys_only_dedupe_open_runs(run_jobs: Any) -> None:
    a = await _start("runtime.noop", {"a": 1})
    b = await _start("runtime.noop", {"a": 1})
    assert a.id == b.id  # derived key, first still open
    await run_jobs()
    c = await _start("runtime.noop", {"a": 1})
    assert c.id != a.id  # the earlier run finished: a periodic job may run again
    explicit = await _start("runtime.noop", {"a": 1}, key="same")
    await run_jobs()
    assert (await _start("runtime.noop", {"a": 1}, key="same")).id == explicit.id  # explicit: for good


async def test_twenty_concurrent_submissions_make_one_run(services: Any) -> None:
    async def submit() -> tuple[uuid.UUID, bool]:
        async with session_scope() as session:
            result = await enqueue(session, "runtime.noop", {"n": 20}, key="burst")
            await asyncio.sleep(0.05)  # hold the transaction open so the others really race it
            return result.run.id, result.created

    results = await asyncio.gather(*(submit() for _ in range(20)))
    assert len({run_id for run_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    async with session_scope() as session:
        assert len((await session.execute(select(JobRun))).all()) == 1
    assert _rq_len() == 1


async def test_a_duplicate_delivery_is_skipped(run_jobs: Any) -> None:
    from reelflow.queue.dispatch import push_now
    from reelflow.queue.ids import rq_job_id
    from reelflow.storage.repositories.runtime import Due

    run = await _start("runtime.noop", {"dup": 1})
    push_now([Due(run.id, rq_job_id(run.id, 1, "-again"), "default")])  # the same run, delivered twice
    assert _rq_len() == 2
    await run_jobs()
    done = await _run(run.id)
    assert done.status == "succeeded" and done.attempt == 1
    assert [e.type for e in await _events(run.id)] == ["queued", "started", "succeeded"]


async def test_progress_is_recorded_as_events(run_jobs: Any) -> None:
    run = await _start("runtime.sleep", {"seconds": 0.2, "steps": 4})
    await run_jobs()
    done = await _run(run.id)
    assert done.status == "succeeded" and done.progress == 100
    progress = [(e.data or {}).get("pct") for e in await _events(run.id) if e.type == "progress"]
    assert progress == [25, 50, 75, 100]
