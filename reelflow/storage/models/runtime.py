"""The job runtime's tables: runs, their append-only events, and side-effect records.

Postgres is the source of truth for every run; Redis (RQ) only carries "run id X is due".
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin, utcnow

RUN_STATUSES = ("queued", "running", "retrying", "waiting", "succeeded", "failed", "cancelled")
OPEN_STATUSES = ("queued", "running", "retrying", "waiting")
TERMINAL_STATUSES = ("succeeded", "failed", "cancelled")
EVENT_TYPES = (
    "queued",
    "started",
    "heartbeat",
    "progress",
    "retry_scheduled",
    "succeeded",
    "failed",
    "cancel_requested",
    "cancelled",
    "deduplicated",
    "recovered",
    "waiting",
    "resumed",
)


class JobRun(IdMixin, TimestampMixin, Base):
    """One logical job: all its attempts, its current state and its outcome."""

    __tablename__ = "job_runs"
    __table_args__ = (
        CheckConstraint(f"status IN {RUN_STATUSES!r}", name="status"),
        CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        # Explicit keys (a client's Idempotency-Key, workflow children) are unique for good;
        # derived keys (name + canonical args) only among open runs, so a periodic job with
        # the same args can run again once the previous run has finished.
        Index(
            "uq_job_runs_explicit_key",
            "workspace_id",
            "idempotency_key",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=text("key_explicit"),
        ),
        Index(
            "uq_job_runs_derived_key",
            "workspace_id",
            "idempotency_key",
            unique=True,
            postgresql_nulls_not_distinct=True,
            postgresql_where=text("NOT key_explicit AND status IN ('queued', 'running', 'retrying', 'waiting')"),
        ),
        Index("ix_job_runs_workspace_created", "workspace_id", "created_at", "id"),
        Index("ix_job_runs_due", "scheduled_at", postgresql_where=text("status = 'retrying' AND pushed_at IS NULL")),
        Index("ix_job_runs_running_heartbeat", "heartbeat_at", postgresql_where=text("status = 'running'")),
        Index("ix_job_runs_open", "status", "pushed_at", postgresql_where=text("status IN ('queued', 'retrying')")),
        Index("ix_job_runs_parent", "parent_id", "child_batch", "child_index"),
        Index("ix_job_runs_finished", "finished_at"),
    )

    name: Mapped[str] = mapped_column(String(200))
    queue: Mapped[str] = mapped_column(String(20))
    args: Mapped[dict[str, Any]] = mapped_column(JSONB)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(300))
    key_explicit: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    attempt: Mapped[int] = mapped_column(Integer, default=0)  # attempts started so far
    attempt_base: Mapped[int] = mapped_column(Integer, default=0)  # attempts before a manual retry
    policy: Mapped[dict[str, Any]] = mapped_column(JSONB)
    timeout_s: Mapped[float]
    progress: Mapped[int] = mapped_column(Integer, default=0)
    progress_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[Any | None] = mapped_column(JSONB)
    error: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    scheduled_at: Mapped[datetime] = mapped_column(default=utcnow)  # not to start before
    pushed_at: Mapped[datetime | None]  # last hand-over to Redis; NULL while a retry waits
    rq_job_id: Mapped[str | None] = mapped_column(String(100))  # the RQ job of the last push
    started_at: Mapped[datetime | None]
    heartbeat_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    cancel_requested_at: Mapped[datetime | None]
    worker: Mapped[str | None] = mapped_column(String(200))
    parent_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("job_runs.id", ondelete="CASCADE"))
    child_batch: Mapped[int | None] = mapped_column(Integer)
    child_index: Mapped[int | None] = mapped_column(Integer)
    step: Mapped[int] = mapped_column(Integer, default=0)  # child batches completed (workflows)


class JobEvent(Base):
    """Append-only history of a run."""

    __tablename__ = "job_events"
    __table_args__ = (
        CheckConstraint(f"type IN {EVENT_TYPES!r}", name="type"),
        Index("ix_job_events_run_id_id", "run_id", "id"),
        Index("ix_job_events_at", "at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("job_runs.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(30))
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    message: Mapped[str | None] = mapped_column(Text)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONB)


class SideEffect(TimestampMixin, Base):
    """A side effect on the outside world, recorded so that it happens at most once."""

    __tablename__ = "side_effects"
    __table_args__ = (CheckConstraint("status IN ('pending', 'done')", name="status"),)

    key: Mapped[str] = mapped_column(String(300), primary_key=True)
    token: Mapped[str] = mapped_column(String(64))  # idempotency token handed to the platform
    status: Mapped[str] = mapped_column(String(20), default="pending")
    run_id: Mapped[uuid.UUID | None]
    attempt: Mapped[int] = mapped_column(Integer, default=0)
    acted_at: Mapped[datetime | None]  # set (committed) before acting: an attempt may have acted
    result: Mapped[Any | None] = mapped_column(JSONB)
