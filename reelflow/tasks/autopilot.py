"""Ads autopilot jobs (thin: take ids, call `reelflow.services.autopilot` with the adapters
composed here).

autopilot.run_account(account_id, trigger)   one run: collect if stale → score → decide →
                                              act (autopilot on) or report → record → Telegram
"""

from __future__ import annotations

import uuid
from typing import Any

from reelflow import composition
from reelflow.domain.retry import RetryPolicy
from reelflow.services import autopilot as service
from reelflow.tasks.registry import TaskContext, task

POLICY = RetryPolicy(initial_interval=5.0, backoff_coefficient=2.0, max_interval=120.0, max_attempts=5)


@task("autopilot.run_account", queue="default", timeout=1800, policy=POLICY)
async def run_account(ctx: TaskContext, account_id: str, trigger: str = "schedule") -> dict[str, Any]:
    return await service.run_account(
        ctx,
        uuid.UUID(account_id),
        ads_factory=composition.ads_factory(),
        telegram=composition.telegram_sender(),
        llm=composition.action_proposer(),
        trigger=trigger,
    )
