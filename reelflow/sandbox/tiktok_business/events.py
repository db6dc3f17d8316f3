"""Sandbox TikTok Business: Events API 2.0, mock leads and inspection."""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, Response, get, post

from reelflow.sandbox.tiktok_business.base import (
    _SHA256,
    API,
    MAX_EVENTS_PER_REQUEST,
    PREFIX,
    BizError,
    _advertiser,
    _authenticate,
    _json_body,
    _ok,
    _page,
    _require_token,
    state,
)
from reelflow.sandbox.tiktok_business.entities import _view

# --- Events API ---------------------------------------------------------------------------------------


def _event_problem(index: int, event: Any, source: str) -> str | None:
    if not isinstance(event, dict):
        return f"data[{index}]: must be an object"
    if not event.get("event"):
        return f"data[{index}].event: Missing data for required field."
    event_time = event.get("event_time")
    if not isinstance(event_time, int) or isinstance(event_time, bool) or event_time <= 0:
        return f"data[{index}].event_time: Must be unix seconds."
    if event_time > 10**11:
        return f"data[{index}].event_time: Must be seconds, not milliseconds."
    if source in {"web", "offline", "crm"} and not event.get("event_id"):
        return f"data[{index}].event_id: Missing data for required field."
    return None


def _unhashed(event: dict[str, Any]) -> bool:
    user = event.get("user") or {}
    for key in ("email", "phone", "external_id"):
        values = user.get(key)
        if values is None:
            continue
        for value in values if isinstance(values, list) else [values]:
            if not isinstance(value, str) or not _SHA256.match(value):
                return True
    return False


@post(f"{PREFIX}{API}/event/track/", status_code=200)
async def event_track(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    _authenticate(request, st)
    body = await _json_body(request)
    source = body.get("event_source")
    if source not in {"web", "app", "offline", "crm"}:
        raise BizError(40002, "event_source: Invalid enum value.")
    source_id = str(body.get("event_source_id") or "")
    if not source_id:
        raise BizError(40002, "event_source_id: Missing data for required field.")
    if source == "web" and source_id not in st.pixel_codes:
        raise BizError(40002, f"event_source_id: Pixel {source_id} does not exist.")
    if source != "web" and source_id in st.pixel_codes:
        raise BizError(40002, f"event_source_id: {source_id} is a pixel code, not a {source} event set id.")
    data = body.get("data")
    if not isinstance(data, list) or not 1 <= len(data) <= MAX_EVENTS_PER_REQUEST:
        raise BizError(40061, f"data: Between 1 and {MAX_EVENTS_PER_REQUEST} events per request.")
    for index, event in enumerate(data):  # one bad event rejects the whole request
        problem = _event_problem(index, event, source)
        if problem:
            raise BizError(40002, problem)
        if _unhashed(event):
            raise BizError(40062, f"data[{index}].user: PII must be SHA-256 hashed.")
    accepted = duplicates = 0
    for event in data:
        key = (source_id, str(event.get("event_id") or uuid.uuid4().hex), str(event["event"]))
        if key in st.events:
            duplicates += 1
            continue
        st.events[key] = {"event_source": source, "event_source_id": source_id,
                          "test_event_code": body.get("test_event_code"), **event}  # fmt: skip
        accepted += 1
    st.event_requests.append(
        {"at": st.now().isoformat(), "event_source_id": source_id, "size": len(data), "accepted": accepted,
         "deduplicated": duplicates}
    )  # fmt: skip
    return _ok({})


# --- instant pages (lead forms) ---------------------------------------------------------------------------


def instant_pages_of(advertiser_id: str, now: str) -> list[dict[str, Any]]:
    """Two lead forms per advertiser, with ids derived from it (the first advertiser's first
    page is ``7200000000000000001``, the page mock leads carry by default)."""
    base = int(advertiser_id) + 100_000_000_000_000_000 if advertiser_id.isdigit() else 7_200_000_000_000_000_001
    return [
        {"page_id": str(base + offset), "title": title, "status": "PUBLISHED", "business_type": "LEAD_GEN",
         "create_time": now, "update_time": now}
        for offset, title in ((0, "Book a consultation"), (500_000_000_000, "Get a price list"))
    ]  # fmt: skip


@get(f"{PREFIX}{API}/page/get/", sync_to_thread=False)
def page_get(request: Request[Any, Any, Any], advertiser_id: str = "", business_type: str = "") -> Response[Any]:
    """``/page/get/``: the advertiser's instant pages (only ``LEAD_GEN`` ones exist here)."""
    st = state()
    token = _require_token(request, st)
    advertiser = _advertiser(token, st, advertiser_id)
    if business_type and business_type not in {"LEAD_GEN", "STORE_FRONT", "APP_PROFILE_PAGE", "TIKTOK_INSTANT_PAGE"}:
        raise BizError(40002, "business_type: Invalid enum value.")
    now = st.now().strftime("%Y-%m-%d %H:%M:%S")
    items = [p for p in instant_pages_of(advertiser, now) if not business_type or p["business_type"] == business_type]
    page = _page(items, request, max_size=100)
    return _ok({"list": page["list"], "page_info": page["page_info"]})


# --- leads (mock) and inspection ------------------------------------------------------------------------


@post(f"{PREFIX}/_sandbox/leads", sync_to_thread=False, status_code=201)
def mock_lead(data: dict[str, Any]) -> dict[str, Any]:
    """Create a test lead (like ``/page/lead/mock/create/``); returns the webhook-style payload."""
    st = state()
    lead_id = st.next_id("lead")
    ad = st.entities.get(f"ad:{data.get('ad_id')}")
    lead = {
        "lead_id": lead_id,
        "advertiser_id": str(data.get("advertiser_id") or (ad.advertiser_id if ad else "")),
        "page_id": str(data.get("page_id") or "7200000000000000001"),
        "campaign_id": ad.fields["campaign_id"] if ad else None,
        "adgroup_id": ad.fields["adgroup_id"] if ad else None,
        "ad_id": ad.id if ad else None,
        "create_time": int(st.now().timestamp()),
        "fields": {str(k): str(v) for k, v in (data.get("fields") or {}).items()},
    }
    st.leads[lead_id] = lead
    st.record("create", "lead", lead_id, lead)
    return lead


@get(f"{PREFIX}/_sandbox/inspect", sync_to_thread=False)
def inspect() -> dict[str, Any]:
    """Current entities, videos, received events and per-request counts (changes themselves
    are domain events ``tiktok_business.<kind>.<action>`` in the shared inspection log)."""
    st = state()
    return {
        "advertisers": list(st.advertisers),
        "entities": {key: _view(e) for key, e in st.entities.items()},
        "videos": list(st.videos.values()),
        "events": [{"key": list(k), **v} for k, v in st.events.items()],
        "event_requests": st.event_requests,
        "leads": list(st.leads.values()),
        "now": st.now().isoformat(),
    }
