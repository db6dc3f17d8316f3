"""Runtime maintenance schedules: pruning old runs and events, and the recovery sweep.

The recovery sweep does not depend on Prefect: every worker runs it (one at a time, under
a Redis lock); `recovery_sweep` is here for operators who want to run one by hand. It runs
in the flow itself, not as a job, because it is what brings lost jobs back.
"""

from __future__ import annotations

from typing import Any

from prefect import State, flow

from reelflow.flows.common import run_logger, submit_and_wait


@flow(name="runtime-prune-runs", log_prints=True)
async def prune_runs(keep_days: int | None = None, wait_s: float = 1800.0) -> State[Any]:
    """Delete finished runs (and their events and children) older than `keep_days` (default: setting)."""
    return await submit_and_wait("runtime.prune_runs", {"keep_days": keep_days}, wait_s=wait_s)


@flow(name="runtime-recovery-sweep", log_prints=True)
async def recovery_sweep() -> dict[str, int]:
    """One recovery pass: stale runs re-enqueued, runs missing from Redis pushed again."""
    from reelflow.queue.maintenance import sweep

    result = await sweep()
    run_logger().info("recovered %d, re-pushed %d", result["recovered"], result["repushed"])
    return result
