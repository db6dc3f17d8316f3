"""Maintenance schedules: pruning expired and revoked API tokens (the `identity.prune_tokens` job)."""

from __future__ import annotations

from typing import Any

from prefect import State, flow

from reelflow.flows.common import submit_and_wait


@flow(name="maintenance-prune-tokens", log_prints=True)
async def prune_tokens(keep_days: int = 30, wait_s: float = 600.0) -> State[Any]:
    """Delete API tokens that expired or were revoked more than `keep_days` ago."""
    return await submit_and_wait("identity.prune_tokens", {"keep_days": keep_days}, wait_s=wait_s)
