"""Ads autopilot: one execution record per run (per ad account and trigger) and its report."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin

EXECUTION_STATUSES = ("running", "succeeded", "failed")
TELEGRAM_STATUSES = ("not_configured", "pending", "sent", "failed")


class AutopilotExecution(IdMixin, TimestampMixin, Base):
    """What one autopilot run saw, proposed and did for one ad account. The runtime run that
    executes it is unique: a retried or recovered run resumes this record, never a second one."""

    __tablename__ = "autopilot_executions"
    __table_args__ = (
        CheckConstraint(f"status IN {EXECUTION_STATUSES!r}", name="status"),
        CheckConstraint("mode IN ('report', 'act')", name="mode"),
        Index("ix_autopilot_executions_run", "run_id", unique=True),
        Index("ix_autopilot_executions_list", "workspace_id", "started_at", "id"),
        Index("ix_autopilot_executions_account", "ad_account_id", "started_at"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(10))  # report | act
    trigger: Mapped[str] = mapped_column(String(20), default="schedule")  # schedule | manual
    run_id: Mapped[uuid.UUID | None]
    proposer: Mapped[str] = mapped_column(String(20), default="deterministic")  # deterministic | llm
    status: Mapped[str] = mapped_column(String(10), default="running")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
    proposed: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    skipped: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    applied: Mapped[list[dict[str, Any]]] = mapped_column(JSONB, default=list, server_default="[]")
    errors: Mapped[list[str]] = mapped_column(JSONB, default=list, server_default="[]")
    decided: Mapped[bool] = mapped_column(default=False, server_default="false")
    duration_ms: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime | None]


class AutopilotReport(IdMixin, TimestampMixin, Base):
    """The rendered report of one execution (Telegram HTML) and whether it reached Telegram."""

    __tablename__ = "autopilot_reports"
    __table_args__ = (
        CheckConstraint(f"telegram_status IN {TELEGRAM_STATUSES!r}", name="telegram_status"),
        Index("ix_autopilot_reports_execution", "execution_id", unique=True),
        Index("ix_autopilot_reports_list", "workspace_id", "created_at", "id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"))
    execution_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("autopilot_executions.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(10))
    mode: Mapped[str] = mapped_column(String(10))
    text: Mapped[str] = mapped_column(Text)
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    telegram_status: Mapped[str] = mapped_column(String(20), default="not_configured")
    telegram_message_ids: Mapped[list[int]] = mapped_column(JSONB, default=list, server_default="[]")
    telegram_error: Mapped[str | None] = mapped_column(Text)
    sent_at: Mapped[datetime | None]
