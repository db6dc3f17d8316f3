"""The audit log: who did what, append-only (a trigger refuses UPDATE and DELETE)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, func
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from reelflow.storage.models.base import Base, utcnow


class AuditEntry(Base):
    """One sensitive action. `workspace_id` is not a foreign key: the history outlives what
    it describes (a deleted workspace's entries stay)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_workspace_id_id", "workspace_id", "id"),)

    id: Mapped[int] = mapped_column(BigInteger, Identity(always=True), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    workspace_id: Mapped[uuid.UUID | None]
    actor_user_id: Mapped[uuid.UUID | None]
    actor_token_id: Mapped[uuid.UUID | None]
    actor_kind: Mapped[str] = mapped_column(String(20))  # member, token, system, anonymous, operator
    action: Mapped[str] = mapped_column(String(80))
    target_type: Mapped[str | None] = mapped_column(String(40))
    target_id: Mapped[str | None] = mapped_column(String(200))
    request_id: Mapped[str | None] = mapped_column(String(128))
    source_ip: Mapped[str | None] = mapped_column(String(64))
    details: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict, server_default="{}")
