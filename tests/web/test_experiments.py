"""Experiments: variants, variant posts (one per account), pushed metrics (idempotent per
post and time), automated collection from both platforms (batched), the winner in the API,
inconclusive at the end time, workspace isolation."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from reelflow.adapters.platforms import Platforms
from reelflow.queue import run_inline
from reelflow.services import experiments
from tests.publishing_support import connect, make_clip, sandbox_users


async def _setup(client, owner, sandbox, session, run_jobs, *, min_views: int = 1000):
    await sandbox.config(tiktok_processing_s=1, youtube_processing_s=1)
    t, y = await sandbox_users(sandbox, 2)
    tiktok = await connect(client, owner, "tiktok", t)
    youtube = await connect(client, owner, "google", y)
    project, clip_a = await make_clip(session, owner.workspace_id)
    _, clip_b = await make_clip(session, owner.workspace_id, rank=2, project_id=project)
    response = await client.post(
        "/api/v1/experiments",
        json={
            "project_id": str(project),
            "name": "hook test",
            "min_views": min_views,
            "variants": [
                {"label": "A", "clip_id": str(clip_a), "caption": "Wait for it #a", "title": "Wait for it"},
                {"label": "B", "clip_id": str(clip_b), "caption": "The reveal #b", "title": "The reveal"},
            ],
        },
        headers=owner.headers,
    )
    assert response.status_code == 201, response.text
    experiment = response.json()
    variants = {v["label"]: v for v in experiment["variants"]}
    for label, clip in (("A", clip_a), ("B", clip_b)):
        common = {"clip_id": str(clip), "experiment_id": experiment["id"], "variant_id": variants[label]["id"]}
        r = await client.post(
            "/api/v1/publish/tiktok",
            json={**common, "account_ids": [tiktok["id"]], "privacy": "PUBLIC_TO_EVERYONE"},
            headers=owner.headers,
        )
        assert r.status_code == 202, r.text
        assert r.json()["publications"][0]["caption"] == variants[label]["caption"]
        r = await client.post(
            "/api/v1/publish/youtube", json={**common, "account_ids": [youtube["id"]]}, headers=owner.headers
        )
        assert r.status_code == 202, r.text
    await run_jobs()
    pubs = (await client.get(f"/api/v1/publications?experiment_id={experiment['id']}", headers=owner.headers)).json()
    assert {p["status"] for p in pubs} == {"published"}, [(p["platform"], p["status"], p["error"]) for p in pubs]
    return experiment, variants


async def test_pushed_metrics_are_idempotent_and_decide_the_winner(client, signup, sandbox, session, run_jobs):
    owner = await signup()
    experiment, variants = await _setup(client, owner, sandbox, session, run_jobs)
    pubs = (await client.get(f"/api/v1/publications?experiment_id={experiment['id']}", headers=owner.headers)).json()
    assert len(pubs) == 4 and {p["status"] for p in pubs} == {"published"}
    at = datetime.now(UTC).replace(microsecond=0)
    metrics = [
        {
            "publication_id": p["id"],
            "measured_at": at.isoformat(),
            "views": 10_000,
            "likes": 1_200 if p["variant_id"] == variants["A"]["id"] else 600,
            "comments": 100,
            "shares": 50,
        }
        for p in pubs
    ]
    url = f"/api/v1/experiments/{experiment['id']}/metrics"
    first = await client.post(url, json={"metrics": metrics}, headers=owner.headers)
    assert first.json() == {"stored": 4, "duplicates": 0}
    again = await client.post(url, json={"metrics": metrics}, headers=owner.headers)
    assert again.json() == {"stored": 0, "duplicates": 4}
    bad = await client.post(
        url, json={"metrics": [{**metrics[0], "publication_id": str(uuid.uuid4())}]}, headers=owner.headers
    )
    assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "metrics[0].publication_id"
    result = await experiments.evaluate(uuid.UUID(experiment["id"]))
    assert result["status"] == "completed"
    body = (await client.get(f"/api/v1/experiments/{experiment['id']}", headers=owner.headers)).json()
    assert body["status"] == "completed" and body["winner_variant_id"] == variants["A"]["id"]
    assert body["decision"]["figures"] and body["decision"]["comparisons"][0]["p_value"] < 0.05
    assert all(post["views"] == 10_000 for v in body["variants"] for post in v["posts"])


async def test_automated_collection_batches_and_keeps_running_below_threshold(
    client, signup, sandbox, session, run_jobs
):
    owner = await signup()
    experiment, _ = await _setup(client, owner, sandbox, session, run_jobs, min_views=10**9)
    await sandbox.advance(3600)  # an hour of views
    first = await experiments.collect_metrics(platforms=Platforms())
    trace = [(r["path"], r["status"]) for r in await sandbox.requests()][-8:]
    assert first["posts"] == 4 and first["stored"] == 4 and first["failed_accounts"] == 0, (first, trace)
    # one video/query call for the TikTok account's two posts, one videos.list for YouTube's
    assert len(await sandbox.requests("/tiktok/v2/video/query/")) == 1
    assert len([r for r in await sandbox.requests("/youtube/youtube/v3/videos", method="GET")]) >= 1
    again = await experiments.collect_metrics(platforms=Platforms())  # the same slot: nothing new
    assert again["stored"] == 0
    await sandbox.advance(3600)
    later = datetime.now(UTC) + timedelta(minutes=30)  # the next collection slot
    assert (await experiments.collect_metrics(platforms=Platforms(), measured_at=later))["stored"] == 4
    result = await run_inline("publishing.collect_metrics", {"slot": "manual"})  # the job's own path
    assert result["stored"] == 0 and result["evaluated"] == 1 and result["completed"] == 0
    body = (await client.get(f"/api/v1/experiments/{experiment['id']}", headers=owner.headers)).json()
    assert body["status"] == "running" and body["winner_variant_id"] is None
    assert "below" in body["decision"]["reason"]
    assert all(post["views"] is not None and post["views"] > 0 for v in body["variants"] for post in v["posts"])
    # after the end time without a winner: inconclusive
    ended = await experiments.evaluate(uuid.UUID(experiment["id"]), now=datetime.now(UTC) + timedelta(days=30))
    assert ended["status"] == "inconclusive"


async def test_experiments_are_workspace_scoped(client, signup, sandbox, session):
    owner = await signup()
    other = await signup()
    project, clip_a = await make_clip(session, owner.workspace_id)
    _, clip_b = await make_clip(session, owner.workspace_id, rank=2, project_id=project)
    body = {
        "project_id": str(project),
        "name": "x",
        "variants": [{"label": "A", "clip_id": str(clip_a)}, {"label": "B", "clip_id": str(clip_b)}],
    }
    foreign = await client.post("/api/v1/experiments", json=body, headers=other.headers)
    assert foreign.status_code == 422 and foreign.json()["errors"][0]["field"] == "project_id"
    one = await client.post(
        "/api/v1/experiments", json={**body, "variants": body["variants"][:1]}, headers=owner.headers
    )
    assert one.status_code == 422 and one.json()["errors"][0]["field"] == "variants"
    created = (await client.post("/api/v1/experiments", json=body, headers=owner.headers)).json()
    assert (await client.get(f"/api/v1/experiments/{created['id']}", headers=other.headers)).status_code == 404
    push = await client.post(
        f"/api/v1/experiments/{created['id']}/metrics",
        json={"metrics": [{"publication_id": str(uuid.uuid4()), "measured_at": "2026-01-01T00:00:00Z", "views": 1}]},
        headers=other.headers,
    )
    assert push.status_code == 404
    assert (await client.get("/api/v1/experiments", headers=other.headers)).json() == []
