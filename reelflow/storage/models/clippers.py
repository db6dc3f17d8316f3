"""Clipper programmes: campaigns, submissions, view tracking, Apify runs, ledger, payouts."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin, utcnow

CAMPAIGN_STATUSES = ("draft", "active", "paused", "budget_exhausted", "ended")
SUBMISSION_STATUSES = ("pending", "approved", "rejected", "stopped")
PAYOUT_STATUSES = ("requested", "approved", "paid", "rejected")

_WS = "workspaces.id"


class ClipperCampaign(IdMixin, TimestampMixin, Base):
    __tablename__ = "clipper_campaigns"
    __table_args__ = (
        CheckConstraint(f"status IN {CAMPAIGN_STATUSES!r}", name="status"),
        CheckConstraint("spent_minor >= 0 AND spent_minor <= budget_minor", name="spent_within_budget"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(_WS, ondelete="CASCADE"), index=True)
    created_by: Mapped[uuid.UUID | None]
    name: Mapped[str] = mapped_column(String(200))
    brief: Mapped[str] = mapped_column(Text, default="")
    platforms: Mapped[list[str]] = mapped_column(JSONB, default=list)
    currency: Mapped[str] = mapped_column(String(3))
    budget_minor: Mapped[int] = mapped_column(BigInteger)
    rate_per_1000_minor: Mapped[int] = mapped_column(BigInteger)
    min_views: Mapped[int] = mapped_column(BigInteger, default=0)
    max_per_submission_minor: Mapped[int | None] = mapped_column(BigInteger)
    pay_views_before_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime | None]
    ends_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(20), default="draft")
    spent_minor: Mapped[int] = mapped_column(BigInteger, default=0)


class ClipperSubmission(IdMixin, TimestampMixin, Base):
    __tablename__ = "clipper_submissions"
    __table_args__ = (
        UniqueConstraint("workspace_id", "url"),
        CheckConstraint(f"status IN {SUBMISSION_STATUSES!r}", name="status"),
        Index("ix_clipper_submissions_tracking", "campaign_id", "status"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(_WS, ondelete="CASCADE"), index=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clipper_campaigns.id", ondelete="CASCADE"))
    clipper_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    platform: Mapped[str] = mapped_column(String(20))
    url: Mapped[str] = mapped_column(String(500))
    submitted_url: Mapped[str] = mapped_column(String(1000))
    video_id: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    reason: Mapped[str | None] = mapped_column(Text)  # rejection or stop reason
    baseline_views: Mapped[int | None] = mapped_column(BigInteger)
    peak_views: Mapped[int] = mapped_column(BigInteger, default=0)
    last_views: Mapped[int | None] = mapped_column(BigInteger)
    approved_at: Mapped[datetime | None]
    reviewed_by: Mapped[uuid.UUID | None]
    last_tracked_at: Mapped[datetime | None]


class ViewTracking(IdMixin, Base):
    """One row per (clipper, submission, date, platform): the latest reading of the day."""

    __tablename__ = "view_tracking"
    __table_args__ = (UniqueConstraint("clipper_id", "submission_id", "date", "platform"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(_WS, ondelete="CASCADE"), index=True)
    campaign_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clipper_campaigns.id", ondelete="CASCADE"), index=True)
    clipper_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clipper_submissions.id", ondelete="CASCADE"))
    date: Mapped[date] = mapped_column(Date)
    platform: Mapped[str] = mapped_column(String(20))
    views: Mapped[int] = mapped_column(BigInteger)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)


class ViewReading(IdMixin, Base):
    """Every reading, for charts."""

    __tablename__ = "view_readings"
    __table_args__ = (Index("ix_view_readings_submission_read_at", "submission_id", "read_at"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(_WS, ondelete="CASCADE"), index=True)
    submission_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("clipper_submissions.id", ondelete="CASCADE"))
    views: Mapped[int] = mapped_column(BigInteger)
    read_at: Mapped[datetime] = mapped_column(default=utcnow)
    apify_run_id: Mapped[str | None] = mapped_column(String(100))


class ApifyRun(IdMixin, TimestampMixin, Base):
    """An Apify run started by a tracking job: (job key, batch) → run id, so a retried job
    reads the same run instead of paying for a new one."""

    __tablename__ = "clipper_apify_runs"
    __table_args__ = (UniqueConstraint("job_key", "batch"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(_WS, ondelete="CASCADE"), index=True)
    job_key: Mapped[str] = mapped_column(String(200))
    batch: Mapped[int] = mapped_column(Integer)
    urls: Mapped[list[str]] = mapped_column(JSONB, default=list)
    run_id: Mapped[str | None] = mapped_column(String(100))
    dataset_id: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default="starting")
    processed: Mapped[bool] = mapped_column(Boolean, default=False)
    detail: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)


class LedgerEntry(IdMixin, Base):
    """Credits (earnings) and paid payouts; balances are sums over this table and payouts."""

    __tablename__ = "clipper_ledger"
    __table_args__ = (
        CheckConstraint("kind IN ('credit', 'payout')", name="kind"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
        UniqueConstraint("payout_id"),
        Index("ix_clipper_ledger_clipper", "workspace_id", "clipper_id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(_WS, ondelete="CASCADE"))
    campaign_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clipper_campaigns.id", ondelete="CASCADE"), index=True
    )
    clipper_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    submission_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("clipper_submissions.id", ondelete="CASCADE"), index=True
    )
    payout_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("clipper_payouts.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(10))
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    views: Mapped[int | None] = mapped_column(BigInteger)  # peak views the credit was computed from
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payout(IdMixin, TimestampMixin, Base):
    __tablename__ = "clipper_payouts"
    __table_args__ = (
        CheckConstraint(f"status IN {PAYOUT_STATUSES!r}", name="status"),
        CheckConstraint("amount_minor > 0", name="amount_positive"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey(_WS, ondelete="CASCADE"), index=True)
    clipper_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    amount_minor: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(20), default="requested")
    external_reference: Mapped[str | None] = mapped_column(String(200))
    reason: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[uuid.UUID | None]
    paid_at: Mapped[datetime | None]
