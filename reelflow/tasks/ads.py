"""Ads jobs (thin: take ids, call `reelflow.services.ads` with the adapters composed here).

ads.upload_creative(creative_id)   upload a creative to its ad account once
ads.launch(launch_id)              the campaign builder workflow (each platform step once)
ads.action(action_id)              one audited action (pause/resume, budget, status, new ad group)
ads.collect_metrics(account_id?)   the report of one account, or of every account
"""

from __future__ import annotations

import uuid
from typing import Any

from reelflow import composition
from reelflow.domain.retry import RetryPolicy
from reelflow.services import ads as service
from reelflow.tasks.registry import TaskContext, task

# Platform errors that retrying cannot fix fail at once (4xx ReelflowErrors already do).
POLICY = RetryPolicy(initial_interval=2.0, backoff_coefficient=2.0, max_interval=60.0, max_attempts=6)


@task("ads.upload_creative", queue="default", timeout=1800, policy=POLICY)
async def upload_creative(ctx: TaskContext, creative_id: str) -> dict[str, Any]:
    video_id = await service.ensure_uploaded(
        ctx, uuid.UUID(creative_id), ads_factory=composition.ads_factory(), blobs=composition.blob_store()
    )
    return {"creative_id": creative_id, "tiktok_video_id": video_id}


@task("ads.launch", queue="high", timeout=1800, policy=POLICY)
async def launch(ctx: TaskContext, launch_id: str) -> dict[str, Any]:
    return await service.run_launch(
        ctx, uuid.UUID(launch_id), ads_factory=composition.ads_factory(), blobs=composition.blob_store()
    )


@task("ads.action", queue="high", timeout=1800, policy=POLICY)
async def action(ctx: TaskContext, action_id: str) -> dict[str, Any]:
    return await service.perform_action(ctx, uuid.UUID(action_id), ads_factory=composition.ads_factory())


@task("ads.collect_metrics", queue="default", timeout=3000, policy=POLICY)
async def collect_metrics(ctx: TaskContext, account_id: str | None = None) -> dict[str, Any]:
    if account_id:
        return await service.collect_account_metrics(uuid.UUID(account_id), ads_factory=composition.ads_factory())
    return await service.collect_all_metrics(ads_factory=composition.ads_factory())
