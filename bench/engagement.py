"""Engagement refresh of many tracked videos against the sandbox, end to end.

    python bench/engagement.py [--videos 20000] [--baseline-videos 100] [--json PATH]
                               [--latency/--no-latency] [--quotas/--no-quotas]

Starts its own embedded Postgres and Redis in a temp dir and the sandbox as a subprocess
(latency model on by default), seeds `--videos` tracked videos (sandbox-world ids, posted over
the last three days, all due), then times `monitoring.refresh_engagement` (select due, batched
stats fetch, snapshots, re-tier, forecasts). In the same run it times a baseline that does what
the seed implementations describe (Gorgone, research §7): take 20 due videos at a time, one
stats request per video, row-by-row ORM reads and writes, on a sample. Both sides count every
due video they handle (with stats or deleted/private) and stamp observations with the
platform's clock read once per run; they are compared by rate (videos handled per second).

Quotas (default on): the Research API's 1,000 requests and 100,000 records a day, enforced by
the adapter (Redis) and by the sandbox. The fast path needs one request per 100 videos and the
baseline one per video, so `--videos` + 100 × `--baseline-videos` must stay under 100,000
(the run stops with QuotaExhausted otherwise: that is the quota's real ceiling).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import (  # noqa: E402
    Stack,
    add_latency_args,
    finish_info,
    latency_info,
    run_info,
    sandbox_latency_report,
    start_stack,
)


def start_services(tmp: Path, args: argparse.Namespace) -> Stack:
    import httpx

    quotas_off = {  # throughput alone, without the Research API's daily quota
        "REELFLOW_QUOTAS__ENABLED": "false",
        "REELFLOW_QUOTAS__TIKTOK_RESEARCH_DAILY_REQUESTS": "0",
        "REELFLOW_QUOTAS__TIKTOK_RESEARCH_DAILY_RECORDS": "0",
    }
    stack = start_stack(tmp, args, **({} if args.quotas else quotas_off))
    httpx.post(f"{stack.url}/sandbox/config", json={"enforce_rate_limits": args.quotas}, timeout=5).raise_for_status()
    return stack


def world_ids(count: int, seed: int) -> list[tuple[str, datetime]]:
    """Ids the sandbox world answers for: posted 10 minutes to 3 days ago, spread over authors."""
    from reelflow.sandbox.world import get_world

    world = get_world()
    rng = random.Random(seed)
    now = time.time()
    out: dict[int, datetime] = {}
    while len(out) < count:
        created = int(now - rng.uniform(600, 3 * 86400))
        vid = world.make_id(created, rng.randrange(len(world.creators)), rng.randrange(4096))
        out[vid] = datetime.fromtimestamp(created, UTC)
    return [(str(k), v) for k, v in out.items()]


async def seed(workspace_name: str, ids: list[tuple[str, datetime]]) -> uuid.UUID:
    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.identity import IdentityRepository
    from reelflow.storage.repositories.monitoring import MonitoringRepository, VideoRow

    now = datetime.now(UTC)
    async with session_scope() as session:
        workspace = await IdentityRepository(session).create_workspace(workspace_name)
        ws = workspace.id
    for start in range(0, len(ids), 10_000):
        rows = [
            VideoRow(vid, None, None, [], None, None, None, posted, 0, 0, 0, 0, 0)
            for vid, posted in ids[start : start + 10_000]
        ]
        async with session_scope() as session:
            await MonitoringRepository(session).upsert_videos(
                ws, "tiktok", rows, {}, next_check_at=now - timedelta(minutes=1), observed_at=now - timedelta(hours=1)
            )
    return ws


async def run_fast(ws: uuid.UUID) -> dict[str, Any]:
    from reelflow.queue.inline import InlineContext
    from reelflow.tasks.monitoring import refresh_engagement

    return await refresh_engagement(InlineContext(), workspace_id=str(ws))


async def run_baseline(ws: uuid.UUID) -> tuple[int, int]:
    """The seeds' loop: 20 due videos, one request per video, ORM rows one at a time.

    Like the fast path it reads the platform's clock once per run (an offset to local time)
    and counts every due video it handles; returns (handled, with stats).
    """
    from sqlalchemy import select

    from reelflow.adapters.tiktok.research import ResearchClient
    from reelflow.domain import monitoring as domain
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.monitoring import MonitoredVideo, VideoForecast, VideoSnapshot
    from reelflow.tasks.monitoring import platform_now, tier_policy

    policy = tier_policy()
    client = ResearchClient()
    done = with_stats = 0
    clock_offset = (await platform_now()) - datetime.now(UTC)
    while True:
        async with session_scope() as session:
            now = datetime.now(UTC)
            videos = (
                (
                    await session.execute(
                        select(MonitoredVideo)
                        .where(MonitoredVideo.workspace_id == ws, MonitoredVideo.next_check_at <= now)
                        .order_by(MonitoredVideo.next_check_at)
                        .limit(20)
                    )
                )
                .scalars()
                .all()
            )
            if not videos:
                return done, with_stats
            for video in videos:
                done += 1
                fetched = await client.fetch_stats([video.platform_video_id])
                if not fetched:
                    video.next_check_at = now + timedelta(hours=12)
                    continue
                with_stats += 1
                stats = fetched[0]
                taken = datetime.now(UTC) + clock_offset
                history = (
                    (
                        await session.execute(
                            select(VideoSnapshot)
                            .where(VideoSnapshot.video_id == video.id)
                            .order_by(VideoSnapshot.taken_at.desc())
                            .limit(6)
                        )
                    )
                    .scalars()
                    .all()
                )
                views = stats.views or 0
                points = [(s.taken_at.timestamp(), s.views) for s in history] + [(taken.timestamp(), views)]
                age_h = (taken - video.posted_at).total_seconds() / 3600 if video.posted_at else 1000.0
                v = domain.velocity(points) or domain.prior_velocity(views, age_h)
                a = domain.acceleration(points)
                session.add(
                    VideoSnapshot(
                        video_id=video.id,
                        taken_at=taken,
                        workspace_id=ws,
                        views=views,
                        likes=stats.likes or 0,
                        comments=stats.comments or 0,
                        shares=stats.shares or 0,
                        saves=stats.saves or 0,
                    )
                )
                video.views, video.likes = views, stats.likes or 0
                video.velocity, video.acceleration = v, a
                video.tier = domain.next_tier(video.tier, v, age_h, policy)
                cadence = policy.cadence_seconds(video.tier)
                video.next_check_at = now + timedelta(seconds=cadence or 86400)
                f1, f2, f3 = domain.forecast(views, v, a, age_h, len(points))
                session.add(
                    VideoForecast(
                        workspace_id=ws,
                        video_id=video.id,
                        made_at=taken,
                        model=domain.FORECAST_MODEL,
                        base_views=views,
                        predicted_1h=f1.views,
                        predicted_2h=f2.views,
                        predicted_3h=f3.views,
                        confidence_1h=f1.confidence,
                        confidence_2h=f2.confidence,
                        confidence_3h=f3.confidence,
                    )
                )
                await session.flush()


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    from reelflow.logs import configure_logging
    from reelflow.storage.db import dispose_engine

    configure_logging("WARNING", False)

    all_ids = world_ids(args.videos + args.baseline_videos, seed=7)
    print(f"seeding {args.videos:,} tracked videos (+{args.baseline_videos:,} for the baseline) ...", flush=True)
    t0 = time.perf_counter()
    ws_fast = await seed("bench-fast", all_ids[: args.videos])
    ws_base = await seed("bench-baseline", all_ids[args.videos :])
    print(f"   seeded in {time.perf_counter() - t0:.1f} s", flush=True)

    print("baseline (20 due at a time, one request per video, row-by-row writes) ...", flush=True)
    t0 = time.perf_counter()
    base_done, base_with_stats = await run_baseline(ws_base)
    base_s = time.perf_counter() - t0
    base_rate = base_done / base_s if base_s else 0.0
    print(
        f"   {base_done:,} videos ({base_with_stats:,} with stats) in {base_s:.1f} s → {base_rate:,.1f} videos/s",
        flush=True,
    )

    print(f"refresh_engagement over {args.videos:,} due videos ...", flush=True)
    t0 = time.perf_counter()
    result = await run_fast(ws_fast)
    fast_s = time.perf_counter() - t0
    refreshed = int(result["selected"])
    rate = refreshed / fast_s if fast_s else 0.0
    print(
        f"   {refreshed:,} videos ({result['refreshed']:,} with stats, {result['missing']:,} deleted/private) "
        f"in {fast_s:.1f} s → {rate:,.0f} videos/s; tier changes {result['tier_changes']}",
        flush=True,
    )
    print(f"   time per phase (fetch overlaps write): {result['phases']}", flush=True)
    await dispose_engine()
    ratio = rate / base_rate if base_rate else float("inf")
    print(f"ratio: {ratio:,.1f}× the baseline's rate")
    return {
        "videos": refreshed,
        "seconds": round(fast_s, 2),
        "videos_per_s": round(rate, 1),
        "videos_with_stats": result["refreshed"],
        "baseline_videos": base_done,
        "baseline_videos_with_stats": base_with_stats,
        "baseline_seconds": round(base_s, 2),
        "baseline_videos_per_s": round(base_rate, 2),
        "ratio": round(ratio, 1),
        "tier_changes": result["tier_changes"],
        "phases": result["phases"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--videos", type=int, default=20_000)
    parser.add_argument("--baseline-videos", type=int, default=100)
    parser.add_argument(
        "--quotas",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="the Research API's daily quotas, in the adapter and the sandbox (default: on)",
    )
    add_latency_args(parser)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    info = run_info()
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as tmp:
        stack = start_services(Path(tmp), args)
        try:
            figures = asyncio.run(main_async(args))
            figures["sandbox_latency"] = sandbox_latency_report(stack.url)
        finally:
            stack.stop()
    figures = {**finish_info(info), "latency_model": latency_info(args), "quotas": args.quotas, **figures}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
