"""Lead webhooks under load, then qualifying every lead: duplicates stored and events sent.

    python bench/leads.py [--webhooks 5000] [--clients 50] [--duplicates 0.1] [--repeats 0.1]
                          [--workers 2] [--api-workers N] [--no-qualify] [--json PATH]

Starts embedded Postgres and Redis in a temp folder, runs the migrations, the sandbox (no
latency model: the Events API answers at once), the Reelflow API (uvicorn, `--api-workers`
processes: default `$WEB_CONCURRENCY`, else 1; the Procfile's uvicorn reads `WEB_CONCURRENCY`
too) and `--workers` `reelflow worker --queues high,default`
processes; posting starts once the workers are registered (their start-up is not measured).
Through the API it signs up, connects a sandbox ad account (Business OAuth) and creates a
direction with the sandbox pixel.

1. **Webhooks.** `--webhooks` signed lead webhooks (`x-tiktok-signature`, HMAC-SHA256) are
   POSTed by `--clients` concurrent keep-alive connections (a minimal HTTP/1.1 client on raw
   asyncio streams); a `--duplicates` share of them are redeliveries of an earlier lead (the
   same body, signed again), posted while the original may still be in flight. Measured:
   accepted (HTTP 200) per second over the posting wall time, p50/p99 latency, errors, and
   the CPU the API processes spent per webhook (`api_cpu_ms_per_webhook`, load-independent).
2. **Mapping.** The workers' `leads.drain_inbox` jobs map every lead; the run waits until every
   unique lead is in `leads`. `duplicate_leads` = rows beyond one per (workspace, lead id) in
   `leads` plus rows beyond one per lead id in `lead_inbox` (must be 0).
3. **Qualifying.** Every lead is PATCHed to `qualified`, and a `--repeats` share of them a
   second time (shuffled in, so some repeats race the first), by the same number of clients;
   the run waits until every event in the log is `sent` or `failed`. `duplicate_events` = log rows beyond one per (lead,
   event) plus events the sandbox's Events API accepted beyond one per lead (must be 0).

JSON (`--json PATH`): webhooks, webhooks_per_s, webhook_p99_ms, duplicate_leads,
duplicate_events, plus unique leads, duplicates posted, p50, errors, ingest and event
timings, events sent/failed, machine, date, command and load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import cpu_delta, cpu_snapshot, finish_info, processes_cpu_s, run_info, serve, start_sandbox  # noqa: E402

API = "/api/v1"
WEBHOOK = f"{API}/webhooks/tiktok/leads"


class Connection:
    """One keep-alive HTTP/1.1 connection; `request` returns (status, body)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.reader = self.writer = None

    async def request(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None and self.writer is not None
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        head = (
            f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{self.port}\r\nConnection: keep-alive\r\n"
            f"Content-Length: {len(body)}\r\n{extra}\r\n"
        )
        self.writer.write(head.encode() + body)
        await self.writer.drain()
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        content = b""
        if "content-length" in fields:
            content = await self.reader.readexactly(int(fields["content-length"]))
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status, content


def percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def fan_out(
    port: int,
    jobs: list[tuple[str, str, bytes, dict[str, str]]],
    clients: int,
    sign: Callable[[bytes], dict[str, str]] | None = None,
    trace: list[tuple[float, float, int, int]] | None = None,
) -> tuple[list[float], dict[int, int], int, float]:
    """Send `jobs` over `clients` connections: (latencies, statuses, connection errors, wall s).
    `sign` adds headers made just before sending (a webhook signature carries the time);
    `trace` collects (start offset s, latency s, status, client) per request."""
    queue: asyncio.Queue[tuple[str, str, bytes, dict[str, str]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0
    started = time.perf_counter()

    async def client(index: int) -> None:
        nonlocal failures
        conn = Connection(port)
        try:
            while True:
                try:
                    method, path, body, headers = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                if sign is not None:
                    headers = {**headers, **sign(body)}
                t0 = time.perf_counter()
                try:
                    status, _ = await conn.request(method, path, body, headers)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    failures += 1
                    await conn.close()
                    continue
                latencies.append(time.perf_counter() - t0)
                statuses[status] = statuses.get(status, 0) + 1
                if trace is not None:
                    trace.append((t0 - started, latencies[-1], status, index))
        finally:
            await conn.close()

    await asyncio.gather(*(client(i) for i in range(clients)))
    return sorted(latencies), statuses, failures, time.perf_counter() - started


def _start(args: list[str], env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "reelflow.cli", *args],
        cwd=ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_workers(count: int, redis_url: str, limit_s: float = 120.0) -> float:
    """Seconds until `count` RQ workers are registered: the posting phase measures webhooks
    with the workers mapping, not the workers' own start-up (imports, services) beside them."""
    import redis
    from rq import Worker

    started = time.monotonic()
    connection = redis.Redis.from_url(redis_url)
    try:
        while Worker.count(connection=connection) < count:
            if time.monotonic() - started > limit_s:
                raise RuntimeError(f"{count} workers did not start within {limit_s:.0f} s")
            time.sleep(0.2)
    finally:
        connection.close()
    return time.monotonic() - started


def _setup(base: str, sandbox_url: str, sink: Any) -> tuple[dict[str, str], dict[str, Any]]:
    """Owner token headers and the ad account (with a direction carrying the sandbox pixel)."""
    from reelflow.sandbox.mail import sign_up
    from reelflow.settings import get_settings

    async def owner_token() -> str:
        async with httpx.AsyncClient(base_url=base, timeout=60) as api:
            out = await sign_up(api, sink, email="bench-leads@example.com", workspace_name="Bench")
        return str(out["token"]["token"])

    with httpx.Client(base_url=base, timeout=60) as client:
        headers = {"Authorization": f"Bearer {asyncio.run(owner_token())}"}
        client.headers.update(headers)
        state = client.get(f"{API}/oauth/tiktok-business/start").json()["state"]
        issued = httpx.post(f"{sandbox_url}/tiktok-business/_sandbox/auth_code", json={"currency": "KZT"}).json()
        connection = client.get(
            f"{API}/oauth/tiktok-business/callback", params={"state": state, "auth_code": issued["auth_code"]}
        )
        connection.raise_for_status()
        accounts = client.post(
            f"{API}/ads/accounts",
            json={"connection_id": connection.json()["id"], "advertiser_ids": issued["advertiser_ids"]},
        )
        accounts.raise_for_status()
        account = accounts.json()[0]
        made = client.post(
            f"{API}/ads/directions",
            json={
                "ad_account_id": account["id"],
                "name": "Bench leads",
                "platform": "tiktok",
                "objective": "lead_generation",
                "daily_budget_minor": 5_000_00,
                "pixel_id": get_settings().credential("tiktok_pixel_code"),
            },
        )
        made.raise_for_status()
    return headers, account


def _bodies(advertiser_id: str, unique: int, duplicates: int, seed: int) -> list[bytes]:
    """`unique` lead bodies plus `duplicates` redeliveries of earlier ones, in posting order."""
    rng = random.Random(seed)
    now = int(time.time())
    bodies = [
        json.dumps(
            {
                "lead_id": str(7_300_000_000_000_000_000 + i),
                "advertiser_id": advertiser_id,
                "page_id": "7200000000000000001",
                "create_time": now,
                "ttclid": f"E.C.P.bench{i}",
                "fields": {
                    "full_name": f"Lead {i}",
                    "phone_number": f"+7 701 {i:07d}",
                    "email": f"lead{i}@example.com",
                },
            }
        ).encode()
        for i in range(unique)
    ]
    order = list(bodies)
    for _ in range(duplicates):  # a redelivery lands somewhere after its original
        original = rng.randrange(unique)
        order.insert(rng.randrange(original + 1, len(order) + 1), bodies[original])
    return order


async def _wait_for(check: Any, what: str, limit_s: float) -> float:
    started = time.monotonic()
    while not await check():
        if time.monotonic() - started > limit_s:
            raise RuntimeError(f"{what} not done after {limit_s:.0f} s")
        await asyncio.sleep(0.5)
    return time.monotonic() - started


async def _counts() -> dict[str, int]:
    from sqlalchemy import text

    from reelflow.storage.db import session_scope

    queries = {
        "leads": "SELECT count(*) FROM leads",
        "lead_dups": "SELECT count(*) - count(DISTINCT (workspace_id, platform, platform_lead_id)) FROM leads",
        "inbox_dups": "SELECT count(*) - count(DISTINCT (platform, lead_id)) FROM lead_inbox",
        "events": "SELECT count(*) FROM lead_events",
        "event_dups": "SELECT count(*) - count(DISTINCT (lead_id, event)) FROM lead_events",
        "events_open": "SELECT count(*) FROM lead_events WHERE status NOT IN ('sent', 'failed')",
        "events_sent": "SELECT count(*) FROM lead_events WHERE status = 'sent'",
        "events_failed": "SELECT count(*) FROM lead_events WHERE status = 'failed'",
    }
    async with session_scope() as session:
        return {name: int(await session.scalar(text(sql)) or 0) for name, sql in queries.items()}


async def _lead_ids(port: int, headers: dict[str, str]) -> list[str]:
    ids: list[str] = []
    cursor: str | None = None
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
        while True:
            params: dict[str, Any] = {"limit": 200, **({"cursor": cursor} if cursor else {})}
            page = (await client.get(f"{API}/ads/leads", params=params)).json()
            ids += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if not cursor:
                return ids


async def run(
    args: argparse.Namespace,
    port: int,
    sandbox_url: str,
    headers: dict[str, str],
    account: Any,
    api: list[subprocess.Popen[bytes]],
    workers: list[subprocess.Popen[bytes]],
    pg_dir: Path,
) -> Any:
    from reelflow.adapters.webhooks import sign_tiktok
    from reelflow.services.leads import webhook_secret
    from reelflow.settings import get_settings
    from reelflow.storage.db import dispose_engine

    duplicates = round(args.webhooks * args.duplicates)
    unique = args.webhooks - duplicates
    secret = webhook_secret(get_settings())
    bodies = _bodies(account["advertiser_id"], unique, duplicates, args.seed)
    jobs = [("POST", WEBHOOK, body, {"Content-Type": "application/json"}) for body in bodies]

    def signed(body: bytes) -> dict[str, str]:  # signed when sent, as TikTok does
        return {"x-tiktok-signature": sign_tiktok(secret, body, int(time.time()))}

    print(f"webhooks: {len(jobs)} ({unique} leads + {duplicates} redeliveries) by {args.clients} clients …")
    api_cpu, workers_cpu, others = processes_cpu_s(api), processes_cpu_s(workers), cpu_snapshot(None, pg_dir)
    trace: list[tuple[float, float, int, int]] = []
    latencies, statuses, failures, wall = await fan_out(port, jobs, args.clients, signed, trace)
    if args.trace:
        args.trace.write_text("".join(f"{a:.4f},{b * 1000:.2f},{c},{d}\n" for a, b, c, d in trace))
    api_cpu, workers_cpu = processes_cpu_s(api) - api_cpu, processes_cpu_s(workers) - workers_cpu
    others = cpu_delta(others, cpu_snapshot(None, pg_dir))
    accepted = statuses.get(200, 0)
    hooks = {
        "webhooks": len(jobs),
        "unique_leads": unique,
        "duplicates_posted": duplicates,
        "accepted": accepted,
        "webhook_seconds": round(wall, 2),
        "webhooks_per_s": round(accepted / wall, 1),
        "webhook_p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "webhook_p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "webhook_max_ms": round(latencies[-1] * 1000, 2) if latencies else 0.0,
        "webhook_statuses": {str(k): v for k, v in sorted(statuses.items())},
        "webhook_connection_errors": failures,
        # CPU of the API processes (all uvicorn workers) per webhook, and of the job workers
        # (mapping at the same time) during the posting phase: independent of the load.
        "api_processes": args.api_workers,
        "api_cpu_ms_per_webhook": round(api_cpu * 1000 / max(1, len(jobs)), 2),
        "workers_cpu_s_during_webhooks": round(workers_cpu, 2),
        "postgres_cpu_ms_per_webhook": round(others.get("postgres", 0.0) * 1000 / max(1, len(jobs)), 2),
        "client_cpu_ms_per_webhook": round(others.get("bench", 0.0) * 1000 / max(1, len(jobs)), 2),
        "load_average_after_webhooks": list(os.getloadavg()),
    }
    print(
        f"   {hooks['webhooks_per_s']} accepted/s, p50 {hooks['webhook_p50_ms']} ms, p99 {hooks['webhook_p99_ms']} ms"
        f"; CPU per webhook: API {hooks['api_cpu_ms_per_webhook']} ms, Postgres {hooks['postgres_cpu_ms_per_webhook']}"
        f" ms, client {hooks['client_cpu_ms_per_webhook']} ms; workers {hooks['workers_cpu_s_during_webhooks']} s"
    )

    async def mapped() -> bool:
        return bool((await _counts())["leads"] >= unique)

    workers_cpu = processes_cpu_s(workers)
    ingest_s = await _wait_for(mapped, "mapping every lead", args.wait)
    hooks["workers_cpu_s_after_webhooks"] = round(processes_cpu_s(workers) - workers_cpu, 2)
    print(f"   every lead mapped {ingest_s:.1f} s after the last webhook")
    if not args.qualify:
        counts = await _counts()
        await dispose_engine()
        return {
            **hooks,
            "leads_stored": counts["leads"],
            "mapping_seconds_after_last_webhook": round(ingest_s, 1),
            "duplicate_leads": counts["lead_dups"] + counts["inbox_dups"],
            "duplicate_events": counts["event_dups"],
        }
    ids = await _lead_ids(port, headers)
    auth = {**headers, "Content-Type": "application/json"}
    patch = json.dumps({"status": "qualified"}).encode()
    # Every lead once, and a `--repeats` share of them a second time, shuffled in (repeats in flight).
    rng = random.Random(args.seed + 1)
    order = ids + rng.sample(ids, round(len(ids) * args.repeats))
    rng.shuffle(order)
    patches = [("PATCH", f"{API}/ads/leads/{lead}", patch, auth) for lead in order]
    print(f"qualifying: {len(patches)} PATCHes ({len(patches) - len(ids)} repeats) by {args.clients} clients …")
    api_cpu = processes_cpu_s(api)
    p_lat, p_statuses, p_failures, p_wall = await fan_out(port, patches, args.clients)
    api_cpu = processes_cpu_s(api) - api_cpu

    async def drained() -> bool:
        counts = await _counts()
        return bool(counts["events"] >= len(ids) and counts["events_open"] == 0)

    events_s = await _wait_for(drained, "sending every event", args.wait)
    counts = await _counts()
    async with httpx.AsyncClient(timeout=120) as http:
        inspect = (await http.get(f"{sandbox_url}/tiktok-business/_sandbox/inspect")).json()
    accepted_by_platform = len(inspect["events"])
    deduplicated_by_platform = sum(int(r.get("deduplicated", 0)) for r in inspect["event_requests"])
    await dispose_engine()
    return {
        **hooks,
        "leads_stored": counts["leads"],
        "mapping_seconds_after_last_webhook": round(ingest_s, 1),
        "duplicate_leads": counts["lead_dups"] + counts["inbox_dups"],
        "patches": len(patches),
        "patch_seconds": round(p_wall, 2),
        "patches_per_s": round(len(patches) / p_wall, 1),
        "patch_p50_ms": round(percentile(p_lat, 50) * 1000, 2),
        "patch_p99_ms": round(percentile(p_lat, 99) * 1000, 2),
        "api_cpu_ms_per_patch": round(api_cpu * 1000 / max(1, len(patches)), 2),
        "patch_statuses": {str(k): v for k, v in sorted(p_statuses.items())},
        "patch_connection_errors": p_failures,
        "events_logged": counts["events"],
        "events_sent": counts["events_sent"],
        "events_failed": counts["events_failed"],
        "events_seconds_after_last_patch": round(events_s, 1),
        "events_accepted_by_platform": accepted_by_platform,
        "events_deduplicated_by_platform": deduplicated_by_platform,
        "duplicate_events": counts["event_dups"] + max(0, accepted_by_platform - len(ids)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--webhooks", type=int, default=5000, help="webhooks posted, redeliveries included")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--duplicates", type=float, default=0.1, help="share of webhooks that are redeliveries")
    parser.add_argument("--repeats", type=float, default=0.1, help="share of leads qualified a second time")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--api-workers",
        type=int,
        default=int(os.environ.get("WEB_CONCURRENCY", "1")),
        help="uvicorn worker processes for the API (default: $WEB_CONCURRENCY, else 1; the Procfile's uvicorn "
        "reads WEB_CONCURRENCY too). With 2 the kernel hands the 50 keep-alive connections out unevenly",
    )
    parser.add_argument(
        "--qualify",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="phase 3, qualifying every lead (--no-qualify: webhooks and mapping only)",
    )
    parser.add_argument("--trace", type=Path, default=None, help="CSV per webhook: start s, latency ms, status, client")
    parser.add_argument("--wait", type=float, default=900.0, help="most seconds to wait for jobs to drain")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    info = run_info()

    from reelflow.logs import configure_logging
    from reelflow.settings import env_for_children, get_settings, reset_settings_cache
    from reelflow.storage.embedded import free_port, start_postgres, start_redis
    from reelflow.storage.migrate import upgrade

    configure_logging("WARNING")
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-leads-") as tmp:
        work = Path(tmp)
        pg, database_url = start_postgres(work / "postgres", cleanup_mode="delete")
        redis_proc, redis_url = start_redis(work / "redis")
        sandbox_port = free_port()
        sandbox_url = f"http://127.0.0.1:{sandbox_port}"
        from reelflow.sandbox.mail import MailSink

        sink = MailSink(port=free_port()).start()  # sign-up mails its link here
        os.environ.update(
            {
                "REELFLOW_MAIL__HOST": sink.host,
                "REELFLOW_MAIL__PORT": str(sink.port),
                "DATABASE_URL": database_url,
                "REDIS_URL": redis_url,
                "REELFLOW_ENV": "dev",
                "REELFLOW_DATA_DIR": str(work / "data"),
                "REELFLOW_LOG__LEVEL": "WARNING",
                "REELFLOW_SANDBOX__URL": sandbox_url,
                # Leads touch no blobs. Without a blob URL every `reelflow worker` starts its own
                # embedded SeaweedFS in the shared data folder: two at once collide, one worker
                # dies (weed exits 255) and the run maps with one worker beside a weed process.
                "REELFLOW_BLOB_URL": f"file://{work / 'blobs'}",
            }
        )
        reset_settings_cache()
        env = {**os.environ, **env_for_children(get_settings()), "PYTHONPATH": str(ROOT)}
        procs: list[subprocess.Popen[bytes]] = []
        try:
            upgrade("head")
            procs.append(start_sandbox(sandbox_port, env, latency=False))
            port = free_port()
            api = serve("reelflow.web.app:create_app", port, env, workers=args.api_workers)
            procs.append(api)
            workers = [_start(["worker", "--queues", "high,default"], env) for _ in range(args.workers)]
            procs += workers
            headers, account = _setup(f"http://127.0.0.1:{port}", sandbox_url, sink)
            _wait_workers(args.workers, redis_url)
            figures = asyncio.run(run(args, port, sandbox_url, headers, account, [api], workers, work / "postgres"))
        finally:
            for proc in reversed(procs):
                _stop(proc)
            sink.stop()
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(timeout=10)
            pg.cleanup()
    out = {
        **finish_info(info),
        "clients": args.clients,
        "workers": args.workers,
        **figures,
    }
    print(
        f"   duplicate leads {out['duplicate_leads']}, events sent {out.get('events_sent')} "
        f"(failed {out.get('events_failed')}), duplicate events {out['duplicate_events']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
