"""HTTP API under load: the busiest reads and /readyz, beside a bare Litestar app as the ceiling.

    python bench/api.py [--duration 30] [--clients 20] [--workers 1] [--json PATH]

Starts embedded Postgres and Redis in a temp folder, runs the migrations, then serves two apps
the same way, one after the other in the same run: uvicorn, `--workers` processes (default 1),
`--factory`, log level warning (no access log), HTTP/1.1 on loopback:
- the Reelflow API (`reelflow.web.app:create_app`), with one workspace holding `--rules` rules
  (created through `POST /monitoring/rules`), `--videos` tracked videos and `--projects`
  projects (written with the repositories; no jobs run);
- a bare Litestar app whose one handler returns `{"ok": true}` (the ceiling: what uvicorn,
  Litestar and this client reach on this machine when the handler does nothing).

For each endpoint in turn — rules list, videos list, projects list, /readyz, then the hello
handler — `--clients` keep-alive connections (one coroutine each, a minimal HTTP/1.1 client on
raw asyncio streams, so the client costs little CPU) send requests back to back for
`--duration` seconds (after a 2 s warm-up). Lists use their default page (50 items). Printed
per endpoint: requests/s, p50/p99 latency, non-2xx answers. The client shares the machine's
cores with the server.

JSON (`--json PATH`): rules_rps, rules_p99_ms, readyz_rps, readyz_p99_ms, ceiling_rps, and the
same for videos_/projects_, p50s, errors, plus machine, date, command and load average.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import finish_info, processes_cpu_s, run_info, serve  # noqa: E402

API = "/api/v1"
ENDPOINTS: list[tuple[str, str]] = [
    ("rules", f"{API}/monitoring/rules"),
    ("videos", f"{API}/monitoring/videos"),
    ("projects", f"{API}/projects"),
    ("readyz", "/readyz"),
]


# --- the ceiling: a bare Litestar app ------------------------------------------------------


def hello_app() -> Any:
    """`uvicorn --factory api:hello_app`: one handler that does nothing."""
    from litestar import Litestar, get

    @get("/hello", sync_to_thread=False)
    def hello() -> dict[str, bool]:
        return {"ok": True}

    return Litestar(route_handlers=[hello], openapi_config=None)


# --- a small keep-alive HTTP/1.1 client ----------------------------------------------------


class Connection:
    """One keep-alive connection; `get(path)` returns the status (body read and dropped)."""

    def __init__(self, host: str, port: int, headers: dict[str, str]) -> None:
        self.host, self.port = host, port
        extra = "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self._head = f"Host: {host}:{port}\r\nConnection: keep-alive\r\n{extra}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except OSError:
                pass
            self.reader = self.writer = None

    async def get(self, path: str) -> int:
        if self.writer is None:
            await self._connect()
        assert self.reader is not None and self.writer is not None
        self.writer.write(f"GET {path} HTTP/1.1\r\n{self._head}".encode())
        await self.writer.drain()
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        fields = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            fields[name.strip().lower()] = value.strip()
        if "content-length" in fields:
            await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        if fields.get("connection", "").lower() == "close":
            await self.close()
        return status


def percentile(ordered: list[float], pct: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, round(pct / 100 * (len(ordered) - 1)))]


async def load(
    port: int, path: str, headers: dict[str, str], *, clients: int, duration: float, warmup: float
) -> dict[str, Any]:
    """`clients` connections sending `GET path` back to back; figures over `duration` seconds."""
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    failures = 0
    sent = 0  # every answered request, warm-up included (for the server's CPU per request)
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration

    async def client() -> None:
        nonlocal failures, sent
        conn = Connection("127.0.0.1", port, headers)
        try:
            while True:
                t0 = time.perf_counter()
                if t0 >= stop_at:
                    return
                try:
                    status = await conn.get(path)
                except (OSError, asyncio.IncompleteReadError, ValueError):
                    failures += 1
                    await conn.close()
                    await asyncio.sleep(0.01)
                    continue
                t1 = time.perf_counter()
                sent += 1
                if t0 >= measure_from:
                    latencies.append(t1 - t0)
                    statuses[status] = statuses.get(status, 0) + 1
        finally:
            await conn.close()

    await asyncio.gather(*(client() for _ in range(clients)))
    latencies.sort()
    done = len(latencies)
    ok = sum(n for s, n in statuses.items() if 200 <= s < 300)
    return {
        "path": path,
        "requests": done,
        "rps": round(done / duration, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
        "non_2xx": done - ok,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "connection_errors": failures,
        "requests_sent": sent,
    }


# --- the stack -----------------------------------------------------------------------------


def stop(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def sign_up(base: str, sink: Any) -> tuple[str, uuid.UUID]:
    """A workspace and its owner's token through the API: sign-up mails a link (to the
    bench's SMTP sink) whose redemption gives the first token."""
    from reelflow.sandbox.mail import sign_up as sign_up_by_mail

    async def run() -> dict[str, Any]:
        async with httpx.AsyncClient(base_url=base, timeout=30) as api:
            email = f"bench-{uuid.uuid4().hex[:8]}@example.com"
            return await sign_up_by_mail(api, sink, email=email, workspace_name="Bench")

    out = asyncio.run(run())
    return str(out["token"]["token"]), uuid.UUID(str(out["workspace"]["id"]))


def seed(base: str, token: str, workspace_id: uuid.UUID, args: argparse.Namespace) -> None:
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for i in range(args.rules):
            body = {"name": f"rule {i}", "kind": "keyword", "values": [f"topic{i}", "fitness"], "active": False}
            client.post(f"{API}/monitoring/rules", json=body).raise_for_status()
    asyncio.run(_seed_rows(workspace_id, args.videos, args.projects))


async def _seed_rows(workspace_id: uuid.UUID, videos: int, projects: int) -> None:
    from reelflow.storage.db import dispose_engine, session_scope
    from reelflow.storage.repositories.clipping import ClippingRepository
    from reelflow.storage.repositories.monitoring import MonitoringRepository, VideoRow

    now = datetime.now(UTC)
    rows = [
        VideoRow(
            platform_video_id=str(7_300_000_000_000_000_000 + i),
            username=None,
            description=f"video {i} #fitness",
            hashtags=["fitness"],
            region=None,
            duration_s=None,
            url=None,
            posted_at=now - timedelta(minutes=i),
            views=1000 + i,
            likes=100,
            comments=10,
            shares=5,
            saves=1,
        )
        for i in range(videos)
    ]
    async with session_scope() as session:
        await MonitoringRepository(session).upsert_videos(
            workspace_id, "tiktok", rows, {}, next_check_at=now + timedelta(hours=1), observed_at=now
        )
    async with session_scope() as session:
        repo = ClippingRepository(session)
        for i in range(projects):
            await repo.create_project(
                workspace_id=workspace_id, created_by=None, title=f"project {i}", status="failed",
                source_kind="url", source_url=f"https://example.com/video{i}.mp4", options={},
            )  # fmt: skip
    await dispose_engine()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=30.0, help="seconds measured per endpoint")
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--rules", type=int, default=60)
    parser.add_argument("--videos", type=int, default=2000)
    parser.add_argument("--projects", type=int, default=60)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--workers", type=int, default=1, help="uvicorn worker processes for both apps (WEB_CONCURRENCY on Heroku)"
    )
    args = parser.parse_args()
    info = run_info()

    from reelflow.logs import configure_logging
    from reelflow.settings import reset_settings_cache
    from reelflow.storage.embedded import free_port, start_postgres, start_redis
    from reelflow.storage.migrate import upgrade

    configure_logging("WARNING")
    figures: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="reelflow-bench-api-") as tmp:
        work = Path(tmp)
        pg, database_url = start_postgres(work / "postgres", cleanup_mode="delete")
        redis_proc, redis_url = start_redis(work / "redis")
        from reelflow.sandbox.mail import MailSink

        sink = MailSink(port=free_port()).start()
        env = {
            **os.environ,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "REELFLOW_MAIL__HOST": sink.host,
            "REELFLOW_MAIL__PORT": str(sink.port),
            "REELFLOW_ENV": "dev",
            "REELFLOW_DATA_DIR": str(work / "data"),
            "REELFLOW_LOG__LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
        }
        os.environ.update(env)
        reset_settings_cache()
        procs: list[subprocess.Popen[bytes]] = []
        try:
            upgrade("head")
            api_port = free_port()
            api = serve("reelflow.web.app:create_app", api_port, env, workers=args.workers)
            procs.append(api)
            base = f"http://127.0.0.1:{api_port}"
            token, workspace_id = sign_up(base, sink)
            seed(base, token, workspace_id, args)
            headers = {"Authorization": f"Bearer {token}"}
            results: dict[str, Any] = {}
            for name, path in ENDPOINTS:
                print(f"{name}: {args.clients} clients × {args.duration:g} s on GET {path} …", flush=True)
                cpu_before = processes_cpu_s([api])
                results[name] = asyncio.run(
                    load(api_port, path, headers, clients=args.clients, duration=args.duration, warmup=args.warmup)
                )
                results[name]["server_cpu_ms_per_request"] = round(
                    (processes_cpu_s([api]) - cpu_before) * 1000 / max(1, results[name]["requests_sent"]), 2
                )
                results[name]["load_average"] = list(os.getloadavg())
                _print(name, results[name])
            stop(api)
            procs.remove(api)

            hello_port = free_port()
            hello = serve("api:hello_app", hello_port, env, app_dir=ROOT / "bench", workers=args.workers)
            procs.append(hello)
            print(f"ceiling: {args.clients} clients × {args.duration:g} s on a bare Litestar handler …", flush=True)
            cpu_before = processes_cpu_s([hello])
            results["ceiling"] = asyncio.run(
                load(hello_port, "/hello", {}, clients=args.clients, duration=args.duration, warmup=args.warmup)
            )
            results["ceiling"]["server_cpu_ms_per_request"] = round(
                (processes_cpu_s([hello]) - cpu_before) * 1000 / max(1, results["ceiling"]["requests_sent"]), 2
            )
            results["ceiling"]["load_average"] = list(os.getloadavg())
            _print("ceiling", results["ceiling"])
        finally:
            for proc in procs:
                stop(proc)
            sink.stop()
            if redis_proc is not None:
                redis_proc.terminate()
                redis_proc.wait(timeout=10)
            pg.cleanup()

    for name in ("rules", "videos", "projects", "readyz"):
        figures[f"{name}_rps"] = results[name]["rps"]
        figures[f"{name}_p50_ms"] = results[name]["p50_ms"]
        figures[f"{name}_p99_ms"] = results[name]["p99_ms"]
        figures[f"{name}_non_2xx"] = results[name]["non_2xx"]
        figures[f"{name}_server_cpu_ms"] = results[name]["server_cpu_ms_per_request"]
    figures["ceiling_rps"] = results["ceiling"]["rps"]
    figures["ceiling_p99_ms"] = results["ceiling"]["p99_ms"]
    figures["ceiling_server_cpu_ms"] = results["ceiling"]["server_cpu_ms_per_request"]
    out = {
        **finish_info(info),
        "clients": args.clients,
        "workers": args.workers,
        "duration_s": args.duration,
        "seeded": {"rules": args.rules, "videos": args.videos, "projects": args.projects},
        **figures,
        "endpoints": results,
    }
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


def _print(name: str, r: dict[str, Any]) -> None:
    bad = f", {r['non_2xx']} non-2xx {r['statuses']}" if r["non_2xx"] else ""
    errors = f", {r['connection_errors']} connection errors" if r["connection_errors"] else ""
    cpu = f"   server CPU {r['server_cpu_ms_per_request']:.2f} ms/request" if "server_cpu_ms_per_request" in r else ""
    line = f"   {r['rps']:>8,.1f} req/s   p50 {r['p50_ms']:.1f} ms   p99 {r['p99_ms']:.1f} ms"
    print(f"{line}{cpu}{bad}{errors}", flush=True)


if __name__ == "__main__":
    raise SystemExit(main())
