"""Discovery schedules: close creator searches that ran past their deadline.

The search job closes its own search at the deadline; this sweep catches the rest (a job
that never started, whose worker died for good, or whose attempts ran out), so that a
status read never has to write (the seed marked timeouts on GET).
"""

from __future__ import annotations

from prefect import flow, get_run_logger

from reelflow.services import discovery as service


@flow(name="discovery-timeout-sweep", log_prints=True)
async def sweep_timeouts(limit: int = 500) -> dict[str, int]:
    """Open searches past deadline + grace → `timeout`; those whose job ended → `error`."""
    counts = await service.sweep_timeouts(limit=limit)
    get_run_logger().info("closed %d timed-out and %d orphaned searches", counts["timeout"], counts["error"])
    return counts
