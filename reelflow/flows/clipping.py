"""Clipping schedules: expiring uploads that were never completed."""

from __future__ import annotations

from typing import Any

from prefect import flow

from reelflow.tasks import clipping
from reelflow.tasks.registry import InlineContext


@flow(name="clipping-expire-uploads", log_prints=True)
async def expire_uploads(limit: int | None = None) -> dict[str, Any]:
    """Fail projects whose upload expired unfinished (usage refunded, received bytes deleted)."""
    result = await clipping.expire_uploads(InlineContext(), limit=limit)
    print(f"expired {result['expired']} uploads")
    return result
