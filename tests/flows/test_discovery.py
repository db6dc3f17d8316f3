from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import select, update

from reelflow.flows.discovery import sweep_timeouts
from reelflow.storage.models.base import utcnow
from reelflow.storage.models.discovery import DiscoverySearch


async def test_timeout_sweep_flow_closes_overdue_searches(prefect_harness, client, signup, session):
    account = await signup()
    campaign = await client.post(
        "/api/v1/discovery/campaigns", headers=account.headers, json={"name": "C", "search_type": "keyword"}
    )
    cid = campaign.json()["id"]
    started = await client.post(
        f"/api/v1/discovery/campaigns/{cid}/searches",
        headers=account.headers,
        json={"platform": "tiktok", "target": 100, "keywords": ["gym"]},
    )
    sid = uuid.UUID(started.json()["id"])
    await session.execute(
        update(DiscoverySearch).where(DiscoverySearch.id == sid).values(deadline_at=utcnow() - timedelta(hours=1))
    )
    await session.commit()
    counts = await sweep_timeouts(limit=10)
    assert counts == {"timeout": 1, "error": 0}
    status = (await session.execute(select(DiscoverySearch.status).where(DiscoverySearch.id == sid))).scalar_one()
    assert status == "timeout"
