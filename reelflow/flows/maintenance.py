"""Maintenance schedules: pruning expired and revoked API tokens."""

from __future__ import annotations

from typing import Any

from prefect import flow

from reelflow.tasks import identity
from reelflow.tasks.registry import InlineContext


@flow(name="maintenance-prune-tokens", log_prints=True)
async def prune_tokens(keep_days: int = 30) -> dict[str, Any]:
    """Delete API tokens that expired or were revoked more than `keep_days` ago."""
    result = await identity.prune_tokens(InlineContext(), keep_days=keep_days)
    print(f"pruned {result['deleted']} tokens")
    return result
