"""Worker lifecycle: recovered runs go to the front of their queue; SIGTERM mid-render stops
the media worker within the shutdown grace, hands the render back (the project does not
fail) and kills its ffmpeg; ffmpeg dies with a SIGKILLed worker too."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from typing import Any

import psutil
import pytest
from sqlalchemy import select, update

from reelflow.queue import enqueue
from reelflow.queue.maintenance import recover_stale
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.runtime import JobEvent, JobRun
from tests.clipping_support import FAST_SETTINGS, OPTIONS, Media, fast_settings, media, project, upload_file
from tests.fixtures.runtime import WorkerProcesses, wait_for_runs

__all__ = ["fast_settings", "media"]


async def test_recovered_runs_go_to_the_front_of_their_queue(runtime_session: Any, redis_client: Any) -> None:
    from datetime import timedelta

    runs = [(await enqueue(runtime_session, "runtime.noop", {"i": i})).run for i in range(4)]
    await runtime_session.commit()
    victim = runs[0]
    await redis_client.lrem("rq:queue:default", 0, victim.rq_job_id)  # a worker took it, then died
    async with session_scope() as session:
        await session.execute(
            update(JobRun)
            .where(JobRun.id == victim.id)
            .values(status="running", attempt=1, worker="dead:1", heartbeat_at=utcnow() - timedelta(hours=1))
        )
    assert await recover_stale() == 1
    queued = [j.decode() for j in await redis_client.lrange("rq:queue:default", 0, -1)]
    async with session_scope() as session:
        recovered = await session.get(JobRun, victim.id)
    assert recovered is not None and queued[0] == recovered.rq_job_id, queued
    assert queued[1:] == [r.rq_job_id for r in runs[1:]]


def _ffmpeg_children(pid: int) -> list[psutil.Process]:
    try:
        return [p for p in psutil.Process(pid).children(recursive=True) if "ffmpeg" in p.name()]
    except psutil.NoSuchProcess:
        return []


async def _render_running() -> JobRun | None:
    async with session_scope() as session:
        rows = await session.execute(
            select(JobRun).where(JobRun.name == "clipping.render_clip", JobRun.status == "running")
        )
        return rows.scalars().first()


async def _wait_for_ffmpeg(worker: Any, timeout: float = 120) -> list[psutil.Process]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await _render_running():
            found = _ffmpeg_children(worker.pid)
            if found:
                return found
        await asyncio.sleep(0.05)
    raise TimeoutError("no render with ffmpeg started")


@pytest.mark.slow
async def test_sigterm_mid_render_hands_back_in_time_and_sigkill_takes_ffmpeg_along(
    client: Any, signup: Any, media: Media, fast_settings: Any, worker_processes: WorkerProcesses
) -> None:
    account = await signup()
    settings = {**FAST_SETTINGS, "REELFLOW_RUNTIME__SHUTDOWN_GRACE": "1", "REELFLOW_MEDIA__X264_PRESET": "slow"}
    first = worker_processes.start("media", **settings)
    sent = await upload_file(
        client, account.headers, media.talk, options={**OPTIONS, "preset": "tiktok_1080", "top_n": 1}
    )
    pipeline_run = uuid.UUID(sent["last"]["run_id"])

    # 1. SIGTERM mid-render (the worker only: a deploy's signal). It exits within the grace
    #    (+ a heartbeat), its ffmpeg is gone, and the render is handed back, not failed.
    ffmpeg = await _wait_for_ffmpeg(first)
    render = await _render_running()
    assert render is not None
    signalled = time.monotonic()
    os.kill(first.pid, signal.SIGTERM)
    await asyncio.to_thread(first.wait, 30)
    stopped_in = time.monotonic() - signalled
    assert first.returncode is not None and stopped_in < 10, stopped_in
    await asyncio.sleep(0.2)
    assert not [p for p in ffmpeg if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    async with session_scope() as session:
        run = await session.get(JobRun, render.id)
        events = (
            await session.execute(select(JobEvent.type, JobEvent.message).where(JobEvent.run_id == render.id))
        ).all()
    assert run is not None and run.status in ("retrying", "queued"), run.status
    assert any(t == "recovered" and "shutting down" in (m or "") for t, m in events), events
    assert (await project(client, account.headers, sent["project_id"]))["status"] != "failed"

    # 2. SIGKILL mid-render: the kernel takes its ffmpeg along (no orphan keeps rendering).
    second = worker_processes.start("media", **settings)
    ffmpeg = await _wait_for_ffmpeg(second)
    worker_processes.kill(second)  # SIGKILL to the worker's group: the ffmpeg has its own
    await asyncio.sleep(0.5)
    assert not [p for p in ffmpeg if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]

    # 3. A fresh worker finishes the project.
    worker_processes.start("media", **{**settings, "REELFLOW_MEDIA__X264_PRESET": "ultrafast"})
    statuses = await wait_for_runs([pipeline_run], timeout=240)
    assert statuses[pipeline_run] == "succeeded"
    assert (await project(client, account.headers, sent["project_id"]))["status"] == "clips_ready"
