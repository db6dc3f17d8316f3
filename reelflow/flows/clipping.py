"""Clipping schedules: the reconciliation sweep (the `clipping.reconcile_projects` job)."""

from __future__ import annotations

from typing import Any

from prefect import State, flow

from reelflow.flows.common import submit_and_wait


@flow(name="clipping-reconcile", log_prints=True)
async def reconcile_projects(limit: int = 500, wait_s: float = 240.0) -> State[Any]:
    """Fail projects whose pipeline run ended without recording it, or whose upload link expired."""
    return await submit_and_wait("clipping.reconcile_projects", {"limit": limit}, wait_s=wait_s)
