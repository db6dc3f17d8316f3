"""Clipping schedules: the reconciliation sweep (the `clipping.reconcile_projects` job) and
the expiry of uploads that were never completed (the `clipping.expire_uploads` job)."""

from __future__ import annotations

from typing import Any

from prefect import State, flow

from reelflow.flows.common import submit_and_wait


@flow(name="clipping-reconcile", log_prints=True)
async def reconcile_projects(limit: int = 500, wait_s: float = 240.0) -> State[Any]:
    """Fail projects whose pipeline run ended without recording it, or whose upload link expired."""
    return await submit_and_wait("clipping.reconcile_projects", {"limit": limit}, wait_s=wait_s)


@flow(name="clipping-expire-uploads", log_prints=True)
async def expire_uploads(limit: int | None = None, wait_s: float = 540.0) -> State[Any]:
    """Fail projects whose upload expired unfinished (usage refunded, received bytes deleted)."""
    return await submit_and_wait("clipping.expire_uploads", {"limit": limit}, wait_s=wait_s)
