"""Stats for many videos through the Research adapter: batched vs one request per video.

    python bench/adapters.py [--videos 10000] [--sample 50] [--concurrency 8] [--json PATH]
                             [--latency/--no-latency] [--latency-seed N]

Starts its own sandbox (`reelflow sandbox` in a subprocess, on a free port; the latency and
rate-limit model on by default) and an embedded Redis (so the adapter's quota accounting runs
through its Lua scripts, on fresh counters), then, in the same run:
- batched: `ResearchClient.fetch_stats(ids)` for all ids (100 ids per request, bounded
  concurrency);
- sequential: `fetch_stats([id])` one id at a time for a sample of the ids (same code path,
  one request per video), compared by rate.
Prints requests/s, videos/s, the ratio and client-side p50/p99 request latency.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import (  # noqa: E402
    add_latency_args,
    finish_info,
    latency_info,
    run_info,
    sandbox_latency_report,
    start_sandbox,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_ids(count: int, days: int = 60) -> list[str]:
    """TikTok-style ids (creation time in the top 32 bits) spread over the last `days` days."""
    now = int(datetime.now(UTC).timestamp())
    step = days * 86_400 // count
    return [str(((now - 600 - i * step) << 32) | ((i * 2_654_435_761) & 0xFFFFFFFF)) for i in range(count)]


def percentile(values: list[float], pct: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


class Timings:
    """Client-side latency of every research query, via httpx event hooks."""

    def __init__(self) -> None:
        self.latencies_ms: list[float] = []
        self.requests = 0

    async def on_request(self, request: httpx.Request) -> None:
        request.extensions["bench_started"] = time.perf_counter()

    async def on_response(self, response: httpx.Response) -> None:
        started = response.request.extensions.get("bench_started")
        if started is not None and "/research/video/query/" in response.request.url.path:
            self.latencies_ms.append((time.perf_counter() - started) * 1000)
            self.requests += 1

    def reset(self) -> None:
        self.latencies_ms.clear()
        self.requests = 0


async def run(args: argparse.Namespace, sandbox_url: str) -> dict[str, Any]:
    from reelflow.adapters.httpclient import get_http_client
    from reelflow.adapters.tiktok.research import ResearchClient

    timings = Timings()
    client = get_http_client()
    client.event_hooks["request"].append(timings.on_request)
    client.event_hooks["response"].append(timings.on_response)

    ids = make_ids(args.videos)
    research = ResearchClient(concurrency=args.concurrency)
    await research.token()
    await research.fetch_stats(ids[:200])  # warm up: connections, the sandbox's code paths
    timings.reset()

    started = time.perf_counter()
    stats = await research.fetch_stats(ids)
    batched_s = time.perf_counter() - started
    batched_requests = timings.requests
    batched_p50, batched_p99 = percentile(timings.latencies_ms, 50), percentile(timings.latencies_ms, 99)

    timings.reset()
    sample = ids[:: max(1, len(ids) // args.sample)][: args.sample]
    started = time.perf_counter()
    found = 0
    for video_id in sample:
        found += len(await research.fetch_stats([video_id]))
    sequential_s = time.perf_counter() - started
    sequential_p99 = percentile(timings.latencies_ms, 99)

    batched_vps = len(ids) / batched_s
    sequential_vps = len(sample) / sequential_s
    return {
        "videos": len(ids),
        "videos_with_stats": len(stats),
        "batched_seconds": round(batched_s, 3),
        "batched_requests": batched_requests,
        "batched_requests_per_s": round(batched_requests / batched_s, 1),
        "batched_videos_per_s": round(batched_vps, 1),
        "concurrency": args.concurrency,
        "p50_ms": round(batched_p50, 1),
        "p99_ms": round(batched_p99, 1),
        "sequential_sample": len(sample),
        "sequential_found": found,
        "sequential_seconds": round(sequential_s, 3),
        "sequential_videos_per_s": round(sequential_vps, 1),
        "sequential_requests_per_s": round(len(sample) / sequential_s, 1),
        "sequential_p99_ms": round(sequential_p99, 1),
        "ratio": round(batched_vps / sequential_vps, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=10_000)
    parser.add_argument("--sample", type=int, default=50, help="videos fetched one request each")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here as JSON")
    add_latency_args(parser)
    args = parser.parse_args()
    info = run_info()

    from reelflow.logs import configure_logging
    from reelflow.settings import reset_settings_cache
    from reelflow.storage.embedded import start_redis

    configure_logging("WARNING")
    workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-adapters-"))
    redis_proc, redis_url = start_redis(workdir / "redis")
    port = free_port()
    sandbox_url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REELFLOW_SANDBOX__URL": sandbox_url, "REELFLOW_ENV": "dev", "REDIS_URL": redis_url}
    for key in list(env):  # the bench talks to its own sandbox, never to configured real hosts
        if key.startswith("REELFLOW_") and key.endswith(("_BASE_URL", "_AUTH_URL")):
            env.pop(key)
    os.environ.clear()
    os.environ.update(env)
    reset_settings_cache()
    sandbox = start_sandbox(port, env, latency=args.latency, seed=args.latency_seed, scale=args.latency_scale)
    try:
        # the Research API's daily quotas in the sandbox too (the adapter enforces its own)
        httpx.post(f"{sandbox_url}/sandbox/config", json={"enforce_rate_limits": True}, timeout=5).raise_for_status()
        result = asyncio.run(run(args, sandbox_url))
        result["sandbox_latency"] = sandbox_latency_report(sandbox_url)
    finally:
        sandbox.terminate()
        sandbox.wait(timeout=10)
        if redis_proc is not None:
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
    result = {**finish_info(info), "latency_model": latency_info(args), **result}
    latency_note = "latency model on" if args.latency else "latency model off"
    print(f"Adapters benchmark: Research API stats for {result['videos']:,} videos via the sandbox ({latency_note})")
    print(
        f"  batched    : {result['batched_videos_per_s']:>9,.0f} videos/s  "
        f"{result['batched_requests_per_s']:>7,.1f} req/s"
        f"  ({result['batched_requests']} requests of ≤100 ids, concurrency {result['concurrency']}, "
        f"{result['batched_seconds']} s; p50 {result['p50_ms']} ms, p99 {result['p99_ms']} ms)"
    )
    print(
        f"  sequential : {result['sequential_videos_per_s']:>9,.0f} videos/s  "
        f"{result['sequential_requests_per_s']:>7,.1f} req/s  (one request per video, sample of "
        f"{result['sequential_sample']}; p99 {result['sequential_p99_ms']} ms)"
    )
    print(f"  ratio      : {result['ratio']}× more videos/s batched")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
