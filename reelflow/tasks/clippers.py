"""Clipper programme jobs.

    clippers.track_views(workspace_id, slot?)   one round: Apify runs (TikTok), videos.list (Shorts), earnings

Idempotent: Apify runs are recorded under the job's key (the schedule slot, or the run id),
so a retried or recovered attempt reads the same runs instead of starting paid new ones; a
batch's readings are applied once (a `processed` flag in the same transaction); earnings
derive from the ledger, so running the round again credits nothing new.
"""

from __future__ import annotations

import uuid
from typing import Any

from reelflow import composition
from reelflow.services import clippers_tracking as service
from reelflow.storage.db import session_scope
from reelflow.tasks.registry import TaskContext, task


@task("clippers.track_views", queue="default", timeout=1800)
async def track_views(ctx: TaskContext, workspace_id: str, slot: str | None = None) -> dict[str, Any]:
    job_key = f"slot:{workspace_id}:{slot}" if slot else f"run:{ctx.run_id}"
    platforms = composition.clipper_platforms()
    result = await service.track_views(
        session_scope,
        uuid.UUID(workspace_id),
        job_key,
        runs=platforms.tiktok,
        youtube=platforms.youtube,
        heartbeat=ctx.heartbeat,
    )
    return result.as_dict()
