"""One ads autopilot round against the sandbox: N ad accounts × M ad groups.

    python bench/autopilot.py [--accounts 500] [--adgroups 200] [--ads-per-adgroup 1]
                              [--target-cpl 1200] [--concurrency 32] [--report-share 0.0]
                              [--[no-]latency] [--latency-seed N] [--latency-scale X] [--json PATH]

Starts an embedded Postgres and Redis (temporary folder, real migrations) and the sandbox
(`reelflow sandbox` in a subprocess, latency and rate-limit model on by default: Business API
reads ~350 ms median, 10 requests/s and 600/min per endpoint per app), seeds `accounts`
advertisers with `adgroups` ad groups of `ads-per-adgroup` ads delivering for 8 days (one
authorization), stores them as ad accounts with autopilot on (the first `report-share` of them
report only) and one direction each owning the campaign (target CPL `target-cpl` minor units),
collects their metrics once (the hourly collector's job, timed apart), then times one round:
`services.autopilot.run_round` — per account: the platform's ad groups and ads, the stored
history, scores, the deterministic decision with its guard rails, each action applied
through the ads actions path (`ctx.once`), the execution record and the report (Telegram not
configured: reports stay in the API).
Prints accounts, ad groups scored, seconds, decisions/s (ad groups and ads scored per second),
actions proposed and applied, the round's Business requests per account (per path in the JSON:
`round_requests_by_path`, with the 429s) and its CPU per account (bench process, sandbox,
Postgres: `round_cpu_ms_per_account`).

Then, unless `--webhooks 0`, the lead-webhook half of the issue's benchmark: `bench/leads.py`
in a subprocess on a stack of its own (`--webhooks` signed webhooks by `--clients` keep-alive
clients, then every lead qualified), after the round's stack has stopped so the two never share
the cores. Its keys `webhooks`, `webhooks_per_s`, `webhook_p99_ms`, `duplicate_leads` and
`duplicate_events` join the JSON at the top level; its whole result is under `leads`.
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
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import (  # noqa: E402
    add_latency_args,
    cpu_delta,
    cpu_snapshot,
    finish_info,
    latency_info,
    run_info,
    sandbox_latency_report,
    start_stack,
)


async def setup(args: argparse.Namespace, sandbox_url: str) -> list[uuid.UUID]:
    """Seed the sandbox, store every advertiser as an ad account with a direction; their ids."""
    from sqlalchemy import text

    from reelflow.adapters.tiktok.business import tiktok_ads
    from reelflow.storage.db import session_scope
    from reelflow.storage.repositories.ads import AdsRepository

    async with httpx.AsyncClient(base_url=sandbox_url, timeout=1800) as http:
        seeded = (
            await http.post(
                "/tiktok-business/_sandbox/seed",
                json={
                    "advertisers": args.accounts,
                    "ads": args.adgroups * args.ads_per_adgroup,
                    "ads_per_adgroup": args.ads_per_adgroup,
                    "adgroup_budget": 100.0,
                    "days_ago": 8,
                },
            )
        ).json()
    token = await tiktok_ads(None).exchange_auth_code(seeded["auth_code"])
    campaigns = dict(zip(seeded["advertiser_ids"], seeded["campaign_ids"], strict=True))
    workspace_id = uuid.uuid4()
    ids = []
    report_only = int(args.accounts * args.report_share)
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
        for index, advertiser_id in enumerate(token.advertiser_ids):
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
                    "autopilot": index >= report_only,
                    "autopilot_reports": True,
                },
            )
            await repo.add_direction(
                workspace_id,
                {
                    "ad_account_id": account.id,
                    "name": "Bench leads",
                    "platform": "tiktok",
                    "objective": "lead_generation",
                    "daily_budget_minor": 100_00,
                    "currency": "USD",
                    "target_cpl_minor": args.target_cpl,
                    "adgroup_mode": "create_new",
                    "tiktok_campaign_id": campaigns[advertiser_id],
                },
            )
            ids.append(account.id)
    return ids


async def last_seq(sandbox_url: str) -> int:
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=120) as http:
        seen = (await http.get("/sandbox/requests", params={"limit": 1})).json()
    return int(seen[-1]["seq"]) if seen else 0


async def requests_since(sandbox_url: str, since: int) -> dict[str, dict[str, int]]:
    """Business API requests the sandbox saw after `since`, per method and path: how many,
    and how many of them it answered 429 (rate limited)."""
    out: dict[str, dict[str, int]] = {}
    async with httpx.AsyncClient(base_url=sandbox_url, timeout=600) as http:
        rows = (
            await http.get(
                "/sandbox/requests", params={"path": "/tiktok-business/*", "since": since, "limit": 10_000_000}
            )
        ).json()
    for row in rows:
        key = f"{row['method']} {row['path'].removeprefix('/tiktok-business/open_api/v1.3')}"
        entry = out.setdefault(key, {"requests": 0, "limited": 0})
        entry["requests"] += 1
        entry["limited"] += row.get("fault") == "rate_limited"
    return dict(sorted(out.items()))


async def run(args: argparse.Namespace, sandbox_url: str) -> dict[str, Any]:
    from reelflow.adapters.tiktok.business import tiktok_ads
    from reelflow.services.ads_metrics import collect_all_metrics
    from reelflow.services.autopilot import run_round

    accounts = await setup(args, sandbox_url)
    started = time.monotonic()
    collected = await collect_all_metrics(ads_factory=tiktok_ads, concurrency=args.concurrency)
    collect_seconds = time.monotonic() - started

    since = await last_seq(sandbox_url)
    cpu_start = cpu_snapshot(args.sandbox_pid, args.pg_dir)
    started = time.monotonic()
    results = await run_round(accounts, ads_factory=tiktok_ads, telegram=None, concurrency=args.concurrency)
    seconds = time.monotonic() - started
    cpu = cpu_delta(cpu_start, cpu_snapshot(args.sandbox_pid, args.pg_dir))
    by_path = await requests_since(sandbox_url, since)
    writes = sum(v["requests"] for k, v in by_path.items() if k.startswith("POST") and "update" in k)
    round_requests = sum(v["requests"] for v in by_path.values())
    limited = sum(v["limited"] for v in by_path.values())

    from sqlalchemy import select

    from reelflow.storage.db import session_scope
    from reelflow.storage.models.autopilot import AutopilotExecution

    async with session_scope() as session:
        executions = list(await session.scalars(select(AutopilotExecution)))
    adgroups = sum(int((e.inputs or {}).get("adgroups", 0)) for e in executions)
    ads = sum(int((e.inputs or {}).get("ads", 0)) for e in executions)
    proposed = sum(len(e.proposed or []) for e in executions)
    applied = sum(1 for e in executions for a in e.applied or [] if a.get("status") == "succeeded")
    failed_actions = sum(1 for e in executions for a in e.applied or [] if a.get("status") != "succeeded")
    failed = [r for r in results if r.get("error") or r.get("status") == "failed"]
    verdicts: dict[str, int] = {}
    for e in executions:
        for verdict, n in ((e.inputs or {}).get("adgroup_verdicts") or {}).items():
            verdicts[verdict] = verdicts.get(verdict, 0) + int(n)
    durations = sorted(e.duration_ms or 0 for e in executions)
    return {
        "accounts": len(accounts),
        "adgroups_per_account": args.adgroups,
        "ads_per_adgroup": args.ads_per_adgroup,
        "round_seconds": round(seconds, 3),
        "adgroups_scored": adgroups,
        "ads_scored": ads,
        "decisions": adgroups + ads,
        "decisions_per_s": round((adgroups + ads) / seconds, 1) if seconds else 0.0,
        "actions_proposed": proposed,
        "actions_applied": applied,
        "actions_failed": failed_actions,
        "platform_write_requests": writes,  # status and budget updates sent, 429 retries included
        "failed_accounts": len(failed),
        "failures": sorted({str(r.get("error") or r)[:200] for r in failed})[:5],
        "verdicts": dict(sorted(verdicts.items())),
        "account_ms_p50": durations[len(durations) // 2] if durations else None,
        "account_ms_max": durations[-1] if durations else None,
        "round_requests": round_requests,  # Business API requests of the round, 429s included
        "round_rate_limited": limited,
        "requests_per_account": round(round_requests / max(1, len(accounts)), 2),
        "round_requests_by_path": by_path,
        "round_seconds_per_account": round(seconds / max(1, len(accounts)), 3),
        "round_cpu_s": cpu,  # CPU seconds of the round: this process (bench), sandbox, postgres
        "round_cpu_ms_per_account": {k: round(v * 1000 / max(1, len(accounts)), 1) for k, v in cpu.items()},
        "collect_seconds": round(collect_seconds, 3),
        "collect_rows": collected["rows"],
        "concurrency": args.concurrency,
        "target_cpl_minor": args.target_cpl,
        "latency_model": latency_info(args),
        "sandbox_latency": sandbox_latency_report(sandbox_url),
        "full_round_estimate_s": round(seconds * 500 / max(1, len(accounts)), 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0] if __doc__ else None)
    parser.add_argument("--accounts", type=int, default=500)
    parser.add_argument("--adgroups", type=int, default=200)
    parser.add_argument("--ads-per-adgroup", type=int, default=1)
    parser.add_argument("--target-cpl", type=int, default=12_00, help="direction target CPL, USD cents")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--report-share", type=float, default=0.0, help="share of accounts in report-only mode")
    add_latency_args(parser)
    parser.add_argument("--webhooks", type=int, default=5000, help="lead webhooks posted after the round; 0 skips")
    parser.add_argument("--clients", type=int, default=50, help="concurrent webhook clients")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    info = run_info()

    from cryptography.fernet import Fernet

    from reelflow.logs import configure_logging

    workdir = Path(tempfile.mkdtemp(prefix="reelflow-bench-autopilot-"))
    stack = start_stack(
        workdir,
        args,
        sandbox_only=True,
        REELFLOW_LOG__LEVEL="ERROR",
        REELFLOW_ENV="dev",
        REELFLOW_SECRETS__TOKEN_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        REELFLOW_HTTP__MAX_ATTEMPTS=os.environ.get("REELFLOW_HTTP__MAX_ATTEMPTS", "8"),
        REELFLOW_DB__POOL_SIZE=os.environ.get("REELFLOW_DB__POOL_SIZE", "40"),
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
        f"autopilot round: {result['accounts']} accounts × {args.adgroups} ad groups "
        f"({result['adgroups_scored']} ad groups + {result['ads_scored']} ads scored) in "
        f"{result['round_seconds']:.1f} s → {result['decisions_per_s']:.0f} decisions/s; "
        f"{result['actions_proposed']} actions proposed, {result['actions_applied']} applied "
        f"({result['actions_failed']} failed, {result['failed_accounts']} accounts failed); "
        f"metrics collected first in {result['collect_seconds']:.1f} s; "
        f"{result['requests_per_account']} Business requests per account ({result['round_rate_limited']} "
        f"rate limited in all), CPU ms per account {result['round_cpu_ms_per_account']}"
    )
    if args.webhooks > 0:
        leads = _lead_webhooks(args.webhooks, args.clients)
        result.update({key: leads.get(key) for key in LEAD_KEYS})
        result["leads"] = leads
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


LEAD_KEYS = ("webhooks", "webhooks_per_s", "webhook_p99_ms", "duplicate_leads", "duplicate_events")


def _lead_webhooks(webhooks: int, clients: int) -> dict[str, Any]:
    """Run bench/leads.py on its own stack and return its JSON."""
    out = Path(tempfile.mkdtemp(prefix="reelflow-bench-autopilot-leads-")) / "leads.json"
    command = [sys.executable, str(ROOT / "bench" / "leads.py"), "--webhooks", str(webhooks)]
    command += ["--clients", str(clients), "--json", str(out)]
    subprocess.run(command, check=True)
    leads: dict[str, Any] = json.loads(out.read_text())
    return leads


if __name__ == "__main__":
    raise SystemExit(main())
