"""The hourly `ads-collect-metrics` flow as a real Prefect flow run against the sandbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import text

from tests.web.test_ads import connect


async def test_collect_metrics_flow_pulls_every_account(
    prefect_harness: Any, client: Any, signup: Any, sandbox: Any, session: Any
) -> None:
    from reelflow.flows.ads import collect_metrics

    owner = await signup()
    accounts = await connect(client, owner, sandbox, count=2)
    seeded = await sandbox.config()  # (config round trip: the sandbox is up)
    assert "enforce_rate_limits" in seeded
    summary = await collect_metrics()
    assert summary["accounts"] == 2 and summary["failed"] == 0 and summary["failures"] == []
    stamps = await session.execute(text("SELECT count(*) FROM ad_accounts WHERE last_collected_at IS NOT NULL"))
    assert stamps.scalar_one() == len(accounts)
