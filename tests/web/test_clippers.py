"""Clipper programmes over the real API: campaigns, submissions, review, tracking, earnings,
payouts, analytics; roles and workspace isolation on every route. Real Postgres, Redis, RQ
workers and the sandbox over HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid
from typing import Any

from reelflow.sandbox.world import short_code
from reelflow.services import clippers as service
from reelflow.storage.db import session_scope
from tests.clippers_support import adapters, headers, member, public_videos

CAMPAIGN = {
    "name": "Launch clips",
    "brief": "Post a clip of the launch",
    "platforms": ["tiktok", "youtube"],
    "currency": "USD",
    "budget_minor": 100_000,
    "rate_per_1000_minor": 300,
    "min_views": 100,
    "max_per_submission_minor": 50_000,
    "status": "active",
}


async def _campaign(client: Any, owner: Any, **over: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/clippers/campaigns", headers=owner.headers, json={**CAMPAIGN, **over})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def test_campaign_crud_statuses_roles_and_isolation(client, signup, mail_sink):
    owner = await signup()
    admin = await member(client, owner, "admin", mail_sink)
    clipper = await member(client, owner, "clipper", mail_sink)
    editor = await member(client, owner, "editor", mail_sink)
    created = await client.post(
        "/api/v1/clippers/campaigns", headers=headers(admin), json={**CAMPAIGN, "status": "draft"}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "draft" and body["spent_minor"] == 0 and body["remaining_minor"] == 100_000
    cid = body["id"]

    # Money is integer minor units; floats and negatives name the field.
    bad = await client.post(
        "/api/v1/clippers/campaigns", headers=owner.headers, json={**CAMPAIGN, "budget_minor": 10.5}
    )
    assert bad.status_code in (400, 422) and "budget_minor" in bad.text
    bad = await client.post("/api/v1/clippers/campaigns", headers=owner.headers, json={**CAMPAIGN, "currency": "XXX"})
    assert bad.status_code == 422 and "currency" in bad.text
    bad = await client.post(
        "/api/v1/clippers/campaigns", headers=owner.headers, json={**CAMPAIGN, "platforms": ["vine"]}
    )
    assert bad.status_code == 422 and "platforms" in bad.text

    # Clippers and editors cannot create or change campaigns; clippers do not see drafts.
    for who in (clipper, editor):
        assert (await client.post("/api/v1/clippers/campaigns", headers=headers(who), json=CAMPAIGN)).status_code == 403
        assert (
            await client.patch(f"/api/v1/clippers/campaigns/{cid}", headers=headers(who), json={"status": "active"})
        ).status_code == 403
    assert (await client.get(f"/api/v1/clippers/campaigns/{cid}", headers=headers(clipper))).status_code == 404
    assert (await client.get("/api/v1/clippers/campaigns", headers=headers(clipper))).json() == []
    assert (await client.get("/api/v1/clippers/campaigns", headers=headers(editor))).status_code == 403

    # Status moves.
    for status, code in (("active", 200), ("paused", 200), ("active", 200), ("draft", 409), ("bogus", 422)):
        moved = await client.patch(f"/api/v1/clippers/campaigns/{cid}", headers=owner.headers, json={"status": status})
        assert moved.status_code == code, (status, moved.text)
    rate = await client.patch(
        f"/api/v1/clippers/campaigns/{cid}", headers=owner.headers, json={"rate_per_1000_minor": 1}
    )
    assert rate.status_code == 409  # pay terms are fixed once a campaign runs
    listed = await client.get("/api/v1/clippers/campaigns", headers=headers(clipper))
    assert [c["id"] for c in listed.json()] == [cid]

    # Another workspace: 404 on every route.
    other = await signup()
    assert (await client.get(f"/api/v1/clippers/campaigns/{cid}", headers=other.headers)).status_code == 404
    patched = await client.patch(f"/api/v1/clippers/campaigns/{cid}", headers=other.headers, json={"name": "x"})
    assert patched.status_code == 404
    analytics = await client.get(f"/api/v1/clippers/campaigns/{cid}/analytics", headers=other.headers)
    assert analytics.status_code == 404
    assert (await client.get("/api/v1/clippers/campaigns", headers=other.headers)).json() == []
    ended = await client.patch(f"/api/v1/clippers/campaigns/{cid}", headers=owner.headers, json={"status": "ended"})
    assert ended.json()["status"] == "ended"


async def test_submissions_normalised_short_links_duplicates_and_visibility(client, signup, sandbox, mail_sink):
    owner = await signup()
    alice = await member(client, owner, "clipper", mail_sink)
    bob = await member(client, owner, "clipper", mail_sink)
    campaign = await _campaign(client, owner)
    now = await sandbox.now()
    (v1, url1), (v2, _url2) = public_videos(now, 2)

    def submit(who: dict[str, str], url: str, cid: str | None = None) -> Any:
        return client.post(
            "/api/v1/clippers/submissions",
            headers=headers(who),
            json={"campaign_id": cid or campaign["id"], "url": url},
        )

    first = await submit(alice, url1.replace("https://www.", "") + "?is_from_webapp=1")
    assert first.status_code == 201, first.text
    assert first.json()["url"] == url1 and first.json()["status"] == "pending"
    # The same clip by another clipper, through a short link: 409 naming the first.
    dup = await submit(bob, f"https://vm.tiktok.com/{short_code(v1)}/")
    assert dup.status_code == 409, dup.text
    assert dup.json()["first_submission_id"] == first.json()["id"]
    assert dup.headers["content-type"] == "application/problem+json"
    # www.tiktok.com/t/ links resolve too.
    short = await submit(bob, f"https://www.tiktok.com/t/{short_code(v2)}/")
    assert short.status_code == 201, short.text
    assert short.json()["video_id"] == str(v2)
    yt = await submit(bob, "https://youtube.com/shorts/abcDEF_1234?feature=share")
    assert yt.status_code == 201 and yt.json()["url"] == "https://www.youtube.com/shorts/abcDEF_1234"
    for bad in ("https://example.com/v/1", "https://www.tiktok.com/@someone", "https://www.youtube.com/watch?v=x"):
        response = await submit(alice, bad)
        assert response.status_code == 422 and response.json()["errors"][0]["field"] == "url", response.text
    assert (await submit(alice, url1, str(uuid.uuid4()))).status_code == 404

    # Clippers see only their own; admins see all; owners cannot submit.
    mine = (await client.get("/api/v1/clippers/submissions", headers=headers(alice))).json()
    assert [s["id"] for s in mine] == [first.json()["id"]]
    assert len((await client.get("/api/v1/clippers/submissions", headers=owner.headers)).json()) == 3
    bobs = short.json()["id"]
    assert (await client.get(f"/api/v1/clippers/submissions/{bobs}", headers=headers(alice))).status_code == 404
    assert (await submit({"Authorization": owner.headers["Authorization"]}, url1)).status_code == 403
    # Another workspace's clipper cannot see or submit to this campaign.
    other = await signup()
    stranger = await member(client, other, "clipper", mail_sink)
    assert (await submit(stranger, url1)).status_code == 404
    assert (await client.get(f"/api/v1/clippers/submissions/{bobs}", headers=other.headers)).status_code == 404


async def test_review_records_baseline_and_reason_and_only_admins_review(client, signup, sandbox, mail_sink):
    owner = await signup()
    clipper = await member(client, owner, "clipper", mail_sink)
    campaign = await _campaign(client, owner)
    (vid, url), (_, url2) = public_videos(await sandbox.now(), 2)
    sub = (
        await client.post(
            "/api/v1/clippers/submissions", headers=headers(clipper), json={"campaign_id": campaign["id"], "url": url}
        )
    ).json()
    sub2 = (
        await client.post(
            "/api/v1/clippers/submissions", headers=headers(clipper), json={"campaign_id": campaign["id"], "url": url2}
        )
    ).json()
    base = f"/api/v1/clippers/submissions/{sub['id']}"
    assert (await client.post(f"{base}/approve", headers=headers(clipper))).status_code == 403
    other = await signup()
    assert (await client.post(f"{base}/approve", headers=other.headers)).status_code == 404
    approved = await client.post(f"{base}/approve", headers=owner.headers)
    assert approved.status_code == 200, approved.text
    from reelflow.sandbox.world import get_world

    expected = get_world().stats(vid, await sandbox.now())
    assert expected is not None
    assert abs(approved.json()["baseline_views"] - expected.views) <= expected.views * 0.01 + 5
    assert approved.json()["status"] == "approved"
    assert (await client.post(f"{base}/approve", headers=owner.headers)).status_code == 409
    no_reason = await client.post(f"/api/v1/clippers/submissions/{sub2['id']}/reject", headers=owner.headers, json={})
    assert no_reason.status_code == 400 or no_reason.status_code == 422
    rejected = await client.post(
        f"/api/v1/clippers/submissions/{sub2['id']}/reject", headers=owner.headers, json={"reason": "off brief"}
    )
    assert rejected.json()["status"] == "rejected" and rejected.json()["reason"] == "off brief"


async def _approved(
    client: Any, owner: Any, clipper: dict[str, str], campaign: dict[str, Any], urls: list[str]
) -> list[str]:
    ids = []
    for url in urls:
        sub = await client.post(
            "/api/v1/clippers/submissions", headers=headers(clipper), json={"campaign_id": campaign["id"], "url": url}
        )
        assert sub.status_code == 201, sub.text
        ok = await client.post(f"/api/v1/clippers/submissions/{sub.json()['id']}/approve", headers=owner.headers)
        assert ok.status_code == 200, ok.text
        ids.append(sub.json()["id"])
    return ids


async def test_tracking_round_earnings_budget_and_idempotent_rerun(
    client, signup, sandbox, run_jobs, session, mail_sink
):
    owner = await signup()
    alice = await member(client, owner, "clipper", mail_sink)
    bob = await member(client, owner, "clipper", mail_sink)
    campaign = await _campaign(
        client, owner, budget_minor=5_000, rate_per_1000_minor=1_000, min_views=0, max_per_submission_minor=4_000
    )
    videos = public_videos(await sandbox.now(), 4)
    a_ids = await _approved(client, owner, alice, campaign, [u for _, u in videos[:2]])
    b_ids = await _approved(client, owner, bob, campaign, [u for _, u in videos[2:]])
    subs = {s["id"]: s for s in (await client.get("/api/v1/clippers/submissions", headers=owner.headers)).json()}
    # Views move: +3,000 on the first, +2,500 on the second, +10 on the third; the fourth is deleted.
    bumps = {0: 3_000, 1: 2_500, 2: 10}
    await sandbox.config(
        apify_views={str(videos[i][0]): subs[(a_ids + b_ids)[i]]["baseline_views"] + n for i, n in bumps.items()},
        apify_gone={str(videos[3][0]): "deleted"},
    )
    started = await client.post("/api/v1/clippers/tracking/run", headers=owner.headers)
    assert started.status_code == 202, started.text
    assert (await client.post("/api/v1/clippers/tracking/run", headers=headers(alice))).status_code == 403
    await run_jobs()
    job = (await client.get(f"/api/v1/jobs/{started.json()['id']}", headers=owner.headers)).json()
    assert job["status"] == "succeeded", job
    result = job["result"]
    assert result["runs_started"] == 1 and result["readings"] == 3 and result["stopped"] == 1

    # First-come by approval time: 3,000 (capped to... no, 3,000 < 4,000) then 2,000 of 2,500; budget spent.
    camp = (await client.get(f"/api/v1/clippers/campaigns/{campaign['id']}", headers=owner.headers)).json()
    assert camp["spent_minor"] == 5_000 and camp["status"] == "budget_exhausted"
    gone = (await client.get(f"/api/v1/clippers/submissions/{b_ids[1]}", headers=owner.headers)).json()
    assert gone["status"] == "stopped" and "unavailable" in gone["reason"]
    a_bal = (await client.get("/api/v1/clippers/balance", headers=headers(alice))).json()
    b_bal = (await client.get("/api/v1/clippers/balance", headers=headers(bob))).json()
    assert a_bal["earned_minor"] == 5_000 and b_bal["earned_minor"] == 0
    assert a_bal["available_minor"] == 5_000

    # A second round on the same data credits nothing (and an exhausted campaign is not tracked).
    again = await client.post("/api/v1/clippers/tracking/run", headers=owner.headers)
    await run_jobs()
    assert (await client.get(f"/api/v1/jobs/{again.json()['id']}", headers=owner.headers)).json()["result"][
        "credited_minor"
    ] == 0
    ledger = await client.get("/api/v1/clippers/ledger.csv", headers=owner.headers)
    assert ledger.status_code == 200 and ledger.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(ledger.text)))
    assert sum(int(r["amount_minor"]) for r in rows if r["kind"] == "credit") == 5_000
    assert (await client.get("/api/v1/clippers/ledger.csv", headers=headers(alice))).status_code == 403

    # One daily row per (clipper, submission, date, platform), plus the reading history.
    views = (await client.get(f"/api/v1/clippers/submissions/{a_ids[0]}/views", headers=headers(alice))).json()
    assert len(views["daily"]) == 1 and len(views["readings"]) == 1
    assert (await client.get(f"/api/v1/clippers/submissions/{a_ids[0]}/views", headers=headers(bob))).status_code == 404

    analytics = (
        await client.get(f"/api/v1/clippers/campaigns/{campaign['id']}/analytics", headers=owner.headers)
    ).json()
    assert analytics["spent_minor"] == 5_000 and analytics["remaining_minor"] == 0
    assert analytics["views"] == 3_000 + 2_500 + 10
    assert analytics["top_clippers"][0]["earned_minor"] == 5_000
    assert analytics["cost_per_1000_views_minor"] == 5_000 * 1000 // 5_510
    assert len(analytics["daily"]) == 1
    assert (
        await client.get(f"/api/v1/clippers/campaigns/{campaign['id']}/analytics", headers=headers(alice))
    ).status_code == 403
    assert (
        await client.get(f"/api/v1/clippers/clippers/{alice['user_id']}/analytics", headers=headers(bob))
    ).status_code == 404


async def test_falling_views_never_reduce_credited_earnings_and_daily_row_is_upserted(
    client, signup, sandbox, mail_sink
):
    owner = await signup()
    clipper = await member(client, owner, "clipper", mail_sink)
    campaign = await _campaign(client, owner, budget_minor=1_000_000, rate_per_1000_minor=1_000, min_views=0)
    ((vid, url),) = public_videos(await sandbox.now(), 1)
    (sid,) = await _approved(client, owner, clipper, campaign, [url])
    baseline = (await client.get(f"/api/v1/clippers/submissions/{sid}", headers=owner.headers)).json()["baseline_views"]
    ws = uuid.UUID(owner.workspace_id)

    async def round_with(views: int, key: str) -> dict[str, Any]:
        await sandbox.config(apify_views={str(vid): views})
        result = await service.track_views(session_scope, ws, key, **adapters())
        return result.as_dict()

    assert (await round_with(baseline + 4_000, "r1"))["credited_minor"] == 4_000
    assert (await round_with(baseline + 1_000, "r2"))["credited_minor"] == 0  # fell: nothing taken back
    assert (await round_with(baseline + 5_000, "r3"))["credited_minor"] == 1_000  # above the old peak
    bal = (await client.get("/api/v1/clippers/balance", headers=headers(clipper))).json()
    assert bal["earned_minor"] == 5_000
    views = (await client.get(f"/api/v1/clippers/submissions/{sid}/views", headers=headers(clipper))).json()
    assert len(views["daily"]) == 1 and views["daily"][0]["views"] == baseline + 5_000  # latest of the day
    assert [r["views"] - baseline for r in views["readings"]] == [4_000, 1_000, 5_000]


async def test_retried_round_reads_the_same_apify_run_instead_of_paying_again(client, signup, sandbox, mail_sink):
    owner = await signup()
    clipper = await member(client, owner, "clipper", mail_sink)
    campaign = await _campaign(client, owner, budget_minor=1_000_000, rate_per_1000_minor=1_000, min_views=0)
    videos = public_videos(await sandbox.now(), 3)
    await _approved(client, owner, clipper, campaign, [u for _, u in videos])
    sandbox.set_settings(http__max_attempts=1, clippers__tracking_batch_size=2)
    await sandbox.fault("/apify/v2/actor-runs/*", status=500, times=-1)
    ws = uuid.UUID(owner.workspace_id)
    try:
        await service.track_views(session_scope, ws, "job-1", **adapters())
        raise AssertionError("the first attempt should fail while run status is unavailable")
    except Exception as exc:  # the attempt dies after starting its runs (like a killed worker)
        assert "500" in str(exc) or "Apify" in str(exc)
    assert len(await sandbox.events("apify.run.start")) == 2
    await sandbox.clear_faults()
    retried = await service.track_views(session_scope, ws, "job-1", **adapters())
    assert retried.runs_started == 0 and retried.runs_reused == 2 and retried.readings == 3
    assert len(await sandbox.events("apify.run.start")) == 2  # no new paid run
    again = await service.track_views(session_scope, ws, "job-1", **adapters())
    assert again.runs_started == 0 and again.readings == 0 and again.credited_minor == 0
    # run-sync only for the three single-URL approvals, never for a tracking batch
    assert len(await sandbox.requests("/apify/v2/acts/*/run-sync*")) == 3


async def test_failed_apify_run_is_recorded_and_retried_next_round(client, signup, sandbox, mail_sink):
    owner = await signup()
    clipper = await member(client, owner, "clipper", mail_sink)
    campaign = await _campaign(client, owner, budget_minor=1_000_000, rate_per_1000_minor=1_000, min_views=0)
    ((_, url),) = public_videos(await sandbox.now(), 1)
    await _approved(client, owner, clipper, campaign, [url])
    await sandbox.config(apify_fail_runs=1, apify_run_seconds=1.0)
    ws = uuid.UUID(owner.workspace_id)
    first = await service.track_views(session_scope, ws, "a", **adapters())
    assert first.runs_failed == 1 and first.readings == 0
    second = await service.track_views(session_scope, ws, "b", **adapters())
    assert second.runs_failed == 0 and second.readings == 1


async def test_payouts_flow_and_concurrent_requests_cannot_take_the_same_balance(client, signup, session, mail_sink):
    from reelflow.storage.models.clippers import LedgerEntry

    owner = await signup()
    clipper = await member(client, owner, "clipper", mail_sink)
    campaign = await _campaign(client, owner)
    session.add(
        LedgerEntry(
            workspace_id=uuid.UUID(owner.workspace_id),
            campaign_id=uuid.UUID(campaign["id"]),
            clipper_id=uuid.UUID(clipper["user_id"]),
            kind="credit",
            amount_minor=10_000,
            currency="USD",
        )
    )
    await session.commit()
    h = headers(clipper)
    too_small = await client.post("/api/v1/clippers/payouts", headers=h, json={"amount_minor": 10})
    assert too_small.status_code == 422 and too_small.json()["errors"][0]["field"] == "amount_minor"
    assert (
        await client.post("/api/v1/clippers/payouts", headers=owner.headers, json={"amount_minor": 5000})
    ).status_code == 403

    results = await asyncio.gather(
        *(client.post("/api/v1/clippers/payouts", headers=h, json={"amount_minor": 6_000}) for _ in range(4))
    )
    assert sorted(r.status_code for r in results) == [201, 409, 409, 409], [r.text for r in results]
    payout = next(r.json() for r in results if r.status_code == 201)
    bal = (await client.get("/api/v1/clippers/balance", headers=h)).json()
    assert (bal["earned_minor"], bal["pending_minor"], bal["paid_minor"], bal["available_minor"]) == (
        10_000,
        6_000,
        0,
        4_000,
    )

    base = f"/api/v1/clippers/payouts/{payout['id']}"
    assert (await client.post(f"{base}/approve", headers=h)).status_code == 403
    other = await signup()
    assert (await client.post(f"{base}/approve", headers=other.headers)).status_code == 404
    assert (
        await client.post(f"{base}/paid", headers=owner.headers, json={"external_reference": "x"})
    ).status_code == 409
    assert (await client.post(f"{base}/approve", headers=owner.headers)).json()["status"] == "approved"
    paid = await client.post(f"{base}/paid", headers=owner.headers, json={"external_reference": "wise-123"})
    assert paid.json()["status"] == "paid" and paid.json()["external_reference"] == "wise-123"
    replay = await client.post(f"{base}/paid", headers=owner.headers, json={"external_reference": "wise-123"})
    assert replay.status_code == 200
    bal = (await client.get("/api/v1/clippers/balance", headers=h)).json()
    assert (bal["earned_minor"], bal["pending_minor"], bal["paid_minor"], bal["available_minor"]) == (
        10_000,
        0,
        6_000,
        4_000,
    )

    second = (await client.post("/api/v1/clippers/payouts", headers=h, json={"amount_minor": 4_000})).json()
    rejected = await client.post(
        f"/api/v1/clippers/payouts/{second['id']}/reject", headers=owner.headers, json={"reason": "bank details"}
    )
    assert rejected.json()["status"] == "rejected"
    assert (await client.get("/api/v1/clippers/balance", headers=h)).json()["available_minor"] == 4_000
    assert len((await client.get("/api/v1/clippers/payouts", headers=h)).json()) == 2
    assert (await client.get("/api/v1/clippers/payouts", headers=other.headers)).json() == []
    rows = list(
        csv.DictReader(io.StringIO((await client.get("/api/v1/clippers/ledger.csv", headers=owner.headers)).text))
    )
    assert [r["kind"] for r in rows] == ["credit", "payout"]

    # Every payout and state change is in the audit log, with who, amount and states.
    log = (await client.get("/api/v1/audit", headers=owner.headers, params={"limit": 50})).json()["items"]
    entries = [e for e in log if e["action"].startswith("clippers.payout.")]
    assert [(e["action"], e["target_id"]) for e in reversed(entries)] == [
        ("clippers.payout.requested", payout["id"]),
        ("clippers.payout.approved", payout["id"]),
        ("clippers.payout.paid", payout["id"]),
        ("clippers.payout.requested", second["id"]),
        ("clippers.payout.rejected", second["id"]),
    ]  # the replayed /paid and the three refused requests wrote nothing
    by_action = {e["action"]: e for e in entries}
    requested = next(e for e in entries if e["target_id"] == payout["id"] and e["action"].endswith("requested"))
    assert requested["actor_user_id"] == clipper["user_id"] and requested["details"]["amount_minor"] == 6_000
    assert requested["details"]["status_after"] == "requested" and requested["details"]["available_before"] == 10_000
    paid_entry = by_action["clippers.payout.paid"]
    assert paid_entry["actor_user_id"] == owner.user_id and paid_entry["target_type"] == "clipper_payout"
    assert paid_entry["details"]["external_reference"] == "wise-123"
    assert (paid_entry["details"]["status_before"], paid_entry["details"]["status_after"]) == ("approved", "paid")
    assert by_action["clippers.payout.rejected"]["details"]["reason"] == "bank details"
    other_log = (await client.get("/api/v1/audit", headers=other.headers)).json()["items"]
    assert not [e for e in other_log if e["action"].startswith("clippers.")]
