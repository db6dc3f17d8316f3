"""One ads metrics collector round against the sandbox: Reelflow's collector vs the seed's.

    python bench/ads_metrics.py [--accounts 200] [--ads 500] [--days 7] [--concurrency 16]
                                [--baseline-accounts 10] [--[no-]latency] [--latency-seed N]
                                [--latency-scale X] [--json PATH]

Starts an embedded Postgres and Redis (temporary folder, real migrations) and the sandbox
(`reelflow sandbox` in a subprocess), seeds `accounts` advertisers with `ads` delivering
ads each (one authorization), stores them as ad accounts, then in the same run:
- Reelflow: `services.ads.collect_all_metrics` — every account, `concurrency` at a time,
  AUCTION_AD × day for `days` days, every page (1000 rows; the pages after the first asked
  for together), upserted per ad per day in one statement; the adapter paces its calls per
  endpoint under the platform's windows (`RateLimit.within_window`), so few 40100s are drawn; one that
  comes anyway is retried after the platform's delay;
- the seed's approach: accounts one after another, the same report and upsert, retries at
  fixed 2/5/10 s, on the first `baseline-accounts` accounts (a sample, compared by rate).
The sandbox runs with its latency and rate-limit model (`reelflow/sandbox/latency.py`, on by
default): Business reports take a log-normal 900 ms median / 4 s p99, and each token may make
10 requests a second and 600 a minute per endpoint (over it → 40100 with a Retry-After).
Prints accounts, rows, seconds, API calls, rows/s, the baseline's rows/s and the ratio, and
the CPU seconds each side cost this process, the sandbox and Postgres (`cpu_s` in the JSON).
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
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import (  # noqa: E402 (after the path setup)
    add_latency_args,
    cpu_delta,
    cpu_snapshot,
    finish_info,
    latency_info,
    run_info,
    sandbox_latency_report,
    start_stack,
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def report_calls(sandbox_url: str) -> int:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=60) as http:
        response = await http.get("/sandbox/requests", params={"path": "/tiktok-business/open_api/v1.3/report/*"})
        return len(response.json())


async def setup(args: argparse.Namespace, sandbox_url: str) -> tuple[list[uuid.UUID], str]:
    """Seed the sandbox and store every advertiser as an ad account; returns their ids."""
    from sqlalchemy import text

    from reelflow.adapters.tiktok.business import tiktok_ads
    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.ads import AdsRepository

    async with httpx.AsyncClient(base_url=sandbox_url, timeout=600) as http:
        seeded = (
            await http.post(
                "/tiktok-business/_sandbox/seed",
                json={"advertisers": args.accounts, "ads": args.ads, "days_ago": args.days + 1},
            )
        ).json()
    token = await tiktok_ads(None).exchange_auth_code(seeded["auth_code"])
    workspace_id = uuid.uuid4()
    ids = []
    async with session_scope() as session:
        await session.execute(text("INSERT INTO workspaces (id, name) VALUES (:id, 'Bench')"), {"id": workspace_id})
        repo = AdsRepository(session)
        connection = await repo.add_connection(
            workspace_id=workspace_id,
            created_by=None,
            access_token=token.access_token,
            refresh_token=None,
            expires_at=None,
            refresh_expires_at=None,
            scope=[],
            advertisers=[{"advertiser_id": a} for a in token.advertiser_ids],
        )
        for advertiser_id in token.advertiser_ids:
            account = await repo.upsert_account(
                workspace_id,
                {
                    "connection_id": connection.id,
                    "advertiser_id": advertiser_id,
                    "name": advertiser_id,
                    "currency": "USD",
                    "timezone": "Etc/GMT",
                    "advertiser_status": "STATUS_ENABLE",
                    "identity_id": None,
                    "identity_type": None,
                },
            )
            ids.append(account.id)
    return ids, token.access_token


async def baseline(args: argparse.Namespace, sandbox_url: str, accounts: list[uuid.UUID], token: str) -> dict[str, Any]:
    """The seed's collector: accounts in sequence, fixed retries at 2/5/10 s, 60 s per call."""
    from reelflow.adapters.tiktok.business_wire import parse_report_row
    from reelflow.services.ads import REPORT_METRICS, metric_rows
    from reelflow.storage.db import session_scope
    from reelflow.storage.models.ads import AdAccount
    from reelflow.storage.repositories.ads import AdsRepository

    today = datetime.now(UTC).date()
    first = today - timedelta(days=args.days - 1)
    rows_written = calls = 0
    started = time.monotonic()
    async with httpx.AsyncClient(base_url=sandbox_url + "/tiktok-business/open_api/v1.3", timeout=60) as http:
        for account_id in accounts:
            async with session_scope() as session:
                account = await session.get(AdAccount, account_id)
                assert account is not None
                advertiser_id, workspace_id = account.advertiser_id, account.workspace_id
            items: list[dict[str, Any]] = []
            page = 1
            while True:
                params = {
                    "advertiser_id": advertiser_id,
                    "report_type": "BASIC",
                    "service_type": "AUCTION",
                    "data_level": "AUCTION_AD",
                    "dimensions": json.dumps(["ad_id", "stat_time_day"]),
                    "metrics": json.dumps(REPORT_METRICS),
                    "start_date": first.isoformat(),
                    "end_date": today.isoformat(),
                    "page": page,
                    "page_size": 1000,
                }
                body: dict[str, Any] = {}
                for delay in (2, 5, 10, None):
                    calls += 1
                    try:
                        response = await http.get(
                            "/report/integrated/get/", params=params, headers={"Access-Token": token}
                        )
                        body = response.json()
                        if body.get("code") == 0:
                            break
                    except httpx.HTTPError:
                        pass
                    if delay is None:
                        raise RuntimeError(f"baseline gave up on {advertiser_id}: {body}")
                    await asyncio.sleep(delay)
                items.extend(body["data"]["list"])
                if page >= int(body["data"]["page_info"]["total_page"] or 0):
                    break
                page += 1
            rows = metric_rows([parse_report_row(i, "USD") for i in items], "USD")
            async with session_scope() as session:
                rows_written += await AdsRepository(session).upsert_metrics(workspace_id, account_id, "tiktok", rows)
    seconds = time.monotonic() - started
    return {
        "accounts": len(accounts),
        "rows": rows_written,
        "seconds": round(seconds, 3),
        "api_calls": calls,
        "rows_per_s": round(rows_written / seconds, 1) if seconds else 0.0,
    }


async def run(args: argparse.Namespace, sandbox_url: str) -> dict[str, Any]:
    from reelflow.adapters.tiktok.business import tiktok_ads
    from reelflow.services.ads import collect_all_metrics

    accounts, token = await setup(args, sandbox_url)
    calls_before = await report_calls(sandbox_url)
    cpu_start = cpu_snapshot(args.sandbox_pid, args.pg_dir)
    started = time.monotonic()
    summary = await collect_all_metrics(ads_factory=tiktok_ads, concurrency=args.concurrency)
    seconds = time.monotonic() - started
    cpu_mid = cpu_snapshot(args.sandbox_pid, args.pg_dir)
    api_calls = await report_calls(sandbox_url) - calls_before
    failed = [r for r in summary["results"] if r.get("error")]
    base = await baseline(args, sandbox_url, accounts[: args.baseline_accounts], token)
    cpu_end = cpu_snapshot(args.sandbox_pid, args.pg_dir)
    rows_per_s = summary["rows"] / seconds if seconds else 0.0
    return {
        "accounts": summary["accounts"],
        "ads_per_account": args.ads,
        "days": args.days,
        "rows": summary["rows"],
        "seconds": round(seconds, 3),
        "api_calls": api_calls,
        "rows_per_s": round(rows_per_s, 1),
        "baseline_rows_per_s": base["rows_per_s"],
        "ratio": round(rows_per_s / base["rows_per_s"], 2) if base["rows_per_s"] else None,
        "failed_accounts": len(failed),
        "failures": sorted({str(r["error"])[:200] for r in failed})[:5],
        "concurrency": args.concurrency,
        "latency_model": latency_info(args),
        "sandbox_latency": sandbox_latency_report(sandbox_url),
        "baseline": base,
        # CPU seconds per side (this process, the sandbox, Postgres): where a slow side's time went
        "cpu_s": {"reelflow": cpu_delta(cpu_start, cpu_mid), "baseline": cpu_delta(cpu_mid, cpu_end)},
        "full_round_estimate_s": round(seconds * (200 * 500) / max(1, summary["accounts"] * args.ads), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=200)
    parser.add_argument("--ads", type=int, default=500)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--concurrency", type=int, default=16)
    add_latency_args(parser)
    parser.add_argument("--baseline-accounts", type=int, default=10)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    info = run_info()

    from cryptography.fernet import Fernet

    from reelflow.logs import configure_logging

    workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-ads-"))
    stack = start_stack(
        workdir,
        args,
        sandbox_only=True,
        REELFLOW_LOG__LEVEL="ERROR",
        REELFLOW_ENV="dev",
        REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        REELFLOW_HTTP__MAX_ATTEMPTS=os.environ.get("REELFLOW_HTTP__MAX_ATTEMPTS", "8"),
    )
    configure_logging("ERROR")
    sandbox_url = stack.url
    args.sandbox_pid, args.pg_dir = stack.sandbox.pid, workdir / "postgres"
    try:
        result = asyncio.run(run(args, sandbox_url))
    finally:
        stack.stop()
    result = {**finish_info(info), **result}
    print(
        f"accounts {result['accounts']} × {args.ads} ads × {args.days} days: {result['rows']} rows "
        f"in {result['seconds']:.1f} s, {result['api_calls']} API calls, {result['rows_per_s']:.0f} rows/s "
        f"({result['failed_accounts']} accounts failed)"
    )
    base = result["baseline"]
    print(f"CPU seconds (bench process, sandbox, Postgres): {result['cpu_s']}")
    print(
        f"seed's approach on {base['accounts']} accounts: {base['rows']} rows in {base['seconds']:.1f} s, "
        f"{base['api_calls']} calls, {base['rows_per_s']:.0f} rows/s → ratio {result['ratio']}"
    )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
