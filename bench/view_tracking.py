"""One clipper view-tracking round over many approved submissions against the sandbox (latency model on).

    python bench/view_tracking.py --submissions 20000 --baseline-sample 20 --json bench/results/view_tracking.json

Seeds one workspace with clippers, two active campaigns (one with a budget small enough to run
out during the round) and N approved TikTok submissions of sandbox videos, then runs
`services.clippers.track_views` (asynchronous Apify runs in batches, readings, earnings) and, in
the same run, the seed's approach on a sample: one run-sync request per URL, 1 s apart, 5 in
parallel. JSON keys: submissions, seconds, runs_started, submissions_per_s,
baseline_submissions_per_s, ratio, overspend_minor_units (+ details and provenance).
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
    add_latency_args,
    finish_info,
    latency_info,
    run_info,
    sandbox_latency_report,
    start_stack,
)


def sandbox_urls(count: int, seed: int) -> list[tuple[int, str]]:
    """Canonical URLs of sandbox videos posted 1 hour to 5 days ago (about 3% deleted/private)."""
    from reelflow.sandbox.world import get_world

    world = get_world()
    rng = random.Random(seed)
    now = time.time()
    out: dict[int, str] = {}
    while len(out) < count:
        created = int(now - rng.uniform(3600, 5 * 86400))
        idx = rng.randrange(5, len(world.creators))
        vid = world.make_id(created, idx, rng.randrange(4096))
        out[vid] = f"https://www.tiktok.com/@{world.creators[idx].handle}/video/{vid}"
    return list(out.items())


async def seed(urls: list[tuple[int, str]], clippers: int, small_budget: int) -> tuple[uuid.UUID, list[uuid.UUID]]:
    from reelflow.sandbox.world import get_world
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.clippers import ClipperCampaign, ClipperSubmission
    from reelflow.storage.models.identity import Membership, User, Workspace

    world = get_world()
    now = datetime.now(UTC)
    async with session_scope() as session:
        ws = Workspace(name="bench-clippers", plan="pro")
        session.add(ws)
        await session.flush()
        users = [User(email=f"clipper{i}-{uuid.uuid4().hex[:6]}@bench.local") for i in range(clippers)]
        session.add_all(users)
        await session.flush()
        session.add_all([Membership(workspace_id=ws.id, user_id=u.id, role="clipper") for u in users])
        campaigns = [
            ClipperCampaign(
                workspace_id=ws.id,
                name=name,
                brief="",
                platforms=["tiktok"],
                currency="USD",
                budget_minor=budget,
                rate_per_1000_minor=200,
                min_views=100,
                max_per_submission_minor=20_000,
                pay_views_before_approval=False,
                status="active",
                spent_minor=0,
            )
            for name, budget in (("small budget", small_budget), ("large budget", 10**12))
        ]
        session.add_all(campaigns)
        await session.flush()
        ws_id, campaign_ids, user_ids = ws.id, [c.id for c in campaigns], [u.id for u in users]
    for start in range(0, len(urls), 5_000):
        async with session_scope() as session:
            rows = []
            for i, (vid, url) in enumerate(urls[start : start + 5_000], start=start):
                earlier = world.stats(vid, time.time() - 3 * 3600)
                baseline = earlier.views if earlier else 0
                rows.append(
                    ClipperSubmission(
                        workspace_id=ws_id,
                        campaign_id=campaign_ids[i % 2],
                        clipper_id=user_ids[i % len(user_ids)],
                        platform="tiktok",
                        url=url,
                        submitted_url=url,
                        video_id=str(vid),
                        status="approved",
                        baseline_views=baseline,
                        peak_views=baseline,
                        last_views=baseline,
                        approved_at=now - timedelta(seconds=len(urls) - i),
                    )
                )
            session.add_all(rows)
    return ws_id, campaign_ids


async def run_baseline(urls: list[str], parallel: int = 5, gap_s: float = 1.0) -> tuple[int, float]:
    """The seed's loop: one run-sync request per URL, 1 s between calls, `parallel` workers."""
    from reelflow.adapters.apify import ApifyClient

    client = ApifyClient()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for url in urls:
        queue.put_nowait(url)
    done = 0

    async def worker() -> None:
        nonlocal done
        while not queue.empty():
            url = queue.get_nowait()
            try:
                await client.run_sync({"postURLs": [url], "resultsPerPage": 1})
            except Exception:
                pass
            done += 1
            await asyncio.sleep(gap_s)

    t0 = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(parallel)))
    return done, time.perf_counter() - t0


async def overspend(campaign_ids: list[uuid.UUID]) -> tuple[int, list[dict[str, Any]]]:
    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.clippers import ClippersRepository

    total = 0
    details = []
    async with session_scope() as session:
        repo = ClippersRepository(session)
        for cid in campaign_ids:
            campaign = await repo.lock_campaign(cid)
            assert campaign is not None
            credited = sum((await repo.credited_by_submission(cid)).values())
            total += max(0, credited - campaign.budget_minor) + abs(credited - campaign.spent_minor)
            details.append(
                {
                    "budget_minor": campaign.budget_minor,
                    "credited_minor": credited,
                    "spent_minor": campaign.spent_minor,
                    "status": campaign.status,
                }
            )
    return total, details


async def main_async(args: argparse.Namespace) -> dict[str, Any]:
    import httpx

    from reelflow import composition
    from reelflow.errors import Retryable
    from reelflow.logs import configure_logging
    from reelflow.services.clippers_tracking import track_views
    from reelflow.settings import get_settings
    from reelflow.storage.db import dispose_engine, session_scope

    configure_logging("WARNING", False)
    urls = sandbox_urls(args.submissions + args.baseline_sample, seed=11)
    print(f"seeding {args.submissions:,} approved submissions ...", flush=True)
    ws, campaigns = await seed(urls[: args.submissions], args.clippers, args.small_budget)

    print(f"baseline on a sample of {args.baseline_sample} URLs (run-sync each, 1 s apart, 5 parallel) ...", flush=True)
    base_done, base_s = await run_baseline([u for _, u in urls[args.submissions :]])
    base_rate = base_done / base_s if base_s else 0.0
    print(f"   {base_done} URLs in {base_s:.1f} s → {base_rate:.2f} submissions/s", flush=True)

    print(f"tracking round (batches of {args.batch_size}, {args.concurrency} runs in flight) ...", flush=True)
    platforms = composition.clipper_platforms()
    job_key = f"bench:{uuid.uuid4()}"
    attempts = 0
    t0 = time.perf_counter()
    while True:  # what the job runtime does with a Retryable: the same job key again, after its delay
        attempts += 1
        try:
            result = await track_views(
                session_scope,
                ws,
                job_key,
                runs=platforms.tiktok,
                youtube=platforms.youtube,
                batch_size=args.batch_size,
                concurrency=args.concurrency,
            )
            break
        except Retryable as exc:
            if attempts >= args.max_attempts:
                raise
            delay = exc.retry_after or 1.0
            print(
                f"   attempt {attempts} raised {exc.code} ({exc.detail[:120]}); retrying in {delay:.1f} s", flush=True
            )
            await asyncio.sleep(delay)
    seconds = time.perf_counter() - t0
    sandbox_url = get_settings().sandbox_base_url()
    async with httpx.AsyncClient(timeout=60) as http:  # paid runs as the platform counted them, all attempts
        started = (await http.get(f"{sandbox_url}/sandbox/events", params={"kind": "apify.run.start"})).json()
    runs_started = len(started)
    rate = args.submissions / seconds if seconds else 0.0
    print(
        f"   {result.submissions:,} submissions in {seconds:.1f} s → {rate:,.1f}/s; runs started "
        f"{runs_started} (last attempt {result.runs_started}), failed {result.runs_failed}; "
        f"readings {result.readings:,}, stopped "
        f"{result.stopped}, credited {result.credited_minor:,} minor units",
        flush=True,
    )
    over, details = await overspend(campaigns)
    await dispose_engine()
    ratio = rate / base_rate if base_rate else float("inf")
    print(f"ratio {ratio:,.1f}×; overspend {over} minor units; campaigns {details}")
    return {
        "submissions": result.submissions,
        "seconds": round(seconds, 2),
        "runs_started": runs_started,
        "attempts": attempts,
        "submissions_per_s": round(rate, 2),
        "baseline_submissions": base_done,
        "baseline_seconds": round(base_s, 2),
        "baseline_submissions_per_s": round(base_rate, 3),
        "ratio": round(ratio, 1),
        "overspend_minor_units": over,
        "readings": result.readings,
        "stopped": result.stopped,
        "runs_failed": result.runs_failed,
        "credited_minor": result.credited_minor,
        "campaigns": details,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "apify_run_seconds": args.run_seconds,
        "apify_run_seconds_per_url": args.run_seconds_per_url,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--submissions", type=int, default=20_000)
    parser.add_argument("--baseline-sample", type=int, default=20)
    parser.add_argument("--clippers", type=int, default=200)
    parser.add_argument("--small-budget", type=int, default=500_000, help="minor units of the campaign that runs out")
    parser.add_argument("--batch-size", type=int, default=50)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--run-seconds", type=float, default=10.0, help="simulated Apify run start-up time")
    parser.add_argument("--run-seconds-per-url", type=float, default=0.2, help="simulated Apify time per URL")
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--max-attempts", type=int, default=5, help="round attempts, as the job runtime retries")
    add_latency_args(parser)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    info = run_info()
    import httpx

    with tempfile.TemporaryDirectory(prefix="reelflow-bench-") as tmp_name:
        stack = start_stack(Path(tmp_name), args, REELFLOW_CLIPPERS__RUN_POLL_SECONDS=str(args.poll_seconds))
        httpx.post(
            f"{stack.url}/sandbox/config",
            json={"apify_run_seconds": args.run_seconds, "apify_run_seconds_per_url": args.run_seconds_per_url},
            timeout=5,
        ).raise_for_status()
        try:
            figures = asyncio.run(main_async(args))
            figures["sandbox_latency"] = sandbox_latency_report(stack.url)
        finally:
            stack.stop()
    figures = {**finish_info(info), "latency_model": latency_info(args), **figures}
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2, default=str))
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
