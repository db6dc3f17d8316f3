"""Benchmark of the job runtime against plain RQ, on the same Redis, in one run.

    python bench/runtime.py [--jobs 2000] [--chaos-jobs 1000] [--json PATH] [--models]

1. Throughput: N no-op jobs through the Reelflow runtime (enqueue + run record + events +
   fenced claim/finish in Postgres) vs the same number of no-op jobs through plain RQ; both
   executed by an in-process SimpleWorker in burst mode.
2. Latency: enqueue (one run per transaction, like an API request) and enqueue-to-finish
   (created_at → finished_at in Postgres) with a real `reelflow worker` process, one job in
   flight at a time; p50/p99.
3. Recovery: SIGKILL a worker mid-job; seconds until the run is started again elsewhere.
4. Chaos: jobs whose side effect is guarded by `ctx.once`, 3 workers, 3 random SIGKILLs
   (each replaced): lost and duplicated side effects (both must be 0).
With `--models`: the worker-model comparison (long-lived loop vs asyncio.run per job vs fork).

Starts embedded Postgres and Redis in a temp folder unless DATABASE_URL / REDIS_URL are set.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _setup_services(tmp: Path) -> Any:
    from reelflow.settings import normalise_database_url, reset_settings_cache
    from reelflow.storage.embedded import start_postgres, start_redis

    handles = []
    if not os.environ.get("DATABASE_URL"):
        pg, url = start_postgres(tmp / "postgres", cleanup_mode="delete")
        os.environ["DATABASE_URL"] = url
        handles.append(pg)
    else:
        os.environ["DATABASE_URL"] = normalise_database_url(os.environ["DATABASE_URL"])
    if not os.environ.get("REDIS_URL"):
        proc, url = start_redis(tmp / "redis")
        os.environ["REDIS_URL"] = url
        handles.append(proc)
    os.environ.setdefault("REELFLOW_DATA_DIR", str(tmp / "data"))
    os.environ.setdefault("REELFLOW_LOG__LEVEL", "WARNING")
    reset_settings_cache()
    from reelflow.storage.migrate import upgrade

    upgrade("head")
    return handles


async def _reset() -> None:
    from sqlalchemy import text

    from reelflow.queue.dispatch import get_redis
    from reelflow.storage.db import dispose_engine, get_engine

    async with get_engine().begin() as conn:
        await conn.execute(text("TRUNCATE job_runs, job_events, side_effects CASCADE"))
    await dispose_engine()
    get_redis().flushdb()


def _run(coro: Any) -> Any:
    from reelflow.storage.db import dispose_engine

    async def wrapped() -> Any:
        try:
            return await coro
        finally:
            await dispose_engine()

    return asyncio.run(wrapped())


async def _enqueue_many(name: str, args_list: list[dict[str, Any]], batch: int = 500) -> list[uuid.UUID]:
    from reelflow.queue import enqueue
    from reelflow.storage.db import session_scope

    ids = []
    for start in range(0, len(args_list), batch):
        async with session_scope() as session:
            for args in args_list[start : start + batch]:
                ids.append((await enqueue(session, name, args, key=uuid.uuid4().hex)).run.id)
    return ids


async def _statuses(ids: list[uuid.UUID]) -> dict[str, int]:
    from sqlalchemy import func, select

    from reelflow.storage.db import session_scope
    from reelflow.storage.models.runtime import JobRun

    async with session_scope() as session:
        rows = await session.execute(
            select(JobRun.status, func.count()).where(JobRun.id.in_(ids)).group_by(JobRun.status)
        )
        return {status: count for status, count in rows.all()}


# --- 1. throughput ------------------------------------------------------------------------
def _runtime_round(n: int) -> float:
    from rq import Queue

    from reelflow.queue import entry
    from reelflow.queue.dispatch import get_redis
    from reelflow.queue.worker import ReelflowWorker

    redis = get_redis()
    _run(_reset())
    ids = _run(_enqueue_many("runtime.noop", [{"i": i} for i in range(n)]))
    worker = ReelflowWorker([Queue("default", connection=redis)], connection=redis)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    elapsed = time.perf_counter() - started
    entry.close_thread_loop()
    statuses = _run(_statuses(ids))
    assert statuses == {"succeeded": n}, statuses
    return n / elapsed


def _rq_round(n: int) -> float:
    from rq import Queue, SimpleWorker

    from reelflow.queue.dispatch import get_redis

    redis = get_redis()
    redis.flushdb()
    queue = Queue("default", connection=redis)
    with redis.pipeline() as pipe:
        queue.enqueue_many([Queue.prepare_data("os.getpid", result_ttl=0) for _ in range(n)], pipeline=pipe)
        pipe.execute()
    worker = SimpleWorker([queue], connection=redis)
    started = time.perf_counter()
    worker.work(burst=True, logging_level="WARNING")
    return n / (time.perf_counter() - started)


def bench_throughput(n: int, rounds: int = 3) -> dict[str, Any]:
    """Alternate runtime and plain-RQ rounds (the machine is shared); medians and their ratio."""
    runtime, plain = [], []
    for _ in range(rounds):
        runtime.append(_runtime_round(n))
        plain.append(_rq_round(n))
    runtime_median, rq_median = statistics.median(runtime), statistics.median(plain)
    return {
        "runtime_jobs_per_s": runtime_median,
        "rq_jobs_per_s": rq_median,
        "ratio": runtime_median / rq_median,
        "throughput_rounds": [
            {"runtime": round(a, 1), "rq": round(b, 1), "ratio": round(a / b, 2)}
            for a, b in zip(runtime, plain, strict=True)
        ],
    }


# --- worker models --------------------------------------------------------------------------
def bench_models(n: int) -> dict[str, float]:
    """Jobs/s of the runtime's no-op under three ways of running async tasks in RQ workers."""
    from rq import Queue, Worker

    from reelflow.queue import entry, executor
    from reelflow.queue.dispatch import get_redis
    from reelflow.queue.worker import NoDeathPenalty, ReelflowWorker

    redis = get_redis()
    results: dict[str, float] = {}

    def measure(label: str, worker: Any, count: int) -> None:
        _run(_reset())
        ids = _run(_enqueue_many("runtime.noop", [{"i": i} for i in range(count)]))
        started = time.perf_counter()
        worker.work(burst=True, logging_level="WARNING")
        elapsed = time.perf_counter() - started
        entry.close_thread_loop()
        assert _run(_statuses(ids)) == {"succeeded": count}
        results[label] = count / elapsed

    queue = Queue("default", connection=redis)
    measure("simple_long_lived_loop", ReelflowWorker([queue], connection=redis), n)

    original = entry.execute

    def fresh_loop(run_id: str) -> str:
        async def once() -> str:
            try:
                return await executor.execute_run(uuid.UUID(run_id))
            finally:
                await executor.close_executor_connection()

        return _run(once())

    entry.execute = fresh_loop  # type: ignore[assignment]
    try:
        measure("simple_asyncio_run_per_job", ReelflowWorker([queue], connection=redis), max(100, n // 4))
    finally:
        entry.execute = original  # type: ignore[assignment]

    class ForkWorker(Worker):
        death_penalty_class = NoDeathPenalty

    measure("fork_per_job", ForkWorker([queue], connection=redis), max(100, n // 10))
    return results


# --- 2. latency -------------------------------------------------------------------------------
def _start_worker(queues: str = "high,default", **env: str) -> subprocess.Popen[bytes]:
    from reelflow.settings import env_for_children, get_settings

    return subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli", "worker", "--queues", queues],
        env={**env_for_children(get_settings()), "REELFLOW_LOG__LEVEL": "ERROR", **env},
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, sig)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


async def _wait_done(ids: list[uuid.UUID], within_s: float) -> dict[str, int]:
    deadline = time.monotonic() + within_s
    pause = 0.005 if len(ids) == 1 else 0.2
    while True:
        statuses = await _statuses(ids)
        if sum(statuses.get(s, 0) for s in ("succeeded", "failed", "cancelled")) == len(ids):
            return statuses
        if time.monotonic() > deadline:
            return statuses
        await asyncio.sleep(pause)


def bench_latency(n: int) -> dict[str, float]:
    from sqlalchemy import select

    from reelflow.queue import enqueue
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.runtime import JobRun

    _run(_reset())
    worker = _start_worker()
    time.sleep(2.0)  # let the worker import and connect

    async def go() -> tuple[list[float], list[float]]:
        enqueue_ms: list[float] = []
        ids = []
        for i in range(n):
            started = time.perf_counter()
            async with session_scope() as session:
                ids.append((await enqueue(session, "runtime.noop", {"latency": i})).run.id)
            enqueue_ms.append((time.perf_counter() - started) * 1000)
            await _wait_done(ids[-1:], 30)  # one in flight: e2e measures latency, not a backlog
        await _wait_done(ids, 60)
        async with session_scope() as session:
            rows = (
                await session.execute(select(JobRun.created_at, JobRun.finished_at).where(JobRun.id.in_(ids)))
            ).all()
        e2e_ms = [(finished - created).total_seconds() * 1000 for created, finished in rows if finished]
        return enqueue_ms, e2e_ms

    try:
        enqueue_ms, e2e_ms = _run(go())
    finally:
        _stop(worker)
    return {
        "enqueue_p50_ms": statistics.median(enqueue_ms),
        "enqueue_p99_ms": _pct(enqueue_ms, 0.99),
        "e2e_p50_ms": statistics.median(e2e_ms),
        "e2e_p99_ms": _pct(e2e_ms, 0.99),
    }


# --- 3. recovery --------------------------------------------------------------------------------
def bench_recovery() -> dict[str, float]:
    """Two workers with default settings; SIGKILL the one running the job; time until it restarts."""
    from sqlalchemy import select

    from reelflow.queue import enqueue
    from reelflow.settings import get_settings
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.runtime import JobEvent, JobRun

    _run(_reset())
    workers = [_start_worker(), _start_worker()]
    time.sleep(2.0)

    async def go() -> float:
        async with session_scope() as session:
            run_id = (await enqueue(session, "runtime.sleep", {"seconds": 3, "steps": 3})).run.id
        while True:
            async with session_scope() as session:
                run = (await session.execute(select(JobRun).where(JobRun.id == run_id))).scalar_one()
            if run.status == "running":
                break
            await asyncio.sleep(0.05)
        pid = int((run.worker or "0:0").rsplit(":", 1)[1])
        victim = next(w for w in workers if w.pid == pid)
        os.killpg(victim.pid, signal.SIGKILL)
        killed = time.monotonic()
        while True:
            async with session_scope() as session:
                started = (
                    await session.execute(
                        select(JobEvent).where(
                            JobEvent.run_id == run_id, JobEvent.type == "started", JobEvent.attempt == 2
                        )
                    )
                ).scalar_one_or_none()
            if started is not None:
                return time.monotonic() - killed
            if time.monotonic() - killed > 120:
                raise TimeoutError("not recovered within 120 s")
            await asyncio.sleep(0.05)

    try:
        recovery = _run(go())
    finally:
        for worker in workers:
            _stop(worker, signal.SIGKILL)
    return {"recovery_s": recovery, "heartbeat_timeout_s": get_settings().runtime.heartbeat_timeout}


# --- 4. chaos ------------------------------------------------------------------------------------
def bench_chaos(n: int, kills: int = 3) -> dict[str, Any]:
    from reelflow.queue.dispatch import get_redis
    from reelflow.tasks.runtime import EFFECT_COUNTS_KEY

    _run(_reset())
    workers = [_start_worker() for _ in range(3)]
    time.sleep(2.0)
    keys = [f"chaos-{i}" for i in range(n)]
    started = time.monotonic()
    ids = _run(_enqueue_many("runtime.effect", [{"key": k, "sleep_s": 0.02} for k in keys]))

    async def progress() -> int:
        statuses = await _statuses(ids)
        return statuses.get("succeeded", 0)

    rng = random.Random(7)
    marks = sorted(rng.uniform(0.1, 0.7) for _ in range(kills))
    killed = 0
    try:
        for mark in marks:
            while _run(progress()) < mark * n:
                time.sleep(0.1)
            victim = rng.randrange(len(workers))
            os.killpg(workers[victim].pid, signal.SIGKILL)
            workers[victim].wait()
            workers[victim] = _start_worker()
            killed += 1
        statuses = _run(_wait_done(ids, 300))
    finally:
        for worker in workers:
            _stop(worker)
    elapsed = time.monotonic() - started
    counts = {k.decode(): int(v) for k, v in get_redis().hgetall(EFFECT_COUNTS_KEY).items()}

    async def reexecuted() -> int:
        from sqlalchemy import func, select

        from reelflow.storage.db import session_scope
        from reelflow.storage.models.runtime import JobRun

        async with session_scope() as session:
            stmt = select(func.count()).select_from(JobRun).where(JobRun.id.in_(ids), JobRun.attempt > 1)
            return int((await session.execute(stmt)).scalar_one())

    async def not_succeeded() -> set[uuid.UUID]:
        from sqlalchemy import select

        from reelflow.storage.db import session_scope
        from reelflow.storage.models.runtime import JobRun

        async with session_scope() as session:
            stmt = select(JobRun.id).where(JobRun.id.in_(ids), JobRun.status != "succeeded")
            return set((await session.execute(stmt)).scalars())

    open_or_failed = _run(not_succeeded())
    return {
        "chaos_jobs": n,
        "chaos_kills": killed,
        "chaos_seconds": elapsed,
        "chaos_statuses": statuses,
        "runs_reexecuted": _run(reexecuted()),
        "lost": len(
            {k for k in keys if counts.get(k, 0) == 0}
            | {k for k, run_id in zip(keys, ids, strict=True) if run_id in open_or_failed}
        ),
        "duplicated": sum(1 for k in keys if counts.get(k, 0) > 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--latency-jobs", type=int, default=300)
    parser.add_argument("--chaos-jobs", type=int, default=1000)
    parser.add_argument("--models", action="store_true", help="also compare worker models")
    parser.add_argument("--json", type=Path, default=None)
    options = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import finish_info, run_info

    from reelflow.logs import configure_logging

    info = run_info()

    configure_logging("WARNING")  # the in-process workers would otherwise print two lines per job

    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as tmp:
        handles = _setup_services(Path(tmp))
        try:
            results: dict[str, Any] = {"rounds": options.rounds, "jobs_per_round": options.jobs}
            print(f"throughput: {options.jobs} no-op jobs, in-process SimpleWorker, burst …", flush=True)
            results.update(bench_throughput(options.jobs, options.rounds))
            print(
                f"  runtime {results['runtime_jobs_per_s']:.0f} jobs/s · plain RQ {results['rq_jobs_per_s']:.0f} jobs/s"
                f" · ratio {results['ratio']:.2f}",
                flush=True,
            )
            if options.models:
                results["worker_models_jobs_per_s"] = bench_models(options.jobs)
                print(f"  worker models: {results['worker_models_jobs_per_s']}", flush=True)
            print(
                f"latency: {options.latency_jobs} jobs, one per transaction, a `reelflow worker` process …", flush=True
            )
            results.update(bench_latency(options.latency_jobs))
            print(
                f"  enqueue p50 {results['enqueue_p50_ms']:.1f} ms p99 {results['enqueue_p99_ms']:.1f} ms · "
                f"enqueue→finish p50 {results['e2e_p50_ms']:.1f} ms p99 {results['e2e_p99_ms']:.1f} ms",
                flush=True,
            )
            print("recovery: SIGKILL a worker mid-job (default settings) …", flush=True)
            results.update(bench_recovery())
            print(f"  started again after {results['recovery_s']:.1f} s", flush=True)
            print(f"chaos: {options.chaos_jobs} side-effecting jobs, 3 workers, 3 random SIGKILLs …", flush=True)
            results.update(bench_chaos(options.chaos_jobs))
            print(
                f"  {results['chaos_statuses']} in {results['chaos_seconds']:.1f} s; "
                f"re-executed runs {results['runs_reexecuted']}; lost {results['lost']}, "
                f"duplicated side effects {results['duplicated']}",
                flush=True,
            )
        finally:
            for handle in handles:
                if isinstance(handle, subprocess.Popen):
                    handle.terminate()
                    handle.wait(timeout=10)
                else:
                    handle.cleanup()
    results = {**finish_info(info), **results}
    if options.json:
        options.json.parent.mkdir(parents=True, exist_ok=True)
        options.json.write_text(json.dumps(results, indent=2, default=str))
    print(json.dumps(results, indent=2, default=str))


if __name__ == "__main__":
    main()
