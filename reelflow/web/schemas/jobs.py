"""Job runs and their events, as the API shows them."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

import msgspec

from reelflow.storage.models.runtime import JobEvent, JobRun


class JobError(msgspec.Struct):
    type: str
    message: str


class JobOut(msgspec.Struct):
    id: uuid.UUID
    name: str
    queue: str
    status: str
    attempt: int
    progress: int
    progress_message: str | None
    args: dict[str, Any]
    result: Any | None
    error: JobError | None
    idempotency_key: str
    parent_id: uuid.UUID | None
    step: int
    created_at: datetime
    scheduled_at: datetime
    started_at: datetime | None
    heartbeat_at: datetime | None
    finished_at: datetime | None
    cancel_requested_at: datetime | None


class JobEventOut(msgspec.Struct):
    id: int
    type: str
    attempt: int
    at: datetime
    message: str | None
    data: dict[str, Any] | None


class DiagnosticsIn(msgspec.Struct, forbid_unknown_fields=True):
    """A diagnostic job: fails `fail_times` attempts (Retryable), sleeps `sleep_s`, succeeds."""

    fail_times: Annotated[int, msgspec.Meta(ge=0, le=5)] = 0
    sleep_s: Annotated[float, msgspec.Meta(ge=0, le=30)] = 0.0


def job_out(run: JobRun) -> JobOut:
    error = JobError(type=str(run.error.get("type")), message=str(run.error.get("message"))) if run.error else None
    return JobOut(
        id=run.id,
        name=run.name,
        queue=run.queue,
        status=run.status,
        attempt=run.attempt,
        progress=run.progress,
        progress_message=run.progress_message,
        args=run.args,
        result=run.result,
        error=error,
        idempotency_key=run.idempotency_key,
        parent_id=run.parent_id,
        step=run.step,
        created_at=run.created_at,
        scheduled_at=run.scheduled_at,
        started_at=run.started_at,
        heartbeat_at=run.heartbeat_at,
        finished_at=run.finished_at,
        cancel_requested_at=run.cancel_requested_at,
    )


def event_out(event: JobEvent) -> JobEventOut:
    data = {k: v for k, v in (event.data or {}).items() if k != "traceback"} or None
    return JobEventOut(
        id=event.id, type=event.type, attempt=event.attempt, at=event.at, message=event.message, data=data
    )
