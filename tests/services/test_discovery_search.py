"""The search job against the sandbox over real HTTP: similar search, resume after a kill
without re-paying a page, timeout, cancel while running, credit exhaustion, 429/5xx retries,
empty pages, and the sweep."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qsl

from sqlalchemy import select, update

from reelflow.adapters.scrapecreators import ScrapeCreatorsClient, SearchPage
from reelflow.services import discovery as service
from reelflow.settings import DiscoverySettings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.discovery import DiscoverySearch
from reelflow.storage.models.runtime import JobRun
from reelflow.storage.repositories.clipping import ClippingRepository

CAMPAIGNS = "/api/v1/discovery/campaigns"


async def _start(client: Any, account: Any, body: dict[str, Any], search_type: str = "keyword") -> tuple[str, str]:
    campaign = await client.post(CAMPAIGNS, headers=account.headers, json={"name": "C", "search_type": search_type})
    cid = campaign.json()["id"]
    started = await client.post(f"{CAMPAIGNS}/{cid}/searches", headers=account.headers, json=body)
    assert started.status_code == 202, started.text
    return cid, started.json()["id"]


async def _search(sid: str) -> DiscoverySearch:
    async with session_scope() as session:
        row = (await session.execute(select(DiscoverySearch).where(DiscoverySearch.id == uuid.UUID(sid)))).scalar_one()
        session.expunge(row)
        return row


async def _keyword_requests(sandbox: Any) -> list[tuple[str | None, str | None]]:
    requests = await sandbox.requests("/scrapecreators/v1/tiktok/search/keyword")
    return [(q.get("query"), q.get("cursor")) for q in (dict(parse_qsl(r["query"])) for r in requests)]


class Killed(BaseException):
    """Stands for SIGKILL between two pages: nothing after it runs."""


class DiesAfter:
    def __init__(self, pages: int) -> None:
        self.inner = ScrapeCreatorsClient()
        self.left = pages

    async def search_keyword(self, query: str, *, cursor: int = 0) -> SearchPage:
        if self.left == 0:
            raise Killed
        self.left -= 1
        return await self.inner.search_keyword(query, cursor=cursor)

    async def instagram_profile(self, handle: str) -> Any:
        return await self.inner.instagram_profile(handle)


async def test_resume_after_a_kill_pays_no_page_twice(client, signup, sandbox):
    account = await signup()
    _, sid = await _start(client, account, {"platform": "tiktok", "target": 500, "keywords": ["fyp"]})
    settings = DiscoverySettings(keyword_concurrency=1)
    try:
        await service.run_search(uuid.UUID(sid), source=DiesAfter(3), settings=settings)
    except Killed:
        pass
    mid = await _search(sid)
    assert mid.status == "processing" and mid.pages == 3 and mid.cursors["fyp"]["pages"] == 3
    found_mid = mid.found

    result = await service.run_search(uuid.UUID(sid), source=ScrapeCreatorsClient(), settings=settings)
    done = await _search(sid)
    assert result["status"] == done.status == "completed"
    assert done.found > found_mid and done.pages > 3
    seen = await _keyword_requests(sandbox)
    assert len(seen) == len(set(seen)) == done.pages == done.credits_used  # no page fetched (paid) twice
    assert ("fyp", "0") in seen


async def test_similar_search_expands_related_profiles(client, signup, sandbox, run_jobs):
    account = await signup()
    seed = next(c for c in await sandbox.world("creators", topic="fitness", limit=40) if c["followers"] < 3_000_000)
    cid, sid = await _start(
        client, account, {"platform": "instagram", "target": 100, "handle": "@" + seed["handle"].upper()}, "similar"
    )
    await run_jobs()
    progress = (await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}", headers=account.headers)).json()
    assert progress["status"] == "completed", progress
    assert progress["handle"] == seed["handle"] and progress["found"] >= 100
    rows = (
        await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}/creators", headers=account.headers, params={"limit": 200})
    ).json()["items"]
    assert seed["handle"] not in {r["handle"] for r in rows}
    assert len({r["handle"] for r in rows}) == len(rows)
    enriched = [r for r in rows if r["followers"] is not None]
    assert enriched, "expanded profiles carry their follower counts"
    assert all(r["platform"] == "instagram" and r["avatar_url"] for r in rows)
    requests = await sandbox.requests("/scrapecreators/v1/instagram/profile")
    handles = [dict(parse_qsl(r["query"]))["handle"] for r in requests]
    assert len(handles) == len(set(handles)) == progress["pages"]


async def test_timeout_keeps_results(client, signup, sandbox, run_jobs):
    account = await signup()
    await sandbox.config(scrapecreators_latency_s=1.0)
    sandbox.set_settings(discovery__search_timeout_s=6)
    cid, sid = await _start(client, account, {"platform": "tiktok", "target": 500, "keywords": ["fyp", "viral"]})
    sandbox.set_settings(discovery__search_timeout_s=3600)
    await run_jobs()
    progress = (await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}", headers=account.headers)).json()
    assert progress["status"] == "timeout", progress
    assert 0 < progress["found"] < 500 and progress["progress"] == 100
    assert "time limit" in progress["error"]
    rows = (await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}/creators", headers=account.headers)).json()
    assert rows["items"]


async def test_cancel_while_running_and_before(client, signup, sandbox, run_jobs):
    account = await signup()
    await sandbox.config(scrapecreators_latency_s=0.2)
    cid, sid = await _start(client, account, {"platform": "tiktok", "target": 500, "keywords": ["fyp"]})
    task = asyncio.create_task(
        service.run_search(uuid.UUID(sid), source=ScrapeCreatorsClient(), settings=DiscoverySettings())
    )
    for _ in range(100):
        await asyncio.sleep(0.1)
        if (await _search(sid)).pages >= 2:
            break
    cancelled = await client.post(f"{CAMPAIGNS}/{cid}/searches/{sid}/cancel", headers=account.headers)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    pages_at_cancel = cancelled.json()["pages"]
    result = await asyncio.wait_for(task, 30)
    assert result["status"] in ("cancelled", "lost")
    after = await _search(sid)
    assert after.status == "cancelled" and after.pages == pages_at_cancel  # no page written after the cancel
    again = await client.post(f"{CAMPAIGNS}/{cid}/searches/{sid}/cancel", headers=account.headers)
    assert again.status_code == 409

    # cancelled before it ran: the job never fetches a page
    cid2, sid2 = await _start(client, account, {"platform": "tiktok", "target": 100, "keywords": ["gym"]})
    assert (await client.post(f"{CAMPAIGNS}/{cid2}/searches/{sid2}/cancel", headers=account.headers)).status_code == 200
    before = len(await _keyword_requests(sandbox))
    await run_jobs()
    assert len(await _keyword_requests(sandbox)) == before
    assert (await _search(sid2)).status == "cancelled"
    async with session_scope() as session:
        run = (await session.execute(select(JobRun).where(JobRun.id == (await _search(sid2)).run_id))).scalar_one()
    assert run.status == "cancelled"


async def test_credit_exhaustion_ends_in_error_with_reason(client, signup, sandbox, run_jobs):
    account = await signup()
    await sandbox.config(scrapecreators_credits=3)
    cid, sid = await _start(client, account, {"platform": "tiktok", "target": 500, "keywords": ["fyp"]})
    await run_jobs()
    progress = (await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}", headers=account.headers)).json()
    assert progress["status"] == "error" and "credits" in progress["error"], progress
    assert progress["credits_used"] == 3 and progress["credits_remaining"] == 0 and progress["found"] > 0
    # the monthly creators it reserved but did not find are given back
    async with session_scope() as session:
        usage = await ClippingRepository(session).usage(uuid.UUID(account.workspace_id), utcnow().date().replace(day=1))
    assert usage["discovery_creators"] == progress["found"]


async def test_429_and_5xx_are_retried_and_empty_pages_skipped(client, signup, sandbox, run_jobs):
    account = await signup()
    sandbox.set_settings(http__backoff_initial_seconds=0.05, http__backoff_max_seconds=0.2)
    await sandbox.config(scrapecreators_empty_every=3)
    await sandbox.fault("/scrapecreators/v1/tiktok/search/keyword", status=500, times=2, skip=1)
    await sandbox.fault("/scrapecreators/v1/tiktok/search/keyword", status=429, retry_after=0.2, times=1, skip=3)
    cid, sid = await _start(client, account, {"platform": "tiktok", "target": 100, "keywords": ["workout"]})
    await run_jobs()
    progress = (await client.get(f"{CAMPAIGNS}/{cid}/searches/{sid}", headers=account.headers)).json()
    assert progress["status"] == "completed" and progress["found"] >= 100, progress
    seen = await _keyword_requests(sandbox)
    # the 3 refused requests were retried (same cursor); every answered page was fetched once
    assert len(seen) == progress["pages"] + 3 and len(set(seen)) == progress["pages"]
    assert progress["credits_used"] == progress["pages"]


async def test_sweep_closes_overdue_and_dead_searches(client, signup, sandbox):
    account = await signup()
    _cid, late = await _start(client, account, {"platform": "tiktok", "target": 100, "keywords": ["gym"]})
    _cid2, dead = await _start(client, account, {"platform": "tiktok", "target": 100, "keywords": ["gym"]})
    async with session_scope() as session:
        await session.execute(
            update(DiscoverySearch)
            .where(DiscoverySearch.id == uuid.UUID(late))
            .values(deadline_at=utcnow() - timedelta(hours=2))
        )
        run_id = (
            await session.execute(select(DiscoverySearch.run_id).where(DiscoverySearch.id == uuid.UUID(dead)))
        ).scalar_one()
        await session.execute(update(JobRun).where(JobRun.id == run_id).values(status="failed", error="boom"))
    counts = await service.sweep_timeouts(settings=DiscoverySettings(sweep_grace_s=0))
    assert counts == {"timeout": 1, "error": 1}
    assert (await _search(late)).status == "timeout"
    assert (await _search(dead)).status == "error" and "boom" in ((await _search(dead)).error or "")
    assert await service.sweep_timeouts(settings=DiscoverySettings(sweep_grace_s=0)) == {"timeout": 0, "error": 0}


async def test_sigkilled_worker_resumes_from_the_last_page(client, signup, sandbox, worker_processes):
    """A real worker process is SIGKILLed mid-search; the runtime's recovery hands the job
    to a new worker, which resumes from the saved cursor: only pages in flight at the kill
    can be asked for again, never a committed one."""
    from tests.fixtures.runtime import wait_for_runs

    account = await signup()
    await sandbox.config(scrapecreators_latency_s=0.3)
    first = worker_processes.start(queues="default")
    _cid, sid = await _start(client, account, {"platform": "tiktok", "target": 500, "keywords": ["fyp", "viral"]})
    for _ in range(300):
        await asyncio.sleep(0.1)
        if (await _search(sid)).pages >= 4:
            break
    worker_processes.kill(first)
    at_kill = await _search(sid)
    assert at_kill.status == "processing" and at_kill.pages >= 4
    committed = {(k, str(v["cursor"])) for k, v in at_kill.cursors.items()}
    worker_processes.start(queues="default")
    await wait_for_runs([at_kill.run_id], timeout=120)
    done = await _search(sid)
    assert done.status == "completed" and done.found >= 500 and done.pages > at_kill.pages
    seen = await _keyword_requests(sandbox)
    repeated = {s for s in seen if seen.count(s) > 1}
    # a repeat can only be a page that was in flight when the worker died (its answer was
    # never committed): at most one per keyword, and never the page after a saved cursor twice
    assert len(repeated) <= len(at_kill.keywords)
    assert len(set(seen)) == done.pages
    assert all(pair in committed for pair in repeated)
