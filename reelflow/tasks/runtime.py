"""Small tasks of the runtime itself: diagnostics for `POST /jobs/diagnostics`, the demo,
the benchmark and the runtime's tests. Each does exactly what its name says.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import redis.asyncio as aioredis

from reelflow.domain.retry import RetryPolicy
from reelflow.errors import Permanent, Retryable
from reelflow.services import runtime as runtime_service
from reelflow.settings import get_settings
from reelflow.tasks.registry import TaskContext, task

FAST_RETRIES = RetryPolicy(initial_interval=0.2, backoff_coefficient=2.0, max_interval=2.0, max_attempts=5)
EFFECTS_KEY = "reelflow:runtime:effects"  # the stand-in platform's posts: token → post id
EFFECT_COUNTS_KEY = "reelflow:runtime:effect-counts"  # key → how many posts it got


@task("runtime.noop", queue="default")
async def noop(ctx: TaskContext, **payload: Any) -> dict[str, Any]:
    """Return at once (throughput benchmarks)."""
    return {"ok": True}


@task("runtime.sleep", queue="default", timeout=600)
async def sleep(ctx: TaskContext, seconds: float, steps: int = 10) -> dict[str, Any]:
    """Sleep `seconds` in `steps`, reporting progress and stopping early when cancelled."""
    steps = max(1, steps)
    for i in range(steps):
        if ctx.cancelled:
            return {"slept": seconds * i / steps, "cancelled": True}
        await asyncio.sleep(seconds / steps)
        await ctx.progress(int(100 * (i + 1) / steps), f"step {i + 1} of {steps}")
    return {"slept": seconds}


@task("runtime.stubborn_sleep", queue="default", timeout=600)
async def stubborn_sleep(ctx: TaskContext, seconds: float) -> dict[str, Any]:
    """Sleep without looking at `ctx.cancelled` (the runtime must stop it after the grace period)."""
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@task("runtime.fail_until", queue="default", policy=FAST_RETRIES)
async def fail_until(
    ctx: TaskContext, succeed_on: int = 2, kind: str = "retryable", retry_after: float | None = None
) -> dict[str, Any]:
    """Fail attempts before `succeed_on` with an error of `kind` (retryable, permanent, value)."""
    if ctx.attempt < succeed_on:
        if kind == "permanent":
            raise Permanent(f"attempt {ctx.attempt} fails for good")
        if kind == "value":
            raise ValueError(f"attempt {ctx.attempt} raised ValueError")
        raise Retryable(f"attempt {ctx.attempt} failed on purpose", retry_after=retry_after)
    return {"succeeded_on": ctx.attempt, "at": time.time()}


@task("runtime.diagnose", queue="default", policy=FAST_RETRIES, timeout=120)
async def diagnose(ctx: TaskContext, fail_times: int = 0, sleep_s: float = 0.0) -> dict[str, Any]:
    """Check the pipeline end to end: fail `fail_times` attempts (Retryable), sleep, succeed."""
    if ctx.attempt <= fail_times:
        raise Retryable(f"planned failure {ctx.attempt} of {fail_times}", retry_after=0.5)
    if sleep_s:
        await ctx.progress(50, "sleeping")
        await asyncio.sleep(sleep_s)
    return {"attempt": ctx.attempt, "run_id": str(ctx.run_id)}


async def _platform() -> aioredis.Redis:
    return aioredis.Redis.from_url(get_settings().redis.url or "")


@task("runtime.effect", queue="default", timeout=120)
async def effect(ctx: TaskContext, key: str, sleep_s: float = 0.0, pause_after_act_s: float = 0.0) -> dict[str, Any]:
    """A side effect on a stand-in platform (Redis), made at most once with `ctx.once`.

    The platform "posts" (one entry per call, like a real post) and can be asked whether a
    post with a given client token exists; the benchmark and tests count posts per key.
    `pause_after_act_s` waits after the post is made and before `ctx.once` records it (the
    window a crash test kills the worker in).
    """
    client = await _platform()
    try:
        if sleep_s:
            await asyncio.sleep(sleep_s)

        async def post(token: str) -> str:
            post_id = uuid.uuid4().hex
            async with client.pipeline(transaction=True) as pipe:
                pipe.hset(EFFECTS_KEY, token, post_id)
                pipe.hincrby(EFFECT_COUNTS_KEY, key, 1)
                await pipe.execute()
            if pause_after_act_s:
                await asyncio.sleep(pause_after_act_s)
            return post_id

        async def find(token: str) -> str | None:
            found = await client.hget(EFFECTS_KEY, token)
            return found.decode() if isinstance(found, bytes) else found

        post_id = await ctx.once(f"runtime.effect:{key}", post, lookup=find)
        return {"key": key, "post_id": post_id}
    finally:
        await client.aclose()


@task("runtime.fan_out", queue="default")
async def fan_out(
    ctx: TaskContext, n: int = 3, fail_index: int | None = None, child_sleep_s: float = 0.0
) -> dict[str, Any]:
    """A two-step workflow: `n` children, then one more child that reports the sum."""
    children = [
        ("runtime.fail_until", {"succeed_on": 99, "kind": "permanent"})
        if i == fail_index
        else ("runtime.square", {"x": i, "sleep_s": child_sleep_s})
        for i in range(n)
    ]
    squares = await ctx.run_children(children)
    [total] = await ctx.run_children([("runtime.sum", {"values": [s["square"] for s in squares]})])
    return {"squares": [s["square"] for s in squares], "total": total["sum"], "steps": ctx.step}


@task("runtime.square", queue="default")
async def square(ctx: TaskContext, x: int, sleep_s: float = 0.0) -> dict[str, int]:
    if sleep_s:
        await asyncio.sleep(sleep_s)
    return {"square": x * x}


@task("runtime.sum", queue="default")
async def total(ctx: TaskContext, values: list[int]) -> dict[str, int]:
    return {"sum": sum(values)}


@task("runtime.prune_runs", queue="default", timeout=600)
async def prune_runs(ctx: TaskContext, keep_days: int | None = None) -> dict[str, int]:
    """Delete finished top-level runs (with their children and events) older than `keep_days`."""
    return await runtime_service.prune_runs(keep_days)
