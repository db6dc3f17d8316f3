"""Ads schedules: `ads-collect-metrics` (hourly) pulls the Report API of every active ad
account into the metrics history; `ads-autopilot` (hourly, ten minutes later) submits one
autopilot run per account with autopilot or reports on. Thin: the service selects the accounts and runs them a
few at a time; each account's failure is recorded on it and never stops the others. `ads-reconcile-runs`
(every five minutes) closes autopilot executions and conversion events whose job ended for good without
closing them (`reelflow.services.reconcile`)."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from reelflow import composition
from reelflow.services import ads as service
from reelflow.services import autopilot as autopilot_service
from reelflow.services import leads as leads_service
from reelflow.services import reconcile as reconcile_service


@flow(name="ads-collect-metrics", log_prints=True)
async def collect_metrics(limit: int = 10_000, concurrency: int | None = None) -> dict[str, Any]:
    """One collector round: AUCTION_AD by day for the last days, every page, per account."""
    summary = await service.collect_all_metrics(
        ads_factory=composition.ads_factory(), limit=limit, concurrency=concurrency
    )
    get_run_logger().info(
        "collected %d rows from %d ad accounts (%d failed)", summary["rows"], summary["accounts"], summary["failed"]
    )
    return {k: v for k, v in summary.items() if k != "results"} | {
        "failures": [r for r in summary["results"] if r.get("error")]
    }


@flow(name="ads-autopilot", log_prints=True)
async def autopilot(limit: int = 10_000) -> dict[str, Any]:
    """The hourly autopilot round: one `autopilot.run_account` job per ad account with
    autopilot or reports on, keyed by account and hour (a re-run of the hour starts nothing)."""
    runs = await autopilot_service.submit_round(limit=limit)
    get_run_logger().info("enqueued %d autopilot runs", len(runs))
    return {"runs": runs}


@flow(name="ads-reconcile-runs", log_prints=True)
async def reconcile_runs(limit: int = 500) -> dict[str, int]:
    """Autopilot executions still `running` and conversion events still `queued`/`sending`
    whose job failed or was cancelled → `failed` (the error says how the job ended)."""
    counts = await reconcile_service.reconcile_ended_runs(limit=limit)
    get_run_logger().info(
        "closed %d autopilot executions and %d conversion events", counts["executions"], counts["events"]
    )
    return counts


@flow(name="leads-inbox-sweep", log_prints=True)
async def leads_inbox_sweep() -> dict[str, Any]:
    """The safety net behind webhook receipt: received leads not mapped yet (their job was
    never scheduled: a web process died between storing and scheduling) get a drain run."""
    result = await leads_service.sweep_inbox()
    if result["pending"]:
        get_run_logger().info("%d received leads not mapped yet: drain scheduled", result["pending"])
    return result
