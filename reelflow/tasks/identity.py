"""Identity maintenance tasks."""

from __future__ import annotations

from typing import Any

from reelflow.services import identity
from reelflow.tasks.registry import TaskContext, task


@task("identity.prune_tokens", queue="default", timeout=120)
async def prune_tokens(ctx: TaskContext, keep_days: int = 30) -> dict[str, Any]:
    """Delete API tokens that expired or were revoked more than `keep_days` ago."""
    return await identity.prune_tokens(keep_days)
