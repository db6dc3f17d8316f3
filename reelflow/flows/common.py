"""What every flow shares: masked run logs, the schedule slot, and "submit a runtime job
with a deterministic key, wait for it, report"."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from prefect import State, get_run_logger
from prefect.runtime import deployment, flow_run
from prefect.states import Completed, Failed

from reelflow.logs import mask_stdlib_records
from reelflow.services import runtime
from reelflow.storage.db import session_scope


def run_logger() -> logging.Logger | logging.LoggerAdapter[Any]:
    """Prefect's run logger (shown in the UI), with secrets and PII masked in every record."""
    mask_stdlib_records()
    return get_run_logger()


def schedule_slot() -> str:
    """The flow run's schedule slot: its scheduled start time under a deployment (a retried
    flow run keeps it), else the flow run's id (an ad-hoc run is its own slot)."""
    if deployment.get_id():
        return flow_run.get_scheduled_start_time().isoformat()
    return str(flow_run.get_id() or uuid.uuid4())


async def submit_and_wait(name: str, args: dict[str, Any], *, wait_s: float) -> State[Any]:
    """Submit task `name` once for this flow run's slot (key: name + slot), wait for it and
    return its outcome as the flow run's state (Completed with the job's result, or Failed)."""
    async with session_scope() as session:
        result = await runtime.start_job(session, None, name, args, key=f"{name}:{schedule_slot()}")
    run = (await runtime.wait_for_runs([result.run.id], timeout_s=wait_s)).get(result.run.id)
    if run is None or run.status != "succeeded":
        status = run.status if run else "missing"
        error = (run.error or {}) if run else {}
        detail = error.get("message") or ("still running; it finishes on the workers" if run else "")
        return Failed(message=f"{name} run {result.run.id} is {status}: {detail}")
    return Completed(message=f"{name} run {run.id} succeeded", data=run.result)
