"""Leads from TikTok instant forms, pure: the webhook body, direction mapping, statuses, the
conversion event each status sends (once), and PII masking for logs.

The webhook body is at least ``{lead_id, advertiser_id, create_time}``, with optional
``page_id, campaign_id, adgroup_id, ad_id, ttclid`` and ``fields`` (the form's answers).
Only what is needed is kept: the ids, ``ttclid`` and name/phone/email (encrypted at rest by
the storage layer); other answers are dropped.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec

from reelflow.errors import InvalidInput

STATUSES: tuple[str, ...] = ("new", "interested", "qualified", "scheduled", "rejected")
SETTABLE_STATUSES: tuple[str, ...] = ("interested", "qualified", "scheduled", "rejected")
# Lead status → the standard web event sent for it (Events API 2.0, issue 15).
STATUS_EVENTS: dict[str, str] = {
    "interested": "ViewContent",
    "qualified": "CompleteRegistration",
    "scheduled": "PlaceAnOrder",
}
MAX_BODY_BYTES = 64 * 1024
_NAME_KEYS = ("name", "full_name", "fullname")
_PHONE_KEYS = ("phone", "phone_number", "phonenumber", "mobile")
_EMAIL_KEYS = ("email", "email_address")


@dataclass(frozen=True)
class LeadIn:
    lead_id: str
    advertiser_id: str
    create_time: int
    page_id: str | None = None
    campaign_id: str | None = None
    adgroup_id: str | None = None
    ad_id: str | None = None
    ttclid: str | None = None
    name: str | None = None
    phone: str | None = None
    email: str | None = None

    def log_view(self) -> dict[str, Any]:
        """What may appear in a log line: ids and masked contact data."""
        return {
            "lead_id": self.lead_id,
            "advertiser_id": self.advertiser_id,
            "campaign_id": self.campaign_id,
            "page_id": self.page_id,
            "name": mask_name(self.name),
            "phone": mask_phone(self.phone),
            "email": mask_email(self.email),
        }


def _id(body: Mapping[str, Any], key: str, *, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise InvalidInput(f"{key} is required", field=key)
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidInput(f"{key} must be a string or integer id", field=key)
    text = str(value).strip()
    if not text or len(text) > 64 or not text.isascii() or not text.replace("_", "").replace("-", "").isalnum():
        raise InvalidInput(f"{key} is not a valid id", field=key)
    return text


def _answer(fields: Mapping[str, str], keys: Sequence[str]) -> str | None:
    lowered = {k.strip().lower(): v for k, v in fields.items()}
    for key in keys:
        value = lowered.get(key)
        if value and value.strip():
            return value.strip()[:320]
    return None


def parse_webhook(raw: bytes) -> LeadIn:
    """The lead in a webhook body, or `InvalidInput` (400) naming the bad field."""
    if len(raw) > MAX_BODY_BYTES:
        raise InvalidInput("body too large", field="body")
    try:
        body = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        raise InvalidInput("body is not JSON", field="body") from None
    except RecursionError:  # nested deeper than the decoder goes: never a lead
        raise InvalidInput("body is nested too deeply", field="body") from None
    if not isinstance(body, dict):
        raise InvalidInput("body must be a JSON object", field="body")
    create_time = body.get("create_time")
    if isinstance(create_time, bool) or not isinstance(create_time, int) or create_time <= 0:
        raise InvalidInput("create_time must be unix seconds", field="create_time")
    fields = body.get("fields") or {}
    if not isinstance(fields, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in fields.items()):
        raise InvalidInput("fields must map names to strings", field="fields")
    ttclid = body.get("ttclid")
    if ttclid is not None and (not isinstance(ttclid, str) or len(ttclid) > 500):
        raise InvalidInput("ttclid must be a string", field="ttclid")
    first = _answer(fields, ("first_name",))
    last = _answer(fields, ("last_name",))
    name = _answer(fields, _NAME_KEYS) or (" ".join(p for p in (first, last) if p) or None)
    return LeadIn(
        lead_id=_id(body, "lead_id", required=True) or "",
        advertiser_id=_id(body, "advertiser_id", required=True) or "",
        create_time=create_time,
        page_id=_id(body, "page_id"),
        campaign_id=_id(body, "campaign_id"),
        adgroup_id=_id(body, "adgroup_id"),
        ad_id=_id(body, "ad_id"),
        ttclid=ttclid or None,
        name=name,
        phone=_answer(fields, _PHONE_KEYS),
        email=_answer(fields, _EMAIL_KEYS),
    )


# --- direction mapping ----------------------------------------------------------------------------


@dataclass(frozen=True)
class DirectionKeys:
    direction_id: str
    advertiser_id: str
    campaign_ids: frozenset[str] = frozenset()
    page_ids: frozenset[str] = frozenset()


def match_direction_with_reason(lead: LeadIn, directions: Sequence[DirectionKeys]) -> tuple[str | None, str]:
    """The lead's direction and how it was found: ``campaign`` (by campaign id), ``page``
    (by instant page id) or ``advertiser`` (the advertiser's only direction); with no
    direction, why: ``ambiguous`` (two directions claim one key, or the advertiser has
    several and nothing narrows it) or ``no_direction``. Never a guess."""
    own = [d for d in directions if d.advertiser_id == lead.advertiser_id]
    for key, attr, how in ((lead.campaign_id, "campaign_ids", "campaign"), (lead.page_id, "page_ids", "page")):
        if key:
            hits = sorted({d.direction_id for d in own if key in getattr(d, attr)})
            if len(hits) == 1:
                return hits[0], how
            if len(hits) > 1:
                return None, "ambiguous"
    ids = sorted({d.direction_id for d in own})
    if len(ids) == 1:
        return ids[0], "advertiser"
    return None, ("ambiguous" if ids else "no_direction")


def match_direction(lead: LeadIn, directions: Sequence[DirectionKeys]) -> str | None:
    """The lead's direction: by campaign id, else by instant page id, else the advertiser's only
    direction. Ambiguity (two directions on one key) maps to none rather than guessing."""
    return match_direction_with_reason(lead, directions)[0]


# --- statuses and events --------------------------------------------------------------------------


def check_status(status: str) -> str:
    if status not in SETTABLE_STATUSES:
        raise InvalidInput(f"status must be one of {', '.join(SETTABLE_STATUSES)}", field="status")
    return status


def event_due(status: str, already_sent: Collection[str]) -> str | None:
    """The conversion event a status change sends, unless it was sent before (once per lead and
    event, however often the status is set)."""
    name = STATUS_EVENTS.get(status)
    return None if name is None or name in already_sent else name


# --- masking for logs ------------------------------------------------------------------------------


def mask_email(email: str | None) -> str | None:
    if not email:
        return None
    local, _, domain = email.strip().partition("@")
    return f"{local[:1]}***@{domain[:1]}***" if domain else "***"


def mask_phone(phone: str | None) -> str | None:
    if not phone:
        return None
    digits = [c for c in phone if c.isdigit()]
    return "***" + "".join(digits[-2:]) if len(digits) >= 6 else "***"


def mask_name(name: str | None) -> str | None:
    if not name:
        return None
    return name.strip()[:1] + "***"
