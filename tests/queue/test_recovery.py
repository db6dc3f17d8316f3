"""Crash recovery with real worker processes: SIGKILL mid-job, Redis flushed, side effects once."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from sqlalchemy import select

from reelflow.queue import enqueue
from reelflow.queue.dispatch import get_redis
from reelflow.queue.once import run_once
from reelflow.storage.db import session_scope
from reelflow.storage.models.runtime import JobEvent, JobRun
from reelflow.storage.repositories.runtime import get_side_effect
from reelflow.tasks.runtime import EFFECT_COUNTS_KEY, EFFECTS_KEY
from tests.fixtures.runtime import WorkerProcesses, wait_for_runs


async def _start(name: str, args: dict[str, Any]) -> JobRun:
    async with session_scope() as session:
        return (await enqueue(session, name, args)).run


async def _run(run_id: uuid.UUID) -> JobRun:
    async with session_scope() as session:
        return (await session.execute(select(JobRun).where(JobRun.id == run_id))).scalar_one()


async def _event_types(run_id: uuid.UUID) -> list[str]:
    async with session_scope() as session:
        rows = await session.execute(select(JobEvent.type).where(JobEvent.run_id == run_id).order_by(JobEvent.id))
        return list(rows.scalars())


async def test_sigkilled_worker_job_completes_once_after_recovery(worker_processes: WorkerProcesses) -> None:
    first = worker_processes.start()
    run = await _start("runtime.effect", {"key": "crash-1", "sleep_s": 4})
    await wait_for_runs([run.id], statuses=("running",), timeout=30)
    worker_processes.kill(first)  # SIGKILL the whole process group mid-job
    killed_at = asyncio.get_running_loop().time()
    worker_processes.start()
    await wait_for_runs([run.id], timeout=60)
    elapsed = asyncio.get_running_loop().time() - killed_at
    done = await _run(run.id)
    assert done.status == "succeeded" and done.attempt == 2, done.error
    types = await _event_types(run.id)
    assert types.count("recovered") == 1 and types.count("started") == 2
    assert int(get_redis().hget(EFFECT_COUNTS_KEY, "crash-1") or 0) == 1  # the side effect happened once
    assert elapsed < 20  # heartbeat timeout 2 s + sweep + the 4 s job


async def test_worker_killed_after_the_side_effect_and_before_recording_it(worker_processes: WorkerProcesses) -> None:
    """The case `ctx.once` exists for: the platform has the post, our record does not say so."""
    key, once_key = "crash-after-act", "runtime.effect:crash-after-act"
    first = worker_processes.start()
    # The post is made, then the job waits 60 s before `ctx.once` may record it: killed in between.
    run = await _start("runtime.effect", {"key": key, "pause_after_act_s": 60})
    redis = get_redis()
    deadline = asyncio.get_running_loop().time() + 30
    while int(redis.hget(EFFECT_COUNTS_KEY, key) or 0) < 1:  # the stand-in platform has the post
        assert asyncio.get_running_loop().time() < deadline, "the post was never made"
        await asyncio.sleep(0.05)
    async with session_scope() as session:
        pending = await get_side_effect(session, once_key)
    assert pending is not None and pending.status == "pending" and pending.acted_at is not None
    assert pending.result is None  # acted, not recorded
    worker_processes.kill(first)  # SIGKILL: the outcome is never recorded by this attempt

    worker_processes.start()
    await wait_for_runs([run.id], timeout=60)
    done = await _run(run.id)
    assert done.status == "succeeded" and done.attempt == 2, done.error
    assert int(redis.hget(EFFECT_COUNTS_KEY, key) or 0) == 1  # posted once, not again
    posted = redis.hget(EFFECTS_KEY, pending.token)
    assert posted is not None and done.result == {"key": key, "post_id": posted.decode()}  # found by lookup
    async with session_scope() as session:
        recorded = await get_side_effect(session, once_key)
    assert recorded is not None and recorded.status == "done" and recorded.result == posted.decode()
    assert recorded.attempt == 2  # recorded by the second attempt, from the platform's answer
    types = await _event_types(run.id)
    assert types.count("recovered") == 1 and types.count("started") == 2


async def test_runs_lost_by_redis_are_pushed_again(worker_processes: WorkerProcesses) -> None:
    async with session_scope() as session:
        runs = [(await enqueue(session, "runtime.noop", {"i": i})).run for i in range(20)]
    assert get_redis().llen("rq:queue:default") == 20
    get_redis().flushdb()  # Redis restarted empty / flushed with the runs queued
    worker_processes.start()
    statuses = await wait_for_runs([r.id for r in runs], timeout=60)
    assert set(statuses.values()) == {"succeeded"}


async def test_side_effect_after_a_crash_between_acting_and_recording(services: Any) -> None:
    posts: list[str] = []

    async def post_then_die(token: str) -> str:
        posts.append(token)
        raise SystemExit("worker died after the platform accepted the post")

    async def post(token: str) -> str:
        posts.append(token)
        return f"post-{len(posts)}"

    async def lookup(token: str) -> str | None:
        return "post-1" if token in posts else None

    try:
        await run_once("publish:1", post_then_die, lookup=lookup)
    except SystemExit:
        pass
    async with session_scope() as session:
        record = await get_side_effect(session, "publish:1")
        assert record is not None and record.status == "pending" and record.acted_at is not None
    assert await run_once("publish:1", post, lookup=lookup, attempt=2) == "post-1"
    assert await run_once("publish:1", post, lookup=lookup, attempt=3) == "post-1"
    assert len(posts) == 1  # never posted twice


async def test_lost_answer_is_looked_up_not_repeated(services: Any) -> None:
    """`Ambiguous` (sent, answer lost) keeps the mark: the next attempt asks the platform."""
    from reelflow.errors import Ambiguous, Retryable

    posts: list[str] = []

    async def post_answer_lost(token: str) -> str:
        posts.append(token)
        raise Ambiguous("timed out after sending")

    async def refused(token: str) -> str:
        raise Retryable("429: nothing happened")

    async def post(token: str) -> str:
        posts.append(token)
        return f"post-{len(posts)}"

    async def lookup(token: str) -> str | None:
        return "post-1" if token in posts else None

    for act in (refused, post_answer_lost):
        try:
            await run_once("publish:3", act, lookup=lookup)
        except Retryable:
            pass
        async with session_scope() as session:
            record = await get_side_effect(session, "publish:3")
            assert record is not None and record.status == "pending"
            # A refusal clears the mark (nothing happened); a lost answer keeps it.
            assert (record.acted_at is not None) == (act is post_answer_lost)
    assert await run_once("publish:3", post, lookup=lookup, attempt=3) == "post-1"
    assert len(posts) == 1  # the retry found the post instead of posting again


async def test_side_effect_without_lookup_refuses_to_guess(services: Any) -> None:
    from reelflow.errors import Permanent

    async def post_then_die(token: str) -> str:
        raise SystemExit

    async def post(token: str) -> str:
        return "posted"

    try:
        await run_once("publish:2", post_then_die)
    except SystemExit:
        pass
    try:
        await run_once("publish:2", post)
        raise AssertionError("expected Permanent")
    except Permanent:
        pass


async def test_sigterm_lets_the_current_job_finish(worker_processes: WorkerProcesses) -> None:
    import signal

    worker = worker_processes.start()
    run = await _start("runtime.sleep", {"seconds": 2, "steps": 4})
    await wait_for_runs([run.id], statuses=("running",), timeout=30)
    worker_processes.kill(worker, signal.SIGTERM)  # waits for the process to exit
    assert worker.returncode == 0
    done = await _run(run.id)
    assert done.status == "succeeded" and done.attempt == 1


async def test_sigterm_hands_a_long_job_back_after_the_grace(worker_processes: WorkerProcesses) -> None:
    import signal

    worker = worker_processes.start(REELFLOW_RUNTIME__SHUTDOWN_GRACE="1")
    run = await _start("runtime.stubborn_sleep", {"seconds": 4})
    await wait_for_runs([run.id], statuses=("running",), timeout=30)
    started = asyncio.get_running_loop().time()
    worker_processes.kill(worker, signal.SIGTERM)
    assert asyncio.get_running_loop().time() - started < 10  # did not wait for the 4 s job... much
    handed_back = await _run(run.id)
    assert handed_back.status == "retrying", handed_back.status
    worker_processes.start()
    await wait_for_runs([run.id], timeout=60)
    done = await _run(run.id)
    assert done.status == "succeeded"
    types = await _event_types(run.id)
    assert types.count("recovered") == 1 and types.count("started") == 2
