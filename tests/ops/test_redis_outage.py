"""Redis outages: a worker starts while Redis is down and waits for it; a worker busy when
Redis goes away finishes its job and resumes; runs enqueued during the outage all run, once.
`reelflow readyz` says "Redis unreachable"."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from reelflow.queue import enqueue
from reelflow.storage.db import session_scope
from reelflow.storage.embedded import start_redis
from reelflow.storage.models.runtime import JobEvent
from tests.fixtures.runtime import WorkerProcesses, wait_for_runs


class SpareRedis:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.proc, self.url = start_redis(folder)

    def stop(self) -> None:
        assert self.proc is not None
        self.proc.terminate()
        self.proc.wait(10)

    def start(self) -> None:
        self.proc, url = start_redis(self.folder)
        assert url == self.url


@pytest.fixture
def spare_redis(services: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    from reelflow.settings import reset_settings_cache

    spare = SpareRedis(tmp_path / "redis")
    monkeypatch.setenv("REDIS_URL", spare.url)
    reset_settings_cache()
    yield spare
    if spare.proc is not None and spare.proc.poll() is None:
        spare.stop()
    monkeypatch.undo()
    reset_settings_cache()


async def _started(run_id: Any) -> int:
    async with session_scope() as session:
        stmt = select(func.count()).where(JobEvent.run_id == run_id, JobEvent.type == "started")
        return int((await session.execute(stmt)).scalar_one())


@pytest.mark.slow
async def test_workers_ride_out_a_redis_outage(
    runtime_session: Any, spare_redis: SpareRedis, worker_processes: WorkerProcesses
) -> None:
    env = {"REDIS_URL": spare_redis.url, "REELFLOW_OPS__REDIS_RETRY_MAX_S": "0.5"}
    # 1. A worker started while Redis is down waits for it (and readyz says why).
    spare_redis.stop()
    worker = worker_processes.start("high,default", **env)
    ready = subprocess.run(
        [sys.executable, "-m", "reelflow.cli", "readyz"],
        env={**worker_processes.env, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ready.returncode == 1
    assert json.loads(ready.stdout)["errors"]["redis"].startswith("Redis unreachable")
    early = [(await enqueue(runtime_session, "runtime.noop", {"i": i})).run.id for i in range(5)]
    await runtime_session.commit()  # the pushes fail (logged): the runs are in Postgres
    await asyncio.sleep(2)
    assert worker.poll() is None, "the worker must not exit while Redis is down"
    spare_redis.start()
    statuses = await wait_for_runs(early, timeout=60)
    assert set(statuses.values()) == {"succeeded"}

    # 2. Redis goes away while a job runs: the job finishes, the worker resumes, nothing runs twice.
    long = (await enqueue(runtime_session, "runtime.sleep", {"seconds": 3, "steps": 6})).run.id
    await runtime_session.commit()
    deadline = time.monotonic() + 30
    while await _started(long) == 0:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    spare_redis.stop()
    await asyncio.sleep(4)
    spare_redis.start()
    after = [(await enqueue(runtime_session, "runtime.noop", {"after": i})).run.id for i in range(3)]
    await runtime_session.commit()
    statuses = await wait_for_runs([long, *after], timeout=60)
    assert set(statuses.values()) == {"succeeded"}, statuses
    assert await _started(long) == 1
    assert worker.poll() is None
