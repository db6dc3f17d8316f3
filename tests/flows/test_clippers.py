"""The clippers-track-views schedule: one round per workspace with an active campaign, keyed by slot."""

from __future__ import annotations

from datetime import UTC, datetime

import yaml

from reelflow.flows.clippers import enqueue_tracking, slot_of
from tests.clippers_support import member


def test_deployment_every_30_minutes() -> None:
    with open("prefect.yaml") as handle:
        deployments = {d["name"]: d for d in yaml.safe_load(handle)["deployments"]}
    deployment = deployments["clippers-track-views"]
    assert deployment["entrypoint"] == "reelflow.flows.clippers:track_views"
    assert deployment["schedules"][0]["cron"] == "*/30 * * * *"


def test_slots_are_half_hours() -> None:
    assert slot_of(datetime(2026, 1, 1, 10, 44, 3, tzinfo=UTC)) == "20260101T1030"
    assert slot_of(datetime(2026, 1, 1, 10, 5, tzinfo=UTC)) == "20260101T1000"


async def test_enqueue_one_round_per_active_workspace_once_per_slot(client, signup, mail_sink) -> None:
    active = await signup()
    idle = await signup()
    await member(client, active, "clipper", mail_sink)
    body = {"name": "c", "budget_minor": 1000, "rate_per_1000_minor": 10, "status": "active"}
    assert (await client.post("/api/v1/clippers/campaigns", headers=active.headers, json=body)).status_code == 201
    draft = {**body, "status": "draft"}
    assert (await client.post("/api/v1/clippers/campaigns", headers=idle.headers, json=draft)).status_code == 201
    now = datetime(2026, 1, 1, 10, 31, tzinfo=UTC)
    first = await enqueue_tracking(now)
    assert len(first) == 1
    assert await enqueue_tracking(now.replace(minute=59)) == first  # same slot, same run
    assert await enqueue_tracking(now.replace(hour=11)) != first
    job = (await client.get(f"/api/v1/jobs/{first[0]}", headers=active.headers)).json()
    assert job["name"] == "clippers.track_views"
    assert (await client.get(f"/api/v1/jobs/{first[0]}", headers=idle.headers)).status_code == 404
