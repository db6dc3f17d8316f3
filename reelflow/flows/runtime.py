"""Runtime maintenance schedules: pruning old runs and events.

The recovery sweep does not depend on Prefect: every worker runs it (one at a time, under
a Redis lock); `recovery_sweep` is here for operators who want to run one by hand.
"""

from __future__ import annotations

from typing import Any

from prefect import flow

from reelflow.tasks import runtime
from reelflow.tasks.registry import InlineContext


@flow(name="runtime-prune-runs", log_prints=True)
async def prune_runs(keep_days: int | None = None) -> dict[str, Any]:
    """Delete finished runs (and their events and children) older than `keep_days` (default: setting)."""
    result = await runtime.prune_runs(InlineContext(), keep_days=keep_days)
    print(f"pruned {result['deleted']} runs older than {result['keep_days']} days")
    return result


@flow(name="runtime-recovery-sweep", log_prints=True)
async def recovery_sweep() -> dict[str, int]:
    """One recovery pass: stale runs re-enqueued, runs missing from Redis pushed again."""
    from reelflow.queue.maintenance import sweep

    result = await sweep()
    print(f"recovered {result['recovered']}, re-pushed {result['repushed']}")
    return result
