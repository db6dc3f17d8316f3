"""Demo step: the ads autopilot on the sandbox ad account of the ads step — a round in
report-only mode (decisions with their reasons, nothing applied, the report in Telegram),
then, with a tighter target CPL and autopilot on, a round that acts through the ads
actions path (the platform's answers recorded)."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from reelflow.demo import Demo

CHAT_ID = "-1001234567890"  # a sandbox Telegram group


async def _run(demo: Demo, account_id: str, key: str, limit_s: float = 180) -> dict[str, Any]:
    started = await demo.client.post(
        f"/api/v1/ads/accounts/{account_id}/autopilot/run", headers={"Idempotency-Key": key}
    )
    started.raise_for_status()
    run_id = started.json()["id"]
    began = time.monotonic()
    while True:
        run = (await demo.client.get(f"/api/v1/jobs/{run_id}")).json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        if time.monotonic() - began > limit_s:
            raise RuntimeError(f"autopilot run {run_id} still {run['status']} after {limit_s:.0f} s")
        await asyncio.sleep(0.5)
    if run["status"] != "succeeded":
        raise RuntimeError(f"autopilot run {run_id} {run['status']}: {run.get('error')}")
    execution_id = run["result"]["execution_id"]
    return dict((await demo.client.get(f"/api/v1/ads/autopilot/executions/{execution_id}")).json())


def _print_execution(demo: Demo, execution: dict[str, Any]) -> None:
    inputs = execution["inputs"]
    demo.say(
        f"execution {execution['id']} ({execution['mode']}, proposer {execution['proposer']}, "
        f"{execution['duration_ms']} ms): {inputs.get('adgroups')} ad groups, {inputs.get('ads')} ads scored, "
        f"verdicts {inputs.get('adgroup_verdicts')}"
    )
    for score in inputs.get("adgroup_scores", [])[:5]:
        demo.say(
            f"  ad group {score['adgroup_id']}: {score['verdict']}, score {score['score']}, "
            f"CPL/target {score['cpl_ratio']}"
        )
    if not execution["proposed"]:
        demo.say("  decision: no action needed")
    for action in execution["proposed"]:
        demo.say(f"  decision: {action['kind']} {action['target_id']} {action['params'] or ''}".rstrip())
        demo.say(f"    because {action['reason']}")
    for skipped in execution["skipped"]:
        demo.say(f"  guard rail: {skipped['kind']} {skipped['target_id']} dropped — {skipped['why']}")
    for applied in execution["applied"]:
        demo.say(
            f"  applied: {applied['kind']} {applied['target_id']} → {applied['status']}, "
            f"platform answer {applied.get('answer')}"
        )
    for error in execution["errors"]:
        demo.say(f"  note: {error}")


async def run(demo: Demo) -> None:
    demo.section("Ads autopilot: score, decide, report only, then act")
    accounts = (await demo.client.get("/api/v1/ads/accounts")).json()
    if not accounts:
        demo.say("no ad account (the ads step did not run): skipped")
        return
    account = accounts[0]
    directions = (
        await demo.client.get("/api/v1/ads/directions", params={"platform": "tiktok", "ad_account_id": account["id"]})
    ).json()["items"]
    async with httpx.AsyncClient() as http:  # another day of delivery, then a fresh pull
        await http.post(f"{demo.sandbox_url}/sandbox/clock", json={"advance": 18 * 3600})
    job = await demo.client.post(f"/api/v1/ads/accounts/{account['id']}/collect")
    job.raise_for_status()
    for _ in range(360):
        if (await demo.client.get(f"/api/v1/jobs/{job.json()['id']}")).json()["status"] in ("succeeded", "failed"):
            break
        await asyncio.sleep(0.5)

    patched = await demo.client.patch(
        f"/api/v1/ads/accounts/{account['id']}",
        json={"autopilot": False, "autopilot_reports": True, "telegram_chat_id": CHAT_ID},
    )
    patched.raise_for_status()
    demo.say(f"account {account['name']}: autopilot off, reports on, Telegram chat {CHAT_ID}")
    report_only = await _run(demo, account["id"], f"demo-autopilot-report-{account['id']}")
    _print_execution(demo, report_only)

    if directions:
        direction = directions[0]
        tighter = max(1, (direction["target_cpl_minor"] or 800) // 4)
        await demo.client.patch(f"/api/v1/ads/directions/{direction['id']}", json={"target_cpl_minor": tighter})
        demo.say(
            f"the team tightens “{direction['name']}” target CPL {direction['target_cpl_minor']} → {tighter} "
            "(minor units) and turns autopilot on"
        )
    await demo.client.patch(f"/api/v1/ads/accounts/{account['id']}", json={"autopilot": True})
    acting = await _run(demo, account["id"], f"demo-autopilot-act-{account['id']}")
    _print_execution(demo, acting)

    reports = (
        await demo.client.get("/api/v1/ads/autopilot/reports", params={"ad_account_id": account["id"], "limit": 2})
    ).json()["items"]
    for report in reversed(reports):
        demo.say(
            f"report ({report['mode']}): Telegram {report['telegram_status']} "
            f"(messages {report['telegram_message_ids']}), {len(report['text'])} characters"
        )
    if reports:
        demo.say("last report, as sent:")
        for line in reports[0]["text"].splitlines()[:12]:
            demo.say(f"  | {line}")
