"""Identity maintenance tasks."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from reelflow.storage.db import session_scope
from reelflow.storage.models.base import utcnow
from reelflow.storage.repositories.identity import IdentityRepository
from reelflow.tasks.registry import TaskContext, task


@task("identity.prune_tokens", queue="default", timeout=120)
async def prune_tokens(ctx: TaskContext, keep_days: int = 30) -> dict[str, Any]:
    """Delete API tokens that expired or were revoked more than `keep_days` ago."""
    cutoff = utcnow() - timedelta(days=keep_days)
    async with session_scope() as session:
        deleted = await IdentityRepository(session).prune_tokens(expired_before=cutoff, revoked_before=cutoff)
    return {"deleted": deleted}
