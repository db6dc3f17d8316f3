"""Leads: the deduplicated inbox of lead webhooks (one row per platform lead id), the leads
each workspace sees (`leads`) and the conversion events log (`lead_events`).

An inbox row is written by the webhook handler before any workspace is known (the lead names
an advertiser; the `leads.ingest` job maps it to ad accounts and directions). Name, phone and
email exist only encrypted (Fernet, reelflow/storage/crypto.py): inside `payload_enc` in the
inbox, in `*_enc` columns in `leads`; the events log holds them SHA-256 hashed only.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, TimestampMixin, utcnow


class LeadInbox(IdMixin, Base):
    __tablename__ = "lead_inbox"
    __table_args__ = (
        UniqueConstraint("platform", "lead_id"),
        # The rows the drain job still has to map (migration 0015).
        Index("ix_lead_inbox_pending", "received_at", postgresql_where=text("processed_at IS NULL")),
    )

    platform: Mapped[str] = mapped_column(String(20))
    lead_id: Mapped[str] = mapped_column(String(64))
    advertiser_id: Mapped[str] = mapped_column(String(64), index=True)
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    page_id: Mapped[str | None] = mapped_column(String(64))
    payload_enc: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None]


LEAD_STATUSES = ("new", "interested", "qualified", "scheduled", "rejected")
EVENT_STATUSES = ("queued", "sending", "sent", "failed")


class Lead(IdMixin, TimestampMixin, Base):
    """A lead as a workspace sees it: mapped to its ad account and (when one matches) a
    direction. ``mapping`` says how the direction was found, or why none was
    (``no_direction``, ``ambiguous``). Name, phone and email are Fernet-encrypted
    (``*_enc``); the ids and ``ttclid`` are kept in clear (needed to map and to attribute)."""

    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("workspace_id", "platform", "platform_lead_id"),
        CheckConstraint(f"status IN {LEAD_STATUSES!r}", name="status"),
        Index("ix_leads_workspace_created", "workspace_id", "created_at", "id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    ad_account_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("ad_accounts.id", ondelete="CASCADE"), index=True)
    direction_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("ad_directions.id", ondelete="SET NULL"))
    inbox_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("lead_inbox.id", ondelete="SET NULL"))
    platform: Mapped[str] = mapped_column(String(20), default="tiktok")
    platform_lead_id: Mapped[str] = mapped_column(String(64))
    advertiser_id: Mapped[str] = mapped_column(String(64))
    campaign_id: Mapped[str | None] = mapped_column(String(64))
    adgroup_id: Mapped[str | None] = mapped_column(String(64))
    ad_id: Mapped[str | None] = mapped_column(String(64))
    page_id: Mapped[str | None] = mapped_column(String(64))
    mapping: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12), default="new", server_default="new")
    ttclid: Mapped[str | None] = mapped_column(String(500))
    name_enc: Mapped[str | None] = mapped_column(Text)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    email_enc: Mapped[str | None] = mapped_column(Text)
    lead_created_at: Mapped[datetime]
    status_changed_at: Mapped[datetime | None]


class LeadEvent(IdMixin, TimestampMixin, Base):
    """The events log: one conversion event of one lead (unique per lead and event name, so
    it is sent once however often the status is set). ``request`` holds the body as sent
    (email/phone already SHA-256 hashed: never plaintext PII), ``response`` the platform's answer."""

    __tablename__ = "lead_events"
    __table_args__ = (
        UniqueConstraint("lead_id", "event"),
        CheckConstraint(f"status IN {EVENT_STATUSES!r}", name="status"),
        Index("ix_lead_events_workspace_created", "workspace_id", "created_at", "id"),
    )

    workspace_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"))
    lead_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("leads.id", ondelete="CASCADE"))
    platform: Mapped[str] = mapped_column(String(20), default="tiktok")
    event: Mapped[str] = mapped_column(String(40))
    trigger_status: Mapped[str] = mapped_column(String(12))
    event_id: Mapped[str] = mapped_column(String(64))
    event_source: Mapped[str] = mapped_column(String(10), default="web")
    event_source_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10), default="queued", server_default="queued")
    request: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    response: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    error: Mapped[str | None] = mapped_column(Text)
    run_id: Mapped[uuid.UUID | None]
    started_at: Mapped[datetime | None]
    sent_at: Mapped[datetime | None]
    duration_ms: Mapped[int | None] = mapped_column(Integer)
