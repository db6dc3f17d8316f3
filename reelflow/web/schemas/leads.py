"""Leads API shapes: leads (contact data masked unless revealed), their conversion events
(the events log, hashed request only), status changes and instant pages."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import msgspec


class LeadEventOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    event: str
    trigger_status: str
    event_id: str
    event_source: str
    event_source_id: str | None
    status: str
    attempts: int
    request: dict[str, Any] | None  # as sent: email/phone SHA-256 hashed, never plaintext
    response: dict[str, Any] | None
    error: str | None
    created_at: datetime
    started_at: datetime | None
    sent_at: datetime | None
    duration_ms: int | None


class LeadOut(msgspec.Struct, kw_only=True):
    id: uuid.UUID
    ad_account_id: uuid.UUID
    direction_id: uuid.UUID | None
    direction_name: str | None
    mapping: str
    platform: str
    platform_lead_id: str
    status: str
    name: str | None
    phone: str | None
    email: str | None
    ttclid: str | None
    campaign_id: str | None
    adgroup_id: str | None
    ad_id: str | None
    page_id: str | None
    lead_created_at: datetime
    created_at: datetime
    status_changed_at: datetime | None
    events: list[LeadEventOut]


class LeadPatch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    status: str


class InstantPageOut(msgspec.Struct, kw_only=True):
    page_id: str
    title: str
    status: str | None = None
    business_type: str | None = None
    create_time: str | None = None
    update_time: str | None = None


def event_out(row: Any) -> LeadEventOut:
    return LeadEventOut(
        id=row.id,
        event=row.event,
        trigger_status=row.trigger_status,
        event_id=row.event_id,
        event_source=row.event_source,
        event_source_id=row.event_source_id,
        status=row.status,
        attempts=row.attempts,
        request=row.request,
        response=row.response,
        error=row.error,
        created_at=row.created_at,
        started_at=row.started_at,
        sent_at=row.sent_at,
        duration_ms=row.duration_ms,
    )
