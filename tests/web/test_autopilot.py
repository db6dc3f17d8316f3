"""The ads autopilot end to end: a seeded sandbox advertiser (ad groups delivering for a week),
connected through the real OAuth API, its metrics collected, scored and decided by the real
jobs; report-only applies nothing, act mode applies within the guard rails, a failure after
the platform call never applies an action twice, Telegram gets one message per run, and the
executions and reports are readable (workspace-scoped) over the API."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlalchemy import text

from tests.web.test_ads import API, _sandbox, inspect, kinds

TARGET_CPL = 1_00  # 1 USD: every seeded ad group is far above it (a loser)


async def seeded_account(
    client: Any,
    who: Any,
    sandbox: Any,
    session: Any,
    *,
    adgroups: int = 3,
    ads_per_adgroup: int = 2,
    target_cpl_minor: int = TARGET_CPL,
    **patch: Any,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A sandbox advertiser with `adgroups` ad groups delivering for 8 days, connected as an ad
    account, with a direction owning its campaign; `patch` goes to PATCH /ads/accounts/{id}."""
    seeded = await _sandbox(
        sandbox,
        "POST",
        "/tiktok-business/_sandbox/seed",
        json={
            "advertisers": 1,
            "ads": adgroups * ads_per_adgroup,
            "ads_per_adgroup": ads_per_adgroup,
            "adgroup_budget": 100.0,
            "days_ago": 8,
        },
    )
    start = (await client.get("/api/v1/oauth/tiktok-business/start", headers=who.headers)).json()
    callback = await client.get(
        "/api/v1/oauth/tiktok-business/callback", params={"state": start["state"], "auth_code": seeded["auth_code"]}
    )
    assert callback.status_code == 201, callback.text
    picked = await client.post(
        "/api/v1/ads/accounts",
        json={"connection_id": callback.json()["id"], "advertiser_ids": seeded["advertiser_ids"]},
        headers=who.headers,
    )
    assert picked.status_code == 201, picked.text
    account = picked.json()[0]
    created = await client.post(
        "/api/v1/ads/directions",
        json={
            "ad_account_id": account["id"],
            "name": "Seeded leads",
            "platform": "tiktok",
            "objective": "lead_generation",
            "daily_budget_minor": 100_00,
            "target_cpl_minor": target_cpl_minor,
        },
        headers=who.headers,
    )
    assert created.status_code == 201, created.text
    direction = created.json()["items"][0]
    # The seeded campaign belongs to the direction (as a launch would have recorded it).
    await session.execute(
        text("UPDATE ad_directions SET tiktok_campaign_id = :c WHERE id = :id"),
        {"c": seeded["campaign_ids"][0], "id": direction["id"]},
    )
    await session.commit()
    if patch:
        patched = await client.patch(f"/api/v1/ads/accounts/{account['id']}", json=patch, headers=who.headers)
        assert patched.status_code == 200, patched.text
        account = patched.json()
    return account, direction


async def run_now(client: Any, who: Any, account_id: str, run_jobs: Any, **headers: str) -> dict[str, Any]:
    response = await client.post(f"/api/v1/ads/accounts/{account_id}/autopilot/run", headers={**who.headers, **headers})
    assert response.status_code == 202, response.text
    await run_jobs()
    run = (await client.get(f"/api/v1/jobs/{response.json()['id']}", headers=who.headers)).json()
    assert run["status"] == "succeeded", run
    return dict(run)


async def telegram_messages(sandbox: Any) -> list[dict[str, Any]]:
    async with httpx.AsyncClient(base_url=sandbox.url) as http:
        return list((await http.get("/telegram/_sandbox/messages")).json())


def changed_ids(requests: list[dict[str, Any]]) -> list[str]:
    """The entities the given write requests changed, one entry per id per request (a status
    update may carry several ids)."""
    out: list[str] = []
    for request in requests:
        body = request["body"] if isinstance(request["body"], dict) else {}
        for key in ("campaign_ids", "adgroup_ids", "ad_ids"):
            out += [str(i) for i in body.get(key) or []]
        if request["path"].rstrip("/").endswith("/adgroup/update"):
            out.append(str(body.get("adgroup_id")))
    return out


async def changes(sandbox: Any) -> list[str]:
    """Every change to campaigns, ad groups and ads the sandbox received (one entry per
    entity per write request)."""
    out = []
    for path in ("adgroup/status/update", "ad/status/update", "adgroup/update", "campaign/status/update"):
        out += await sandbox.requests(f"{API}/{path}*", method="POST")
    return changed_ids(out)


async def test_report_only_applies_nothing_and_reports_to_telegram(
    client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    owner = await signup()
    account, _ = await seeded_account(
        client, owner, sandbox, session, autopilot_reports=True, telegram_chat_id="-100123"
    )
    assert account["autopilot"] is False and account["autopilot_reports"] is True
    run = await run_now(client, owner, account["id"], run_jobs)
    assert run["result"]["mode"] == "report" and run["result"]["applied"] == 0

    executions = (await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()
    [execution] = executions["items"]
    assert execution["mode"] == "report" and execution["status"] == "succeeded"
    assert execution["proposer"] == "deterministic" and execution["trigger"] == "manual"
    assert execution["inputs"]["adgroups"] == 3 and execution["inputs"]["adgroup_verdicts"] == {"loser": 3}
    assert execution["inputs"]["collected"]["rows"] > 0  # never collected → collected first
    assert [a["kind"] for a in execution["proposed"]] == ["pause_adgroup"] * 3
    for action in execution["proposed"]:  # a reason with the figures behind it
        assert "× the target" in action["reason"] or "no lead after spending" in action["reason"]
        assert action["figures"]["spend_minor"] > 0 and action["figures"]["target_cpl_minor"] == TARGET_CPL
    assert execution["applied"] == [] and execution["duration_ms"] is not None
    assert await changes(sandbox) == []  # report-only: nothing touched the platform
    rows = await session.execute(text("SELECT count(*) FROM ad_actions"))
    assert rows.scalar_one() == 0

    reports = (await client.get("/api/v1/ads/autopilot/reports", headers=owner.headers)).json()
    [report] = reports["items"]
    assert report["execution_id"] == execution["id"] and report["telegram_status"] == "sent"
    assert "report only" in report["text"] and "Pause ad group" in report["text"]
    [message] = await telegram_messages(sandbox)
    assert message["chat"]["id"] == "-100123" and message["message_id"] in report["telegram_message_ids"]
    assert "TIKTOK" in message["text"]

    one = await client.get(f"/api/v1/ads/autopilot/executions/{execution['id']}", headers=owner.headers)
    assert one.status_code == 200 and one.json()["id"] == execution["id"]
    # Another workspace sees none of it.
    other = await signup()
    assert (
        await client.get(f"/api/v1/ads/autopilot/executions/{execution['id']}", headers=other.headers)
    ).status_code == 404
    assert (await client.get("/api/v1/ads/autopilot/executions", headers=other.headers)).json()["items"] == []
    assert (await client.get("/api/v1/ads/autopilot/reports", headers=other.headers)).json()["items"] == []
    refused = await client.post(f"/api/v1/ads/accounts/{account['id']}/autopilot/run", headers=other.headers)
    assert refused.status_code == 404


async def test_act_mode_applies_within_guard_rails_and_skips_recent_human_edits(
    client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    owner = await signup()
    account, _ = await seeded_account(client, owner, sandbox, session, autopilot=True)
    groups = sorted(g["adgroup_id"] for g in kinds(await inspect(sandbox), "adgroup"))
    # A person changed the first ad group's budget an hour ago: the autopilot leaves it alone.
    edit = await client.post(
        "/api/v1/ads/actions",
        json={
            "ad_account_id": account["id"],
            "kind": "update_adgroup_budget",
            "target_id": groups[0],
            "budget_minor": 110_00,
        },
        headers=owner.headers,
    )
    assert edit.status_code == 202, edit.text
    await run_jobs()
    before = len(await changes(sandbox))
    paths = ("adgroup/get", "ad/get", "advertiser/info", "adgroup/status/update", "adgroup/update")
    calls_before = {p: len(await sandbox.requests(f"{API}/{p}/*")) for p in paths}

    run = await run_now(client, owner, account["id"], run_jobs)
    assert run["result"]["mode"] == "act" and run["result"]["applied"] == 2
    # Few Business calls: the state (ad groups and ads), the two pauses in ONE status update,
    # one read-back of both; the account's stored currency spares `advertiser/info`.
    calls = {p: len(await sandbox.requests(f"{API}/{p}/*")) - calls_before[p] for p in paths}
    assert calls == {
        "adgroup/get": 2,
        "ad/get": 1,
        "advertiser/info": 0,
        "adgroup/status/update": 1,
        "adgroup/update": 0,
    }
    [execution] = (await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()["items"]
    assert sorted(a["target_id"] for a in execution["proposed"]) == groups[1:]
    [skipped] = execution["skipped"]
    assert skipped["target_id"] == groups[0] and "changed by a person" in skipped["why"]
    assert [a["status"] for a in execution["applied"]] == ["succeeded", "succeeded"]
    for applied in execution["applied"]:
        assert applied["target_id"] in applied["answer"]["confirmed"]
    state = {g["adgroup_id"]: g["operation_status"] for g in kinds(await inspect(sandbox), "adgroup")}
    assert state == {groups[0]: "ENABLE", groups[1]: "DISABLE", groups[2]: "DISABLE"}
    assert len(await changes(sandbox)) - before == 2
    actions = (await client.get("/api/v1/ads/actions", headers=owner.headers)).json()["items"]
    by_autopilot = [a for a in actions if a["requested_by"] == "autopilot"]
    assert len(by_autopilot) == 2 and all(a["before"] and a["after"] for a in by_autopilot)
    report = (await client.get("/api/v1/ads/autopilot/reports", headers=owner.headers)).json()["items"][0]
    assert "acting" in report["text"] and "done" in report["text"]
    assert report["telegram_status"] == "not_configured"  # no chat id anywhere: API only
    assert await telegram_messages(sandbox) == []

    # The same run again (Idempotency-Key) is the same run; a new run has nothing left to pause.
    again = await client.post(
        f"/api/v1/ads/accounts/{account['id']}/autopilot/run", headers={**owner.headers, "Idempotency-Key": "k1"}
    )
    replay = await client.post(
        f"/api/v1/ads/accounts/{account['id']}/autopilot/run", headers={**owner.headers, "Idempotency-Key": "k1"}
    )
    assert again.status_code == 202 and replay.status_code == 200 and replay.json()["id"] == again.json()["id"]
    await run_jobs()
    latest = (await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()["items"][0]
    assert latest["proposed"] == [] and latest["applied"] == []
    assert len(await changes(sandbox)) - before == 2


async def test_a_failure_after_the_platform_call_never_applies_an_action_twice(
    client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    owner = await signup()
    account, _ = await seeded_account(client, owner, sandbox, session, adgroups=2, autopilot=True)
    sandbox.set_settings(http__max_attempts=1)
    # adgroup/get: the state read passes (its ad groups are the first action's "before"); the
    # "after" read — right after the status update went through — fails, so the job fails
    # after the side effect and before its record; the runtime runs it again.
    await sandbox.fault(f"{API}/adgroup/get*", status=500, skip=1, times=1)
    response = await client.post(f"/api/v1/ads/accounts/{account['id']}/autopilot/run", headers=owner.headers)
    assert response.status_code == 202
    await run_jobs()
    run = (await client.get(f"/api/v1/jobs/{response.json()['id']}", headers=owner.headers)).json()
    assert run["status"] == "succeeded" and run["attempt"] == 2, run
    updates = changed_ids(await sandbox.requests(f"{API}/adgroup/status/update*", method="POST"))
    assert len(updates) == len(set(updates)) == 2  # two ad groups, each paused once: the retry did not pause again
    [execution] = (await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()["items"]
    assert [a["status"] for a in execution["applied"]] == ["succeeded", "succeeded"]
    rows = await session.execute(text("SELECT count(*) FROM autopilot_executions"))
    assert rows.scalar_one() == 1  # the retry resumed the same execution record


async def test_api_filters_pages_and_refuses_bad_input(
    client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    owner = await signup()
    account, _ = await seeded_account(client, owner, sandbox, session, adgroups=1, autopilot_reports=True)
    for key in ("a", "b"):
        await run_now(client, owner, account["id"], run_jobs, **{"Idempotency-Key": key})
    page = (await client.get("/api/v1/ads/autopilot/executions", params={"limit": 1}, headers=owner.headers)).json()
    assert len(page["items"]) == 1 and page["next_cursor"]
    rest = (
        await client.get(
            "/api/v1/ads/autopilot/executions",
            params={"limit": 1, "cursor": page["next_cursor"]},
            headers=owner.headers,
        )
    ).json()
    assert len(rest["items"]) == 1 and rest["items"][0]["id"] != page["items"][0]["id"]
    by_account = await client.get(
        "/api/v1/ads/autopilot/reports",
        params={"ad_account_id": account["id"], "platform": "tiktok"},
        headers=owner.headers,
    )
    assert len(by_account.json()["items"]) == 2
    none = await client.get("/api/v1/ads/autopilot/reports", params={"platform": "facebook"}, headers=owner.headers)
    assert none.json()["items"] == []
    bad = await client.get("/api/v1/ads/autopilot/executions", params={"platform": "myspace"}, headers=owner.headers)
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "platform"
    cursor = await client.get("/api/v1/ads/autopilot/reports", params={"cursor": "nope"}, headers=owner.headers)
    assert cursor.status_code == 400
    missing = await client.get(f"/api/v1/ads/autopilot/executions/{uuid.uuid4()}", headers=owner.headers)
    assert missing.status_code == 404
    chat = await client.patch(
        f"/api/v1/ads/accounts/{account['id']}", json={"telegram_chat_id": "not a chat"}, headers=owner.headers
    )
    assert chat.status_code == 422 and chat.json()["errors"][0]["field"] == "telegram_chat_id"
    cleared = await client.patch(
        f"/api/v1/ads/accounts/{account['id']}", json={"telegram_chat_id": ""}, headers=owner.headers
    )
    assert cleared.json()["telegram_chat_id"] is None


async def test_hourly_round_submits_one_run_per_due_account_per_hour(
    client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    from datetime import UTC, datetime

    from reelflow.services import autopilot

    owner = await signup()
    due, _ = await seeded_account(client, owner, sandbox, session, adgroups=1, autopilot_reports=True)
    await seeded_account(client, owner, sandbox, session, adgroups=1)  # neither flag: not due
    at = datetime(2026, 12, 3, 10, 17, tzinfo=UTC)
    first = await autopilot.submit_round(at)
    again = await autopilot.submit_round(at.replace(minute=50))
    assert len(first) == 1 and first == again  # same account, same hour → the same run
    await run_jobs()
    [execution] = (await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()["items"]
    assert execution["ad_account_id"] == due["id"] and execution["trigger"] == "schedule"
    assert execution["mode"] == "report"


async def test_llm_proposer_is_used_when_valid_and_any_failure_falls_back_to_the_policy(
    client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    owner = await signup()
    account, _ = await seeded_account(client, owner, sandbox, session, adgroups=2, autopilot_reports=True)
    sandbox.set_settings(autopilot__llm_api_key="sbx_llm_key", http__max_attempts=1)

    async def run_with(mode: str, key: str, fault: dict[str, Any] | None = None) -> dict[str, Any]:
        await _sandbox(sandbox, "POST", "/openai/_sandbox/mode", json={"mode": mode})
        if fault:
            await sandbox.fault("/openai/v1/chat/completions", **fault)
        await run_now(client, owner, account["id"], run_jobs, **{"Idempotency-Key": key})
        await sandbox.clear_faults()
        return dict((await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()["items"][0])

    used = await run_with("normal", "llm-ok")
    assert used["proposer"] == "llm" and used["errors"] == []
    assert [a["kind"] for a in used["proposed"]] == ["pause_adgroup"] * 2
    assert all(a["reason"].startswith("LLM:") for a in used["proposed"])
    for mode, fault in (
        ("malformed", None),
        ("prose", None),
        ("wrong_schema", None),
        ("unsafe", None),
        ("normal", {"status": 500, "times": 1}),
        ("normal", {"kind": "timeout", "delay": 3, "times": 1}),
    ):
        if fault and fault.get("kind") == "timeout":
            sandbox.set_settings(autopilot__llm_timeout_s=1)
        execution = await run_with(mode, f"llm-{mode}-{bool(fault)}-{fault and fault.get('kind')}", fault)
        assert execution["proposer"] == "deterministic", (mode, fault, execution["errors"])
        assert execution["status"] == "succeeded"
        assert any("llm proposer failed" in e for e in execution["errors"]), execution["errors"]
        assert [a["kind"] for a in execution["proposed"]] == ["pause_adgroup"] * 2
        assert not any(a["reason"].startswith("LLM:") for a in execution["proposed"])
    assert await changes(sandbox) == []  # report-only all along


async def test_act_mode_raises_a_winners_budget_once_with_before_and_after(
    client: Any, signup: Any, sandbox: Any, session: Any, run_jobs: Any
) -> None:
    owner = await signup()
    # The sandbox paces 60-95 %: count that as full; a week of it is enough data for a verdict.
    sandbox.set_settings(autopilot__full_pacing_ratio=0.1, autopilot__min_spend_target_multiple=0.01)
    # A target CPL far above what the seeded ad groups pay: every one is a winner.
    account, _ = await seeded_account(
        client, owner, sandbox, session, adgroups=2, target_cpl_minor=1_000_00, autopilot=True
    )
    run = await run_now(client, owner, account["id"], run_jobs)
    [execution] = (await client.get("/api/v1/ads/autopilot/executions", headers=owner.headers)).json()["items"]
    raises = [a for a in execution["proposed"] if a["kind"] == "update_adgroup_budget"]
    assert raises, execution["inputs"]["adgroup_scores"]
    assert run["result"]["applied"] == len(execution["proposed"])
    budgets = {g["adgroup_id"]: g["budget"] for g in kinds(await inspect(sandbox), "adgroup")}
    updates = changed_ids(await sandbox.requests(f"{API}/adgroup/update/*", method="POST"))
    assert sorted(updates) == sorted(a["target_id"] for a in raises)  # each raise sent once
    for action in raises:
        assert budgets[action["target_id"]] * 100 == action["params"]["daily_budget_minor"]
    actions = (await client.get("/api/v1/ads/actions", headers=owner.headers)).json()["items"]
    for action in (a for a in actions if a["kind"] == "update_adgroup_budget"):
        assert action["status"] == "succeeded" and action["answer"]["changed"] is True
        assert action["before"]["budget_minor"] == 100_00
        assert action["after"]["budget_minor"] == action["params"]["budget_minor"]
