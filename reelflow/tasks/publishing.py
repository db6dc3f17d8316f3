"""Publishing jobs: publish one publication, refresh tokens, collect metrics and evaluate
experiments. Thin: ids in, services do the work with the platform clients from `reelflow.composition`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from reelflow import composition
from reelflow.domain.retry import RetryPolicy
from reelflow.services import accounts, experiments, publishing
from reelflow.tasks.registry import TaskContext, task

PUBLISH_POLICY = RetryPolicy(
    initial_interval=2.0,
    backoff_coefficient=2.0,
    max_interval=60.0,
    max_attempts=publishing.MAX_ATTEMPTS,
    non_retryable=("AccountUnavailable",),
)


@task(publishing.PUBLISH_TASK, queue="high", timeout=900, policy=PUBLISH_POLICY)
async def publish_clip(ctx: TaskContext, publication_id: str) -> dict[str, Any]:
    return await publishing.run_publication(
        ctx, uuid.UUID(publication_id), platforms=composition.publishing_platforms()
    )


@task("publishing.refresh_tokens", queue="default", timeout=600)
async def refresh_tokens(ctx: TaskContext, slot: str | None = None) -> dict[str, int]:
    return await accounts.refresh_due(platforms=composition.publishing_platforms())


@task(experiments.COLLECT_TASK, queue="default", timeout=900)
async def collect_metrics(
    ctx: TaskContext, slot: str | None = None, experiment_id: str | None = None
) -> dict[str, Any]:
    """`slot` (ISO time) is the metric rows' time: the same slot twice stores nothing new."""
    try:
        measured_at = datetime.fromisoformat(slot) if slot else None
    except ValueError:
        measured_at = None
    only = uuid.UUID(experiment_id) if experiment_id else None
    collected = await experiments.collect_metrics(
        platforms=composition.publishing_platforms(), measured_at=measured_at, experiment_id=only
    )
    evaluated = await experiments.evaluate_running(only=only)
    return {**collected, **evaluated}
