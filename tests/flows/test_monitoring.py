"""Monitoring through real Prefect flow runs against the live sandbox (real HTTP, real Postgres)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, text, update

from reelflow.flows.monitoring import poll_due_rules, refresh_engagement
from reelflow.storage.models.monitoring import (
    MonitoredCreator,
    MonitoredVideo,
    MonitoringRule,
    RuleVideo,
    VideoForecast,
    VideoSnapshot,
)

RULES = "/api/v1/monitoring/rules"


def served_by_sandbox(query: dict, start: datetime, end: datetime) -> list[int]:
    """What the sandbox's Research API serves for a query: its own matcher, minus deleted videos."""
    from reelflow.sandbox.tiktok import _run_query
    from reelflow.sandbox.world import get_world

    now = datetime.now(UTC).timestamp()
    world = get_world()
    lo = start.replace(hour=0, minute=0, second=0, microsecond=0)
    hi = end.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return [vid for vid in _run_query(query, lo, hi, now) if world.stats(vid, now) is not None]


async def _rule(client, account, **body) -> dict:
    response = await client.post(RULES, headers=account.headers, json=body)
    assert response.status_code == 201, response.text
    return response.json()


async def _count(session, model, *where) -> int:
    return int((await session.execute(select(func.count()).select_from(model).where(*where))).scalar_one())


async def test_poll_flow_stores_each_video_once_and_counts_match_the_sandbox(
    prefect_harness, background_worker, sandbox, client, signup, session
):
    account = await signup()
    hashtag = await _rule(client, account, name="skincare", kind="hashtag", values=["skincare"])
    keyword = await _rule(client, account, name="serum", kind="keyword", values=["serum"])

    summary = await poll_due_rules()

    assert summary["rules"] == 2 and summary["failed"] == 0
    now = datetime.now(UTC)
    start = now - timedelta(days=7)
    served_a = served_by_sandbox(hashtag["query"], start, now)
    served_b = served_by_sandbox(keyword["query"], start, now)
    union = set(served_a) | set(served_b)
    assert len(served_a) > 50 and len(served_b) > 50 and len(union) < len(served_a) + len(served_b)
    results = {r["rule_id"]: r for r in summary["results"]}
    ra, rb = results[hashtag["id"]], results[keyword["id"]]
    assert (ra["fetched"], rb["fetched"]) == (len(served_a), len(served_b))
    assert ra["new"] + rb["new"] == len(union)
    assert ra["duplicates"] + rb["duplicates"] == len(served_a) + len(served_b) - len(union)

    from reelflow.sandbox.world import get_world

    authors = {get_world().creator_for(v).handle for v in union}
    assert ra["creators_created"] + rb["creators_created"] == len(authors)
    assert await _count(session, MonitoredVideo) == len(union)
    assert await _count(session, MonitoredCreator) == len(authors)
    # profiles of new creators (followers, name) are fetched, up to the per-poll cap
    assert ra["profiles"] == min(25, ra["creators_created"]) and rb["profiles"] == min(25, rb["creators_created"])
    with_profile = await _count(session, MonitoredCreator, MonitoredCreator.follower_count.is_not(None))
    assert with_profile == ra["profiles"] + rb["profiles"]
    assert await _count(session, RuleVideo) == len(served_a) + len(served_b)
    assert await _count(session, VideoSnapshot) == len(union)  # the poll's counters: first snapshot
    stored_ids = set((await session.execute(select(MonitoredVideo.platform_video_id))).scalars())
    assert stored_ids == {str(v) for v in union}

    rule = (await client.get(f"{RULES}/{hashtag['id']}", headers=account.headers)).json()
    assert rule["totals"]["fetched"] == len(served_a) and rule["totals"]["polls"] == 1
    assert rule["last_polled_at"] and rule["next_poll_at"] > rule["last_polled_at"]

    # nothing is due until the interval has passed
    assert (await poll_due_rules())["rules"] == 0

    # an hour later on the platform a few more videos exist; a second poll adds only those
    await sandbox.advance(3 * 3600)
    await session.execute(update(MonitoringRule).values(next_poll_at=datetime.now(UTC) - timedelta(seconds=1)))
    await session.commit()
    second = await poll_due_rules()
    later = datetime.now(UTC) + timedelta(hours=3)
    new_union = set(served_by_sandbox_at(hashtag["query"], later)) | set(served_by_sandbox_at(keyword["query"], later))
    fresh = {r["rule_id"]: r for r in second["results"]}
    assert sum(r["new"] for r in fresh.values()) == len(new_union - union)
    assert await _count(session, MonitoredVideo) == len(union | new_union)


def served_by_sandbox_at(query: dict, at: datetime) -> list[int]:
    """The second poll's window: from the first poll's platform time to `at` (same day range)."""
    from reelflow.sandbox.tiktok import _run_query
    from reelflow.sandbox.world import get_world

    world = get_world()
    now = at.timestamp()
    lo = (datetime.now(UTC)).replace(hour=0, minute=0, second=0, microsecond=0)
    hi = at.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
    return [vid for vid in _run_query(query, lo, hi, now) if world.stats(vid, now) is not None]


async def test_one_failing_rule_does_not_stop_the_others(
    prefect_harness, background_worker, sandbox, client, signup, session
):
    account = await signup()
    sandbox.set_settings(monitoring__poll_concurrency=1, http__max_attempts=1)
    failing = await _rule(client, account, name="first", kind="hashtag", values=["fitness"])
    healthy = await _rule(client, account, name="second", kind="hashtag", values=["skincare"])
    # polled oldest-due first, one at a time: the first query request is the failing rule's
    await session.execute(
        update(MonitoringRule)
        .where(MonitoringRule.id == uuid.UUID(failing["id"]))
        .values(next_poll_at=datetime.now(UTC) - timedelta(minutes=5))
    )
    await session.commit()
    await sandbox.fault("/tiktok/v2/research/video/query/", status=429, error_code="daily_quota_limit_exceeded")

    state = await poll_due_rules(return_state=True)

    # Partial failure: the flow run completes, with an artifact listing the failed rule.
    assert state.is_completed()
    summary = await state.result()
    assert summary["rules"] == 2 and summary["failed"] == 1
    artifact = await _artifact("monitoring-poll-failures")
    assert failing["id"] in artifact and healthy["id"] not in artifact
    bad = (await client.get(f"{RULES}/{failing['id']}", headers=account.headers)).json()
    good = (await client.get(f"{RULES}/{healthy['id']}", headers=account.headers)).json()
    assert bad["last_error"] and ("Retryable" in bad["last_error"] or "Quota" in bad["last_error"])
    assert bad["totals"]["failures"] == 1 and bad["totals"]["polls"] == 0 and bad["last_polled_at"] is None
    assert datetime.fromisoformat(bad["next_poll_at"]) > datetime.now(UTC)  # retried on its next schedule
    assert good["last_error"] is None and good["totals"]["polls"] == 1 and good["totals"]["new"] > 0
    stats = (await client.get(f"{RULES}/{healthy['id']}/stats", headers=account.headers)).json()
    assert stats["videos"] == good["totals"]["new"]

    # on the next schedule the failed rule is polled again and succeeds
    await session.execute(
        update(MonitoringRule)
        .where(MonitoringRule.id == uuid.UUID(failing["id"]))
        .values(next_poll_at=datetime.now(UTC) - timedelta(seconds=1))
    )
    await session.commit()
    again = await poll_due_rules()
    assert again["rules"] == 1 and again["failed"] == 0
    bad = (await client.get(f"{RULES}/{failing['id']}", headers=account.headers)).json()
    assert bad["last_error"] is None and bad["totals"]["polls"] == 1


async def test_engagement_rounds_snapshot_retier_forecast_and_score(
    prefect_harness, background_worker, sandbox, client, signup, session
):
    account = await signup()
    await _rule(client, account, name="beauty", kind="hashtag", values=["skincare"])
    await poll_due_rules()
    tracked = await _count(session, MonitoredVideo)
    assert tracked > 0

    first = await refresh_engagement(force=True)
    assert first["selected"] == tracked and first["refreshed"] + first["missing"] == tracked
    assert first["forecasts_made"] == 3 * first["refreshed"]
    # nothing is due right after a refresh
    assert (await refresh_engagement())["selected"] == 0

    await sandbox.advance(3600)
    second = await refresh_engagement(workspace_id=account.workspace_id, force=True)
    archived = sum(n for change, n in first["tier_changes"].items() if change.endswith("->archived"))
    assert second["refreshed"] == first["refreshed"] - archived  # archived videos are no longer checked
    assert second["forecasts_resolved"] == second["refreshed"]  # every +1 h forecast came due

    # snapshots are in platform time, an hour apart
    row = (
        await session.execute(
            text(
                "SELECT video_id, max(taken_at) - min(taken_at) AS span, count(*) AS n FROM monitoring_snapshots "
                "GROUP BY video_id ORDER BY n DESC LIMIT 1"
            )
        )
    ).one()
    assert row.n == 3 and timedelta(minutes=59) < row.span < timedelta(minutes=70)
    resolved = (
        (await session.execute(select(VideoForecast).where(VideoForecast.error_1h.is_not(None)).limit(20)))
        .scalars()
        .all()
    )
    assert resolved and all(f.actual_1h is not None and f.error_2h is None for f in resolved)
    for f in resolved:
        assert f.actual_1h is not None and f.error_1h is not None
        assert abs(f.error_1h - abs(f.predicted_1h - f.actual_1h) / max(f.actual_1h, 1)) < 1e-9

    accuracy = (await client.get("/api/v1/monitoring/accuracy", headers=account.headers)).json()
    assert [h["horizon_hours"] for h in accuracy["horizons"]] == [1]
    assert accuracy["horizons"][0]["resolved"] == second["forecasts_resolved"]
    assert accuracy["open_forecasts"] == 3 * first["refreshed"] - second["forecasts_resolved"] + 3 * second["refreshed"]

    videos = (
        await client.get("/api/v1/monitoring/videos", headers=account.headers, params={"sort": "velocity"})
    ).json()
    top = videos["items"][0]
    assert top["velocity"] >= videos["items"][-1]["velocity"]
    assert top["forecast_1h"] >= top["views"] and top["forecast_3h"] >= top["forecast_2h"] >= top["forecast_1h"]
    detail = (await client.get(f"/api/v1/monitoring/videos/{top['id']}", headers=account.headers)).json()
    assert len(detail["snapshots"]) == 3
    assert [s["taken_at"] for s in detail["snapshots"]] == sorted(s["taken_at"] for s in detail["snapshots"])


async def _artifact(key: str) -> str:
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
    from prefect.client.schemas.sorting import ArtifactSort

    async with get_client() as prefect:
        found = await prefect.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])), sort=ArtifactSort.CREATED_DESC
        )
    assert found, f"no artifact {key}"
    return str(found[0].data)


async def test_scheduled_polls_are_runtime_runs_keyed_by_rule_and_slot(
    prefect_harness, background_worker, sandbox, client, signup, session
):
    """A scheduled poll is a job run like a manual one: a run record with the rule + slot key."""
    from reelflow.storage.models.runtime import JobRun

    account = await signup()
    rule = await _rule(client, account, name="skincare", kind="hashtag", values=["skincare"])
    due_at = (await session.execute(select(MonitoringRule.next_poll_at))).scalar_one()
    summary = await poll_due_rules()
    runs = (await session.execute(select(JobRun).where(JobRun.name == "monitoring.poll_rule"))).scalars().all()
    assert [str(r.id) for r in runs] == summary["run_ids"]
    assert runs[0].status == "succeeded" and runs[0].idempotency_key == (
        f"monitoring.poll_rule:{rule['id']}:{due_at.astimezone(UTC).isoformat()}"
    )
    assert runs[0].workspace_id == uuid.UUID(account.workspace_id)


async def test_a_poll_whose_rules_all_failed_is_a_failed_flow_run(
    prefect_harness, background_worker, sandbox, client, signup, session
):
    account = await signup()
    sandbox.set_settings(http__max_attempts=1)
    await _rule(client, account, name="only", kind="hashtag", values=["fitness"])
    await sandbox.fault("/tiktok/v2/research/video/query/", status=503, times=5)

    state = await poll_due_rules(return_state=True)

    assert state.is_failed() and "all 1 due rules failed" in (state.message or "")
    artifact = await _artifact("monitoring-poll-failures")
    assert "1 of 1 rules failed" in artifact and "Retryable" in artifact


async def test_flow_logs_are_masked_like_the_app_logs(prefect_harness, caplog):
    from prefect import flow

    from reelflow.flows.common import run_logger

    @flow
    async def leaky() -> None:
        run_logger().info("calling %s?access_token=%s with %s", "https://x/api", "act.123", "Bearer act.456")

    with caplog.at_level("INFO"):
        await leaky()
    text_out = caplog.text
    assert "act.123" not in text_out and "act.456" not in text_out and "access_token=***" in text_out
