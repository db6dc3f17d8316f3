"""Monitoring schedules: poll due rules (hourly), refresh engagement of due videos (every 30 min).

Thin: the flows select what is due and call the task functions in `reelflow.tasks.monitoring`
(the same code the job runtime runs), one Prefect task per rule so each poll is visible.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from prefect import flow, get_run_logger
from prefect import task as prefect_task

from reelflow.errors import ReelflowError
from reelflow.settings import get_settings
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.monitoring import MonitoringRepository
from reelflow.tasks import monitoring
from reelflow.tasks.registry import InlineContext


@prefect_task(name="monitoring-poll-rule", task_run_name="poll-rule-{rule_id}")
async def poll_one_rule(rule_id: str, workspace_id: str) -> dict[str, Any]:
    """One rule's poll; its failure is recorded on the rule and returned, never raised."""
    try:
        return await monitoring.poll_rule(InlineContext(uuid.UUID(workspace_id)), rule_id)
    except ReelflowError as exc:
        return {"rule_id": rule_id, "error": f"{type(exc).__name__}: {exc.detail}"}


@flow(name="monitoring-poll", log_prints=True)
async def poll_due_rules(limit: int = 500) -> dict[str, Any]:
    """Poll every rule whose next poll time has come, a few at a time."""
    logger = get_run_logger()
    async with session_scope() as session:
        due = await MonitoringRepository(session).due_rules(utcnow(), limit)
    semaphore = asyncio.Semaphore(get_settings().monitoring_poll_concurrency)

    async def bounded(rule_id: uuid.UUID, workspace_id: uuid.UUID) -> dict[str, Any]:
        async with semaphore:
            return await poll_one_rule(str(rule_id), str(workspace_id))

    results = list(await asyncio.gather(*(bounded(r, w) for r, w in due)))
    failed = [r for r in results if r.get("error")]
    summary = {
        "rules": len(results),
        "failed": len(failed),
        "new": sum(int(r.get("new", 0)) for r in results),
        "duplicates": sum(int(r.get("duplicates", 0)) for r in results),
        "results": results,
    }
    logger.info(
        "polled %d rules: %d new videos, %d duplicates, %d failed",
        summary["rules"],
        summary["new"],
        summary["duplicates"],
        summary["failed"],
    )
    return summary


@flow(name="monitoring-engagement", log_prints=True)
async def refresh_engagement(workspace_id: str | None = None, force: bool = False) -> dict[str, Any]:
    """Refresh the engagement of every due video (tiers decide how often each is due)."""
    result = await monitoring.refresh_engagement(InlineContext(), workspace_id=workspace_id, force=force)
    get_run_logger().info(
        "refreshed %d videos (%d missing), tier changes %s, %d forecasts resolved",
        result["refreshed"],
        result["missing"],
        result["tier_changes"],
        result["forecasts_resolved"],
    )
    return result
