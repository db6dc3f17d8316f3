"""Clipper programme schedule: a view-tracking round every 30 minutes.

Thin: selects the workspaces with active campaigns and enqueues one `clippers.track_views`
job each on the runtime, keyed by the 30-minute slot, so a re-run of the same slot (or a
manual run of the flow) never starts a second round.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from reelflow.queue import enqueue
from reelflow.services import clippers_tracking as service
from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow


def slot_of(now: datetime, minutes: int = 30) -> str:
    return now.replace(minute=now.minute - now.minute % minutes, second=0, microsecond=0).strftime("%Y%m%dT%H%M")


async def enqueue_tracking(now: datetime | None = None) -> list[str]:
    slot = slot_of(now or utcnow())
    runs: list[str] = []
    async with session_scope() as session:
        for workspace_id in await service.workspaces_to_track(session):
            result = await enqueue(
                session,
                "clippers.track_views",
                {"workspace_id": str(workspace_id), "slot": slot},
                key=f"clippers.track_views:{workspace_id}:{slot}",
                workspace_id=workspace_id,
            )
            runs.append(str(result.run.id))
    return runs


@flow(name="clippers-track-views", log_prints=True)
async def track_views() -> dict[str, Any]:
    """Enqueue this slot's tracking round for every workspace with an active campaign."""
    runs = await enqueue_tracking()
    get_run_logger().info("enqueued %d view-tracking rounds", len(runs))
    return {"runs": runs}
