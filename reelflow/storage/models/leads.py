"""Inbound lead webhooks: the deduplicated inbox (one row per platform lead id).

A row is written by the webhook handler before any workspace is known (the lead names an
advertiser; the `leads.ingest` job maps it to ad accounts and directions). Name, phone and
email exist only inside `payload_enc` (Fernet, reelflow/storage/crypto.py).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, IdMixin, utcnow


class LeadInbox(IdMixin, Base):
    __tablename__ = "lead_inbox"
    __table_args__ = (UniqueConstraint("platform", "lead_id"),)

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
