"""Monitoring jobs, thin: take ids, hand the adapters (from `reelflow.composition`) to the
services in `reelflow.services.monitoring_poll` and `monitoring_engagement`, which hold the rules.

    monitoring.poll_rule(rule_id)                        one rule: page the platform, upsert in bulk
    monitoring.refresh_engagement(workspace_id?, force?)  due videos: stats, snapshots, tiers, forecasts

Scheduled polls are the same runs, submitted by `flows/monitoring.py` with a key per rule
and schedule slot.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from reelflow import composition
from reelflow.services import monitoring_engagement, monitoring_poll
from reelflow.services.monitoring_engagement import tier_policy
from reelflow.settings import get_settings
from reelflow.tasks.registry import TaskContext, task

__all__ = ["platform_now", "poll_rule", "refresh_engagement", "tier_policy"]


async def platform_now() -> datetime:
    """The platforms' time (the sandbox's simulated clock in dev and tests)."""
    return await composition.platform_clock().now()


@task("monitoring.poll_rule", queue="default", timeout=600)
async def poll_rule(ctx: TaskContext, rule_id: str) -> dict[str, Any]:
    """Page the platform's results for one rule since its last poll and store them in bulk.

    A platform failure is recorded on the rule (last_error, next poll on its schedule) and
    raised again, so the run shows it failed and its retry policy applies.
    """
    return await monitoring_poll.poll_rule(
        rule_id,
        platform=composition.monitoring_platform(),
        clock=composition.platform_clock(),
        workspace_id=ctx.workspace_id,
        heartbeat=ctx.heartbeat,
    )


@task("monitoring.refresh_engagement", queue="default", timeout=1800)
async def refresh_engagement(
    ctx: TaskContext, workspace_id: str | None = None, force: bool = False, limit: int | None = None
) -> dict[str, Any]:
    """Refresh due videos: batched stats, snapshots, re-tiering, forecasts, forecast errors.

    `force` refreshes every tracked video (of the workspace) now, due or not.
    """
    return await monitoring_engagement.refresh_engagement(
        uuid.UUID(workspace_id) if workspace_id else ctx.workspace_id,
        platform=composition.monitoring_platform(concurrency=get_settings().monitoring.stats_concurrency),
        clock=composition.platform_clock(),
        force=force,
        limit=limit,
        heartbeat=ctx.heartbeat,
    )
