"""Discovery jobs: one runtime job per creator search.

    discovery.run_search(search_id)   page the provider until the target, no more, or the deadline
    discovery.sweep_timeouts()        close searches past their deadline (the flow runs it too)

Thin: the paging, resume and fencing live in `reelflow.services.discovery`.
"""

from __future__ import annotations

import uuid
from typing import Any

from reelflow import composition
from reelflow.domain.retry import RetryPolicy
from reelflow.services import discovery as service
from reelflow.tasks.registry import TaskContext, task

# 429 / 5xx are retried inline by the HTTP layer first; what still fails comes here and the
# next attempt resumes from the last saved cursor. The search's own deadline bounds it all.
SEARCH_POLICY = RetryPolicy(initial_interval=2.0, backoff_coefficient=2.0, max_interval=60.0, max_attempts=12)


@task(service.SEARCH_TASK, queue="default", timeout=2 * 3600, policy=SEARCH_POLICY)
async def run_search(ctx: TaskContext, search_id: str) -> dict[str, Any]:
    async def report(pct: int, message: str) -> None:
        await ctx.progress(pct, message)

    return await service.run_search(
        uuid.UUID(search_id),
        source=composition.creator_discovery(),
        is_cancelled=lambda: ctx.cancelled,
        report=report,
    )


@task("discovery.sweep_timeouts", queue="default", timeout=300)
async def sweep_timeouts(ctx: TaskContext, limit: int = 500) -> dict[str, int]:
    return await service.sweep_timeouts(limit=limit)
