"""TikTok Events API 2.0 (``POST /open_api/v1.3/event/track/``): conversion events.

* Email is trimmed and lower-cased, phone turned into E.164 (``phonenumbers``), external
  ids trimmed; each is then SHA-256 hashed (hex) before it leaves the process. Values
  that already are a SHA-256 hex digest pass unchanged (the caller hashed them).
* ``event_id`` is deterministic (`event_id_for`), so a retried job sends the same id and
  TikTok deduplicates on ``event_source_id + event_id + event``.
* Events go out in batches of at most 1,000 (a larger batch is rejected whole).
* Lead conversions are **web** events: ``event_source: web`` with ``event_source_id`` = the
  direction's pixel code (`lead_status_event`). A ``crm`` event set has its own id (never a
  pixel code) and custom event names, so ``crm``/``offline``/``app`` need an explicit
  ``event_source_id``; the ``lead`` block is only sent for ``crm``.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal, Protocol

import msgspec
import phonenumbers

from reelflow import errors
from reelflow.adapters import httpclient
from reelflow.adapters.tiktok.business import API_PREFIX, business_error_mapper
from reelflow.adapters.tiktok.business_records import from_minor_units
from reelflow.settings import Settings, get_settings

MAX_BATCH = 1000
EVENT_TRACK_PATH = "/event/track/"

EventSource = Literal["web", "app", "offline", "crm"]
_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")


# --- normalisation and hashing -----------------------------------------------------------


def sha256_hex(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def _already_hashed(value: str) -> bool:
    return bool(_SHA256_HEX.match(value))


def normalise_email(email: str) -> str:
    """Trim and lower-case (TikTok's rule; no provider-specific dot/plus stripping)."""
    value = email.strip().lower()
    if "@" not in value or value.startswith("@") or value.endswith("@"):
        raise errors.InvalidInput("not an email address", field="email")
    return value


def normalise_phone(phone: str, default_region: str | None = "US") -> str:
    """Any written form → E.164 (``"(213) 373-4253"`` → ``"+12133734253"``).

    Numbers without a ``+`` country code are read in ``default_region``.
    """
    try:
        parsed = phonenumbers.parse(phone.strip(), default_region)
    except phonenumbers.NumberParseException:
        raise errors.InvalidInput("not a phone number", field="phone") from None
    if not phonenumbers.is_possible_number(parsed):
        raise errors.InvalidInput("not a possible phone number", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def hash_email(email: str) -> str:
    value = email.strip().lower()
    return value if _already_hashed(value) else sha256_hex(normalise_email(value))


def hash_phone(phone: str, default_region: str | None = "US") -> str:
    value = phone.strip().lower()
    return value if _already_hashed(value) else sha256_hex(normalise_phone(phone, default_region))


def hash_external_id(external_id: str) -> str:
    value = external_id.strip()
    return value if _already_hashed(value.lower()) else sha256_hex(value)


def event_id_for(source: str, lead_id: str, event_name: str) -> str:
    """Deterministic dedup id: SHA-256 of the JSON list ``[source, lead_id, event_name]``.

    JSON encoding keeps the parts unambiguous ("a|b"+"c" never equals "a"+"b|c").
    """
    return sha256_hex(json.dumps([source, lead_id, event_name], separators=(",", ":")))


# Lead status → the standard web event sent for it (issue 15).
LEAD_STATUS_EVENTS: dict[str, str] = {
    "interested": "ViewContent",
    "qualified": "CompleteRegistration",
    "scheduled": "PlaceAnOrder",
}
LEAD_EVENT_SOURCE = "tiktok_lead"


# --- the event record ----------------------------------------------------------------------


class ConversionEvent(msgspec.Struct, frozen=True, kw_only=True):
    """One conversion in canonical form; PII is given raw and hashed on the way out."""

    event: str
    event_time: datetime
    event_id: str
    email: str | None = None
    phone: str | None = None
    external_id: str | None = None
    ttclid: str | None = None
    ttp: str | None = None
    ip: str | None = None
    user_agent: str | None = None
    page_url: str | None = None
    referrer: str | None = None
    lead_id: str | None = None
    lead_event_source: str | None = None
    value_minor: int | None = None
    currency: str | None = None
    order_id: str | None = None
    content_ids: list[str] = []


def lead_event(
    *,
    source: str,
    lead_id: str,
    event: str,
    occurred_at: datetime,
    email: str | None = None,
    phone: str | None = None,
    ttclid: str | None = None,
    value_minor: int | None = None,
    currency: str | None = None,
    lead_event_source: str | None = None,
) -> ConversionEvent:
    """An event for a lead with the deterministic event id (see `lead_status_event` for statuses)."""
    return ConversionEvent(
        event=event,
        event_time=occurred_at,
        event_id=event_id_for(source, lead_id, event),
        email=email,
        phone=phone,
        ttclid=ttclid,
        lead_id=lead_id,
        lead_event_source=lead_event_source,
        value_minor=value_minor,
        currency=currency,
    )


def lead_status_event(
    *,
    lead_id: str,
    status: str,
    occurred_at: datetime,
    email: str | None = None,
    phone: str | None = None,
    ttclid: str | None = None,
    page_url: str | None = None,
) -> ConversionEvent | None:
    """The web event for a lead reaching ``status`` (None for a status that sends nothing).

    The ``event_id`` depends only on the lead and the event name, so setting the same status
    twice (or a retried job) produces the same id and TikTok keeps one event.
    """
    name = LEAD_STATUS_EVENTS.get(status)
    if name is None:
        return None
    return ConversionEvent(
        event=name,
        event_time=occurred_at,
        event_id=event_id_for(LEAD_EVENT_SOURCE, lead_id, name),
        email=email,
        phone=phone,
        ttclid=ttclid,
        page_url=page_url,
        lead_id=lead_id,
    )


def event_payload(
    event: ConversionEvent, *, default_region: str | None = "US", event_source: EventSource = "web"
) -> dict[str, Any]:
    """The Events API JSON for one event, with hashed user data.

    An email or phone that cannot be normalised is left out (the rest of the event is
    still worth sending) rather than sent unhashed.
    """
    if event.event_time.tzinfo is None:
        raise errors.InvalidInput("event_time must be timezone-aware", field="event_time")
    user: dict[str, Any] = {}
    if event.email:
        try:
            user["email"] = [hash_email(event.email)]
        except errors.InvalidInput:
            pass
    if event.phone:
        try:
            user["phone"] = [hash_phone(event.phone, default_region)]
        except errors.InvalidInput:
            pass
    if event.external_id:
        user["external_id"] = [hash_external_id(event.external_id)]
    for key in ("ttclid", "ttp", "ip", "user_agent"):
        value = getattr(event, key)
        if value:
            user[key] = value
    body: dict[str, Any] = {
        "event": event.event,
        "event_time": int(event.event_time.astimezone(UTC).timestamp()),
        "event_id": event.event_id,
        "user": user,
    }
    properties: dict[str, Any] = {}
    if event.value_minor is not None:
        if not event.currency:
            raise errors.InvalidInput("value needs a currency", field="currency")
        properties["value"] = from_minor_units(event.value_minor, event.currency)
        properties["currency"] = event.currency.upper()
    if event.order_id:
        properties["order_id"] = event.order_id
    if event.content_ids:
        properties["content_ids"] = list(event.content_ids)
    if properties:
        body["properties"] = properties
    if event.page_url:
        body["page"] = {"url": event.page_url, **({"referrer": event.referrer} if event.referrer else {})}
    if event.lead_id and event_source == "crm":
        lead: dict[str, str] = {"lead_id": event.lead_id}
        if event.lead_event_source:
            lead["lead_event_source"] = event.lead_event_source
        body["lead"] = lead
    return body


def batches(items: Sequence[Any], size: int = MAX_BATCH) -> list[list[Any]]:
    if not 1 <= size <= MAX_BATCH:
        raise errors.InvalidInput(f"batch size must be 1..{MAX_BATCH}", field="size")
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


def track_body(
    events: Sequence[ConversionEvent],
    *,
    event_source: EventSource,
    event_source_id: str,
    test_event_code: str | None = None,
    default_region: str | None = "US",
) -> dict[str, Any]:
    """The JSON body of one ``event/track`` request (≤ 1,000 events)."""
    if len(events) > MAX_BATCH:
        raise errors.InvalidInput(f"at most {MAX_BATCH} events per request", field="data")
    if not event_source_id:
        raise errors.InvalidInput("an event source id is needed", field="event_source_id")
    body: dict[str, Any] = {
        "event_source": event_source,
        "event_source_id": event_source_id,
        "data": [event_payload(e, default_region=default_region, event_source=event_source) for e in events],
    }
    if test_event_code:
        body["test_event_code"] = test_event_code
    return body


class TrackResult(msgspec.Struct, frozen=True, kw_only=True):
    sent: int
    batches: int
    request_ids: list[str]


class ConversionEvents(Protocol):
    """The conversion-events capability (one implementation: TikTok's Events API)."""

    async def track(
        self,
        events: Sequence[ConversionEvent],
        *,
        event_source: EventSource = "web",
        event_source_id: str | None = None,
        test_event_code: str | None = None,
    ) -> TrackResult: ...


class TikTokEvents:
    """`ConversionEvents` on TikTok's Events API 2.0.

    Defaults come from settings: ``tiktok_events_base_url``, the Events API token
    ``tiktok_events_access_token`` (sent as ``Access-Token``) and ``tiktok_pixel_code``
    (the ``event_source_id`` for web events when none is given). CRM, offline and app
    sources need their own event set / app id: the pixel code is never used for them.
    """

    def __init__(
        self,
        access_token: str | None = None,
        *,
        settings: Settings | None = None,
        default_region: str | None = "US",
    ) -> None:
        self._settings = settings or get_settings()
        self.access_token = access_token or self._settings.credential("tiktok_events_access_token")
        self.url = self._settings.platform_url("tiktok_events_base_url").rstrip("/") + API_PREFIX + EVENT_TRACK_PATH
        self.default_region = default_region

    async def track(
        self,
        events: Sequence[ConversionEvent],
        *,
        event_source: EventSource = "web",
        event_source_id: str | None = None,
        test_event_code: str | None = None,
    ) -> TrackResult:
        """Send ``events`` in requests of at most 1,000. Safe to repeat: TikTok deduplicates on
        ``event_source_id + event_id + event``, so a retried job sends the same ids again."""
        if event_source_id:
            source_id = event_source_id
        elif event_source == "web":
            source_id = self._settings.credential("tiktok_pixel_code")
        else:
            raise errors.InvalidInput(
                f"a {event_source} event needs its own event set id, not the pixel code", field="event_source_id"
            )
        request_ids: list[str] = []
        for batch in batches(list(events)):
            body = track_body(
                batch,
                event_source=event_source,
                event_source_id=source_id,
                test_event_code=test_event_code,
                default_region=self.default_region,
            )
            response = await httpclient.request(
                "POST",
                self.url,
                idempotent=True,
                platform="tiktok_events",
                json=body,
                headers={"Access-Token": self.access_token},
                error_mapper=business_error_mapper(idempotent=True),
            )
            envelope = httpclient.json_body(response)
            request_ids.append(str(envelope.get("request_id", "")) if isinstance(envelope, dict) else "")
        return TrackResult(sent=len(events), batches=len(request_ids), request_ids=request_ids)
