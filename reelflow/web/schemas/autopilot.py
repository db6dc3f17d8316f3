"""Ads autopilot: execution records and reports."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec

from reelflow.storage.models.autopilot import AutopilotExecution, AutopilotReport


class ExecutionOut(msgspec.Struct):
    """One autopilot run of one ad account: what it saw (`inputs`), what it proposed (with
    reasons and figures), what the guard rails dropped (`skipped`), what it applied (with
    the platform's answers), errors, duration. `mode` report applies nothing."""

    id: uuid.UUID
    ad_account_id: uuid.UUID
    platform: str
    mode: str
    trigger: str
    status: str
    proposer: str
    run_id: uuid.UUID | None
    inputs: dict[str, Any]
    proposed: list[dict[str, Any]]
    skipped: list[dict[str, Any]]
    applied: list[dict[str, Any]]
    errors: list[str]
    duration_ms: int | None
    started_at: datetime
    finished_at: datetime | None


class ReportOut(msgspec.Struct):
    """The rendered report (Telegram HTML) of an execution and whether Telegram got it
    (`not_configured` without a chat id or a bot)."""

    id: uuid.UUID
    execution_id: uuid.UUID
    ad_account_id: uuid.UUID
    platform: str
    mode: str
    text: str
    telegram_status: str
    telegram_chat_id: str | None
    telegram_message_ids: list[int]
    telegram_error: str | None
    sent_at: datetime | None
    created_at: datetime


def execution_out(e: AutopilotExecution) -> ExecutionOut:
    return ExecutionOut(
        id=e.id,
        ad_account_id=e.ad_account_id,
        platform=e.platform,
        mode=e.mode,
        trigger=e.trigger,
        status=e.status,
        proposer=e.proposer,
        run_id=e.run_id,
        inputs=dict(e.inputs or {}),
        proposed=list(e.proposed or []),
        skipped=list(e.skipped or []),
        applied=list(e.applied or []),
        errors=list(e.errors or []),
        duration_ms=e.duration_ms,
        started_at=e.started_at,
        finished_at=e.finished_at,
    )


def report_out(r: AutopilotReport) -> ReportOut:
    return ReportOut(
        id=r.id,
        execution_id=r.execution_id,
        ad_account_id=r.ad_account_id,
        platform=r.platform,
        mode=r.mode,
        text=r.text,
        telegram_status=r.telegram_status,
        telegram_chat_id=r.telegram_chat_id,
        telegram_message_ids=list(r.telegram_message_ids or []),
        telegram_error=r.telegram_error,
        sent_at=r.sent_at,
        created_at=r.created_at,
    )
