"""Lead jobs: the work the webhook handler and the leads API leave for later.

leads.drain_inbox()               map every received webhook lead (batched) to workspaces, ad accounts, directions
leads.ingest(inbox_id)            map one stored webhook lead again (its ad account was connected later)
leads.send_event(event_log_id)    send one conversion event (Events API 2.0) once
"""

from __future__ import annotations

import uuid
from typing import Any

from reelflow import composition
from reelflow.domain.retry import RetryPolicy
from reelflow.services import leads as service
from reelflow.tasks.registry import TaskContext, task

# Events: transient failures (429, 5xx, an open circuit breaker) back off up to a minute.
EVENT_POLICY = RetryPolicy(initial_interval=1.0, backoff_coefficient=2.0, max_interval=60.0, max_attempts=8)


@task("leads.drain_inbox", queue="high", timeout=120)
async def drain_inbox(ctx: TaskContext) -> dict[str, Any]:
    return await service.drain_inbox(run_id=ctx.run_id)


@task("leads.ingest", queue="default", timeout=60)
async def ingest(ctx: TaskContext, inbox_id: str) -> dict[str, Any]:
    return await service.ingest_inbox(uuid.UUID(inbox_id))


@task("leads.send_event", queue="high", timeout=120, policy=EVENT_POLICY)
async def send_event(ctx: TaskContext, event_log_id: str) -> dict[str, Any]:
    return await service.send_event(ctx, uuid.UUID(event_log_id), events=composition.conversion_events())
