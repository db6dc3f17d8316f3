"""Publishing schedules: refresh tokens ahead of expiry (hourly), collect variant post
metrics and evaluate experiments (every 30 min). Thin: each run submits one runtime job
keyed by its schedule slot, so a manual run in the same slot is the same run."""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from reelflow.queue import enqueue
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow


async def _submit(name: str, slot_minutes: int) -> dict[str, Any]:
    now = utcnow()
    slot = now.replace(minute=now.minute - now.minute % slot_minutes, second=0, microsecond=0).isoformat()
    async with session_scope() as session:
        result = await enqueue(session, name, {"slot": slot}, key=f"{name}:{slot}")
    return {"run_id": str(result.run.id), "created": result.created, "slot": slot}


@flow(name="accounts-refresh-tokens", log_prints=True)
async def refresh_tokens() -> dict[str, Any]:
    """Refresh every connected account whose access token expires within 75 minutes."""
    result = await _submit("publishing.refresh_tokens", 60)
    get_run_logger().info("token refresh job %s (slot %s)", result["run_id"], result["slot"])
    return result


@flow(name="experiments-collect-metrics", log_prints=True)
async def collect_metrics() -> dict[str, Any]:
    """Collect stats of live variant posts, then apply the winner rule to running experiments."""
    result = await _submit("publishing.collect_metrics", 30)
    get_run_logger().info("metrics job %s (slot %s)", result["run_id"], result["slot"])
    return result
