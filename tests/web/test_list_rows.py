"""The busiest reads (rules, videos, projects lists) read plain Core rows, not ORM objects, and
share one database session with authentication: each listed item is exactly what the detail
endpoint (ORM) shows, and an authenticated list request takes one pooled connection."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from reelflow.storage.db import get_engine
from reelflow.storage.repositories.clipping import ClippingRepository
from tests.web.test_monitoring import _seed_videos

RULES = "/api/v1/monitoring/rules"


async def _all_pages(client: Any, path: str, headers: dict[str, str], limit: int) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": limit}
        if cursor:
            params["cursor"] = cursor
        page = await client.get(path, headers=headers, params=params)
        assert page.status_code == 200, page.text
        items += page.json()["items"]
        cursor = page.json()["next_cursor"]
        if not cursor:
            return items


async def test_listed_rules_and_videos_match_their_detail(client: Any, signup: Any, session: Any) -> None:
    account = await signup()
    h = account.headers
    bodies = [
        {"name": "k", "kind": "keyword", "values": ["a", "b"], "region": "fr"},
        {"name": "h", "kind": "hashtag", "values": ["#glow"]},
        {"name": "c", "kind": "combined", "combined": {"and": [{"kind": "keyword", "values": ["x"]}]}},
    ]
    for body in bodies:
        assert (await client.post(RULES, headers=h, json=body)).status_code == 201
    rules = await _all_pages(client, RULES, h, limit=2)
    assert [r["name"] for r in rules] == ["k", "h", "c"]
    for rule in rules:
        assert rule == (await client.get(f"{RULES}/{rule['id']}", headers=h)).json()
    assert rules[0]["query"]["and"][-1] == {"field_name": "region_code", "operation": "EQ", "field_values": ["FR"]}

    await _seed_videos(session, account.workspace_id, rules[0]["id"], 6)
    for sort in ("views", "velocity", "forecast"):
        videos = await _all_pages(client, f"/api/v1/monitoring/videos?sort={sort}", h, limit=4)
        assert len(videos) == 6
        for video in videos:
            detail = (await client.get(f"/api/v1/monitoring/videos/{video['id']}", headers=h)).json()
            assert video == detail["video"]


async def test_listed_projects_match_their_detail(client: Any, signup: Any, session: Any) -> None:
    account = await signup()
    repo = ClippingRepository(session)
    for i in range(3):
        project = await repo.create_project(
            workspace_id=uuid.UUID(account.workspace_id), created_by=None, title=f"p{i}", status="failed",
            source_kind="url", source_url=f"https://example.com/{i}.mp4", options={"clips": i},
        )  # fmt: skip
        if i == 1:
            project.transcript_key = "transcripts/x.json"
            project.warnings = ["quiet audio"]
    await session.commit()
    projects = await _all_pages(client, "/api/v1/projects", account.headers, limit=2)
    assert [p["title"] for p in projects] == ["p2", "p1", "p0"]
    assert projects[1]["transcript"] is not None and projects[1]["warnings"] == ["quiet audio"]
    for project in projects:
        assert project == (await client.get(f"/api/v1/projects/{project['id']}", headers=account.headers)).json()


@contextmanager
def _counting() -> Iterator[dict[str, int]]:
    engine = get_engine().sync_engine
    counts = {"checkouts": 0, "statements": 0}

    def checkout(*_: Any) -> None:
        counts["checkouts"] += 1

    def statement(*_: Any) -> None:
        counts["statements"] += 1

    event.listen(engine.pool, "checkout", checkout)
    event.listen(engine, "before_cursor_execute", statement)
    try:
        yield counts
    finally:
        event.remove(engine.pool, "checkout", checkout)
        event.remove(engine, "before_cursor_execute", statement)


async def test_an_authenticated_list_takes_one_connection_and_two_queries(client: Any, signup: Any) -> None:
    account = await signup()
    h = account.headers
    assert (await client.get(RULES, headers=h)).status_code == 200  # the token's last use is recorded here
    pool = get_engine().sync_engine.pool
    for path in (RULES, "/api/v1/monitoring/videos", "/api/v1/projects"):
        with _counting() as counts:
            assert (await client.get(path, headers=h)).status_code == 200
        assert counts == {"checkouts": 1, "statements": 2}, path  # token lookup + the page
        assert pool.checkedout() == 0

    # Refused before the handler ran (a bad parameter), after the handler raised, or by
    # authentication: the connection is back in the pool either way.
    refused = ((f"{RULES}?limit=0", 400), (f"{RULES}?cursor=nonsense", 400), (f"{RULES}/{uuid.uuid4()}", 404))
    for path, status in refused:
        assert (await client.get(path, headers=h)).status_code == status
        assert pool.checkedout() == 0
    assert (await client.get(RULES, headers={"Authorization": "Bearer rf_abcdefgh_" + "x" * 40})).status_code == 401
    assert pool.checkedout() == 0
