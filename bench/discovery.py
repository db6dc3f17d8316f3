"""Benchmark of creator-discovery searches against the sandbox (with its latency model).

    python bench/discovery.py [--searches 50] [--target 1000] [--workers N] [--pool-size 2]
                              [--latency 1.0] [--jitter 1.0] [--slow-every 10] [--slow 2.0]
                              [--baseline-delay 0] [--skip-baseline] [--json PATH]

By default there is one runtime worker per search on both sides (`--workers` sets it), so
all searches run at once, like a deployment with a `default` worker process per concurrent
search (one search holds its worker while it pages; `reelflow worker` runs one job at a
time). Each worker thread holds a small database pool of its own (`--pool-size`, 2) plus the
runtime's connection (and, on Reelflow's side, the connection a search holds for its page
writes); the embedded Postgres is restarted with `max_connections` = 100 + 5 per worker.
`--skip-baseline` runs Reelflow's side only (for profiling). Besides the figures below it
prints CPU milliseconds per page (bench process, sandbox, Postgres).

Two ways to run the same searches, in one run, on the same Postgres, Redis, sandbox process
and number of runtime workers (in-process worker threads, one job at a time each):

1. Reelflow: one runtime job per search (`discovery.run_search`), paging each keyword by
   its cursor (keywords concurrently), de-duplicating creators by platform + id, committing
   cursor and counts after every page, stopping at the target of *unique* creators.
2. The seed's way (seeds/002): one queued message per page; each message re-reads the job
   row, fetches one page (keywords in turn), appends the page's creators as JSON, updates
   the counters and queues the next message, until `processedResults` (creators *with*
   duplicates) reaches the target. The seed's 2 s delay between messages is left out by
   default (`--baseline-delay 2` puts it in, as a scheduled run that holds no worker).

Figures: time to complete all searches, unique creators per second (both ways), provider
pages per unique creator, and pages fetched twice (Reelflow: sandbox requests minus pages
recorded on the searches; must be 0). Each search runs in a workspace of its own (pro plan),
like separate customers. Starts embedded Postgres and Redis in a temp folder and the sandbox
as a separate process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYWORDS = ["fyp", "foryou", "viral", "trending"]
SEED_TASK = "bench.discovery_seed_page"


def _setup(tmp: Path, args: argparse.Namespace) -> tuple[list[Any], subprocess.Popen[bytes], str]:
    from reelflow.settings import normalise_database_url, reset_settings_cache
    from reelflow.storage.embedded import free_port, start_postgres, start_redis

    handles: list[Any] = []
    if not os.environ.get("DATABASE_URL"):
        pg, url = start_postgres(tmp / "postgres", cleanup_mode="delete")
        os.environ["DATABASE_URL"] = url
        handles.append(pg)
        _raise_max_connections(pg, url, 100 + 5 * args.workers)
    else:
        os.environ["DATABASE_URL"] = normalise_database_url(os.environ["DATABASE_URL"])
    if not os.environ.get("REDIS_URL"):
        proc, url = start_redis(tmp / "redis")
        os.environ["REDIS_URL"] = url
        handles.append(proc)
    os.environ.setdefault("REELFLOW_DATA_DIR", str(tmp / "data"))
    os.environ.setdefault("REELFLOW_LOG__LEVEL", "ERROR")
    os.environ["REELFLOW_ENV"] = "dev"
    # Each worker thread has a database pool of its own: a small one (a search uses at most a
    # page commit, a progress write and a heartbeat at a time), plus the runtime's connection.
    os.environ.setdefault("REELFLOW_DB__POOL_SIZE", str(args.pool_size))
    os.environ["REELFLOW_DISCOVERY__KEYWORD_CONCURRENCY"] = str(args.keyword_concurrency)
    os.environ["REELFLOW_QUOTAS__SCRAPECREATORS_PER_SECOND"] = "0"  # the latency model is the limit here
    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    os.environ["REELFLOW_SANDBOX__URL"] = sandbox_url
    reset_settings_cache()
    from reelflow.storage.migrate import upgrade

    upgrade("head")
    env = dict(os.environ)
    sandbox = subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli", "sandbox", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{sandbox_url}/sandbox/health", timeout=1).is_success:
                break
        except httpx.HTTPError:
            time.sleep(0.1)
    config = {
        "scrapecreators_latency_s": args.latency,
        "scrapecreators_latency_jitter_s": args.jitter,
        "scrapecreators_slow_every": args.slow_every,
        "scrapecreators_slow_s": args.slow,
        "scrapecreators_max_results": 3000,
    }
    httpx.post(f"{sandbox_url}/sandbox/config", json=config, timeout=10).raise_for_status()
    # build the world's search index before timing anything
    httpx.get(
        f"{sandbox_url}/scrapecreators/v1/tiktok/search/keyword",
        params={"query": "fyp"},
        headers={"x-api-key": "sbx_scrapecreators_key"},
        timeout=120,
    )
    return handles, sandbox, sandbox_url


def _raise_max_connections(pg: Any, url: str, wanted: int) -> None:
    """The embedded Postgres starts with max_connections = 100; one worker thread per search
    needs more (each thread: the runtime's connection and a pool of `--pool-size`, which may
    overflow to twice that). ALTER SYSTEM, then restart it (pg_ctl keeps its start options)."""
    import asyncpg
    from pgserver._commands import pg_ctl

    async def current() -> int:
        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            value = int(await conn.fetchval("SHOW max_connections"))
            if value < wanted:
                await conn.execute(f"ALTER SYSTEM SET max_connections = {int(wanted)}")
            return value
        finally:
            await conn.close()

    if asyncio.run(current()) < wanted:
        pg_ctl(["-w", "restart", "-m", "fast"], pgdata=pg.pgdata, user=pg.system_user)


# --- the seed's way: one page per queued message ---------------------------------------------


def _register_seed_task(delay_s: float) -> None:
    from reelflow.adapters.scrapecreators import ScrapeCreatorsClient
    from reelflow.queue import enqueue
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.base import utcnow
    from reelflow.storage.repositories.discovery import DiscoveryRepository
    from reelflow.tasks.registry import TaskContext, task

    client: dict[str, ScrapeCreatorsClient] = {}

    @task(SEED_TASK, queue="default", timeout=120)
    async def seed_page(ctx: TaskContext, search_id: str) -> dict[str, Any]:
        from sqlalchemy import text

        sid = uuid.UUID(search_id)
        async with session_scope() as session:  # re-read the job row, every message
            search = await DiscoveryRepository(session).load_search(sid)
            assert search is not None
            if search.status in ("completed", "error"):
                return {"status": search.status}
            await DiscoveryRepository(session).set_search(sid, status="processing")
            cursors = dict(search.cursors or {})
            keywords = list(search.keywords)
            pages, processed = search.pages, search.items_seen
        open_keywords = [k for k in keywords if not (cursors.get(k) or {}).get("done")]
        if not open_keywords:
            async with session_scope() as session:
                await DiscoveryRepository(session).set_search(sid, status="completed", finished_at=utcnow())
            return {"status": "completed"}
        keyword = open_keywords[pages % len(open_keywords)]
        state = cursors.get(keyword) or {"cursor": 0}
        sc = client.setdefault("c", ScrapeCreatorsClient())
        page = await sc.search_keyword(keyword, cursor=int(state["cursor"]))
        creators = [
            {
                "creator": {
                    "id": v.author.id,
                    "name": v.author.display_name or v.author.handle,
                    "followers": v.author.followers or 0,
                    "avatarUrl": (v.author.avatar_url or "").replace(".heic", ".jpeg"),
                },
                "video": {"description": v.caption, "url": v.url, "views": v.stats.views if v.stats else 0},
                "hashtags": v.hashtags,
                "keywords": keywords,
            }
            for v in page.videos
            if v.author is not None
        ]
        cursors[keyword] = {"cursor": page.cursor, "done": not page.has_more or not page.videos}
        processed += len(creators)
        done = processed >= search.target or all((cursors.get(k) or {}).get("done") for k in keywords)
        async with session_scope() as session:
            await session.execute(
                text("INSERT INTO bench_seed_results (job_id, creators) VALUES (:j, CAST(:c AS jsonb))"),
                {"j": sid, "c": json.dumps(creators)},
            )
            await DiscoveryRepository(session).set_search(
                sid,
                pages=pages + 1,
                items_seen=processed,
                cursors=cursors,
                status="completed" if done else "processing",
                finished_at=utcnow() if done else None,
            )
            if not done:  # schedule the next call
                nxt = await enqueue(
                    session, SEED_TASK, {"search_id": search_id}, key=f"seed:{search_id}:{pages + 1}", workspace_id=None
                )
                if delay_s > 0:  # the seed's QStash `delay`: a scheduled run (no worker waits for it)
                    pushes = session.sync_session.info.get("reelflow_runtime_pushes") or []
                    pushes[:] = [d for d in pushes if d.id != nxt.run.id]
                    await session.execute(
                        text(
                            "UPDATE job_runs SET status = 'retrying', pushed_at = NULL, "
                            "scheduled_at = now() + make_interval(secs => :d) WHERE id = :id"
                        ),
                        {"d": delay_s, "id": nxt.run.id},
                    )
        return {"processed": processed}


# --- runs ------------------------------------------------------------------------------------------


async def _create_searches(n: int, target: int, mode: str) -> list[uuid.UUID]:
    from reelflow.queue import enqueue
    from reelflow.services import discovery as service
    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.identity import IdentityRepository

    ids = []
    for i in range(n):
        keywords = KEYWORDS[i % len(KEYWORDS) :] + KEYWORDS[: i % len(KEYWORDS)]
        async with session_scope() as session:
            workspace = await IdentityRepository(session).create_workspace(f"bench-{mode}-{i}", plan="pro")
            campaign = await service.create_campaign(
                session, workspace.id, name=f"b{i}", description=None, search_type="keyword"
            )
            if mode == "reelflow":
                started = await service.start_search(
                    session, workspace.id, campaign.id, platform="tiktok", target=target, keywords=keywords
                )
                ids.append(started.search.id)
            else:
                from reelflow.storage.models.base import utcnow
                from reelflow.storage.repositories.discovery import DiscoveryRepository

                search = await DiscoveryRepository(session).create_search(
                    workspace_id=workspace.id,
                    campaign_id=campaign.id,
                    platform="tiktok",
                    kind="keyword",
                    keywords=keywords,
                    target=target,
                    status="pending",
                    cursors={},
                    deadline_at=utcnow(),
                )
                await enqueue(session, SEED_TASK, {"search_id": str(search.id)}, key=f"seed:{search.id}:0")
                ids.append(search.id)
    return ids


async def _open(ids: list[uuid.UUID]) -> int:
    from sqlalchemy import func, select

    from reelflow.storage.db import session_scope
    from reelflow.storage.models.discovery import DiscoverySearch

    async with session_scope() as session:
        stmt = select(func.count()).where(
            DiscoverySearch.id.in_(ids), DiscoverySearch.status.in_(("pending", "processing"))
        )
        return int((await session.execute(stmt)).scalar_one())


def _work(workers: int, ids: list[uuid.UUID], limit_s: float) -> float:
    """`workers` threads, each an in-process runtime worker, until every search has ended.

    Shaped like a deployment: each thread is an RQ worker blocked on Redis while it has nothing
    to run (`reelflow worker`), and one scheduler thread pushes runs whose retry delay (the
    seed's 2 s delay, a Reelflow retry) has passed, every 0.05 s. Idle workers cost nothing,
    so neither way pays for the other's worker count. The progress poll keeps one event loop
    (and connection) for the whole phase."""
    from rq import Queue

    from reelflow.queue import entry
    from reelflow.queue.dispatch import get_redis
    from reelflow.queue.maintenance import push_due_retries
    from reelflow.queue.worker import ReelflowWorker
    from reelflow.storage.db import dispose_engine
    from reelflow.tasks.registry import load_tasks

    load_tasks()
    started = time.perf_counter()
    stop = threading.Event()

    def work() -> None:
        connection = get_redis()
        worker = ReelflowWorker(
            [Queue("default", connection=connection)],
            connection=connection,
            name=f"bench-{uuid.uuid4().hex[:8]}",
        )
        try:
            while not stop.is_set():
                worker.work(burst=False, max_idle_time=1, logging_level="WARNING", with_scheduler=False)
        finally:
            entry.close_thread_loop()

    def schedule() -> None:
        with asyncio.Runner() as runner:
            try:
                while not stop.is_set():
                    runner.run(push_due_retries())
                    stop.wait(0.05)
            finally:
                runner.run(dispose_engine())

    threads = [threading.Thread(target=work, daemon=True) for _ in range(workers)]
    threads.append(threading.Thread(target=schedule, daemon=True))
    for t in threads:
        t.start()
    with asyncio.Runner() as poll:
        try:
            while poll.run(_open(ids)) > 0:
                if time.perf_counter() - started > limit_s:
                    raise TimeoutError("searches still open")
                time.sleep(0.1)
            elapsed = time.perf_counter() - started
        finally:
            poll.run(dispose_engine())
    stop.set()
    for t in threads:
        t.join(timeout=120)
    return elapsed


async def _with_dispose(coro: Any) -> Any:
    from reelflow.storage.db import dispose_engine

    try:
        return await coro
    finally:
        await dispose_engine()


async def _reelflow_figures(ids: list[uuid.UUID]) -> dict[str, Any]:
    from sqlalchemy import func, select

    from reelflow.storage.db import session_scope
    from reelflow.storage.models.discovery import DiscoverySearch

    async with session_scope() as session:
        rows = (
            await session.execute(
                select(DiscoverySearch.status, DiscoverySearch.found, DiscoverySearch.pages).where(
                    DiscoverySearch.id.in_(ids)
                )
            )
        ).all()
        statuses = dict(
            (
                await session.execute(
                    select(DiscoverySearch.status, func.count())
                    .where(DiscoverySearch.id.in_(ids))
                    .group_by(DiscoverySearch.status)
                )
            ).all()
        )
    return {
        "creators": sum(r[1] for r in rows),
        "pages": sum(r[2] for r in rows),
        "statuses": statuses,
        "reached_target": sum(1 for r in rows if r[0] == "completed"),
    }


async def _seed_figures(ids: list[uuid.UUID]) -> dict[str, Any]:
    from sqlalchemy import text

    from reelflow.storage.db import session_scope

    async with session_scope() as session:
        unique = (
            await session.execute(
                text(
                    "SELECT count(*) FROM (SELECT DISTINCT job_id, c->'creator'->>'id' FROM bench_seed_results, "
                    "jsonb_array_elements(creators) c WHERE job_id = ANY(:ids)) u"
                ),
                {"ids": ids},
            )
        ).scalar_one()
        counted = (
            await session.execute(
                text("SELECT sum(items_seen), sum(pages) FROM discovery_searches WHERE id = ANY(:ids)"), {"ids": ids}
            )
        ).one()
    return {"unique_creators": int(unique), "counted_results": int(counted[0] or 0), "pages": int(counted[1] or 0)}


def _sandbox_requests(sandbox_url: str) -> int:
    import httpx

    rows = httpx.get(
        f"{sandbox_url}/sandbox/requests", params={"path": "/scrapecreators/v1/tiktok/search/keyword"}, timeout=60
    ).json()
    return len(rows)


def _reset_sandbox_log(sandbox_url: str, args: argparse.Namespace) -> None:
    import httpx

    httpx.post(f"{sandbox_url}/sandbox/reset", timeout=30).raise_for_status()
    config = {
        "scrapecreators_latency_s": args.latency,
        "scrapecreators_latency_jitter_s": args.jitter,
        "scrapecreators_slow_every": args.slow_every,
        "scrapecreators_slow_s": args.slow,
        "scrapecreators_max_results": 3000,
    }
    httpx.post(f"{sandbox_url}/sandbox/config", json=config, timeout=10).raise_for_status()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--searches", type=int, default=50)
    parser.add_argument("--target", type=int, default=1000, choices=(100, 500, 1000))
    parser.add_argument(
        "--workers",
        type=int,
        default=None,
        help="runtime workers (threads) for both ways; default: one per search",
    )
    parser.add_argument("--pool-size", type=int, default=2, help="database pool size of each worker thread")
    parser.add_argument(
        "--baseline-delay",
        type=float,
        default=0.0,
        help="the seed's delay between a search's messages (its QStash `delay`, 2 s in seeds/002); 0 leaves it out",
    )
    parser.add_argument("--keyword-concurrency", type=int, default=4)
    parser.add_argument("--latency", type=float, default=1.0, help="sandbox seconds per call")
    parser.add_argument("--jitter", type=float, default=1.0, help="uniform extra seconds per call")
    parser.add_argument("--slow-every", type=int, default=10, help="every Nth page is slow")
    parser.add_argument("--slow", type=float, default=2.0, help="extra seconds of a slow page")
    parser.add_argument("--limit-s", type=float, default=1800)
    parser.add_argument("--skip-baseline", action="store_true", help="Reelflow's side only (profiling)")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    # One worker per search (all at once), like a deployment with a worker per concurrent
    # search; each worker thread holds its own small database pool (`--pool-size`), and the
    # embedded Postgres is given the connections they need.
    args.workers = args.workers or args.searches
    from common import cpu_delta, cpu_snapshot, finish_info, run_info

    info = run_info()
    from reelflow.logs import configure_logging

    configure_logging("ERROR")

    tmp = Path(tempfile.mkdtemp(prefix="reelflow-bench-discovery-"))
    handles, sandbox, sandbox_url = _setup(tmp, args)
    try:
        from sqlalchemy import text

        from reelflow.storage.db import get_engine
        from reelflow.tasks.registry import load_tasks

        load_tasks()
        _register_seed_task(args.baseline_delay)

        async def prepare() -> None:
            async with get_engine().begin() as conn:
                await conn.execute(text("CREATE TABLE IF NOT EXISTS bench_seed_results (job_id uuid, creators jsonb)"))

        asyncio.run(_with_dispose(prepare()))

        print(
            f"{args.searches} searches × target {args.target}, keywords {KEYWORDS}, {args.workers} workers, "
            f"sandbox latency {args.latency}+U(0,{args.jitter}) s, every {args.slow_every}th page +{args.slow} s"
        )
        _reset_sandbox_log(sandbox_url, args)
        ids = asyncio.run(_with_dispose(_create_searches(args.searches, args.target, "reelflow")))
        pg_dir = tmp / "postgres"
        cpu_start = cpu_snapshot(sandbox.pid, pg_dir)
        seconds = _work(args.workers, ids, args.limit_s)
        cpu_ours = cpu_delta(cpu_start, cpu_snapshot(sandbox.pid, pg_dir))
        ours = asyncio.run(_with_dispose(_reelflow_figures(ids)))
        requests = _sandbox_requests(sandbox_url)
        twice = requests - ours["pages"]
        print(
            f"reelflow: {seconds:.1f} s, {ours['creators']} unique creators ({ours['creators'] / seconds:.1f}/s), "
            f"{ours['pages']} pages ({ours['pages'] / max(1, ours['creators']):.3f} per creator), "
            f"statuses {ours['statuses']}, pages fetched twice {twice}"
        )
        pages = max(1, ours["pages"])
        print(
            "CPU ms per page (bench process, sandbox, Postgres): "
            + ", ".join(f"{k} {1000 * v / pages:.1f}" for k, v in cpu_ours.items())
        )
        if args.skip_baseline:
            return 0

        _reset_sandbox_log(sandbox_url, args)
        seed_ids = asyncio.run(_with_dispose(_create_searches(args.searches, args.target, "seed")))
        cpu_start = cpu_snapshot(sandbox.pid, pg_dir)
        seed_seconds = _work(args.workers, seed_ids, args.limit_s)
        cpu_seed = cpu_delta(cpu_start, cpu_snapshot(sandbox.pid, pg_dir))
        seed = asyncio.run(_with_dispose(_seed_figures(seed_ids)))
        print(
            f"seed way: {seed_seconds:.1f} s, {seed['unique_creators']} unique creators "
            f"({seed['unique_creators'] / seed_seconds:.1f}/s) although it counted {seed['counted_results']} results, "
            f"{seed['pages']} pages ({seed['pages'] / max(1, seed['unique_creators']):.3f} per unique creator)"
        )
        creators_per_s = ours["creators"] / seconds
        baseline = seed["unique_creators"] / seed_seconds
        result = {
            **finish_info(info),
            "searches": args.searches,
            "creators": ours["creators"],
            "seconds": round(seconds, 2),
            "creators_per_s": round(creators_per_s, 2),
            "pages_per_creator": round(ours["pages"] / max(1, ours["creators"]), 4),
            "baseline_creators_per_s": round(baseline, 2),
            "ratio": round(creators_per_s / baseline, 2) if baseline else None,
            "pages_fetched_twice": twice,
            "target": args.target,
            "workers": args.workers,
            "keyword_concurrency": args.keyword_concurrency,
            "searches_reaching_target": ours["reached_target"],
            "baseline_seconds": round(seed_seconds, 2),
            "baseline_unique_creators": seed["unique_creators"],
            "baseline_counted_results": seed["counted_results"],
            "baseline_pages_per_unique_creator": round(seed["pages"] / max(1, seed["unique_creators"]), 4),
            "baseline_delay_s": args.baseline_delay,
            # CPU seconds per side (this process with its worker threads, the sandbox, Postgres)
            "cpu_s": {"reelflow": cpu_ours, "baseline": cpu_seed},
            "latency_model": {
                "latency_s": args.latency,
                "jitter_s": args.jitter,
                "slow_every": args.slow_every,
                "slow_s": args.slow,
            },
        }
        print(f"CPU seconds (bench process, sandbox, Postgres): {result['cpu_s']}")
        print(f"ratio (unique creators/s, reelflow vs seed): {result['ratio']}")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(result, indent=2) + "\n")
            print(f"wrote {args.json}")
        return 0
    finally:
        os.killpg(sandbox.pid, 15)
        sandbox.wait(timeout=30)
        for handle in handles:
            if hasattr(handle, "cleanup"):
                handle.cleanup()
            else:
                handle.terminate()


if __name__ == "__main__":
    raise SystemExit(main())
