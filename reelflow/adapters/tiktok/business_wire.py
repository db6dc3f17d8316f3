"""TikTok Business API wire helpers (pure): parameter encoding, multipart bodies, times,
API items → records, report rows, and lead payloads."""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx

from reelflow import errors
from reelflow.adapters.tiktok.business_records import (
    COUNT_METRICS,
    MONEY_METRICS,
    RATE_METRICS,
    Ad,
    AdCampaign,
    AdGroup,
    AdVideo,
    Lead,
    ReportRow,
    parse_decimal,
    to_minor_units,
)

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


# --- helpers (pure) --------------------------------------------------------------------------------------


def request_id_for(idempotency_key: str) -> str:
    """TikTok's ``request_id`` (an int64 as a string) derived from our idempotency key."""
    return str(int(hashlib.sha256(idempotency_key.encode()).hexdigest()[:15], 16))


def _encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    """GET params: arrays and objects as JSON strings, scalars as text (research §5.1)."""
    out: dict[str, str] = {}
    for key, value in params.items():
        if value is None:
            continue
        if isinstance(value, list | tuple | dict):
            out[key] = json.dumps(value, separators=(",", ":"))
        else:
            out[key] = str(value)
    return out


def multipart_body(fields: Mapping[str, str], files: Mapping[str, tuple[str, bytes, str]]) -> tuple[bytes, str]:
    """Encode ``multipart/form-data`` as bytes (the HTTP layer takes replayable bytes).

    Uses httpx's own encoder through a request object that is never sent.
    """
    request = httpx.Request("POST", "http://multipart.invalid/", data=dict(fields), files=dict(files))
    return request.read(), request.headers["Content-Type"]


def parse_status_update(data: Any, kind: str) -> dict[str, str]:
    """A status update's ``data`` → id → confirmed operation status (ENABLE/DISABLE/DELETE).

    Reads the documented fields: ``{kind}_ids`` and ``status`` (all levels), the campaign's
    ``campaign_list[{campaign_id, status}]`` when present, and drops the ids named in the
    ad group's ``error_list[{adgroup_id, error_message}]``."""
    if not isinstance(data, Mapping):
        raise errors.Permanent(f"TikTok Business API: unexpected {kind} status answer", platform="tiktok_business")
    status = str(data.get("status") or "")
    out = {str(i): status for i in data.get(f"{kind}_ids") or []}
    for item in data.get(f"{kind}_list") or []:
        if isinstance(item, Mapping) and item.get(f"{kind}_id") is not None:
            out[str(item[f"{kind}_id"])] = str(item.get("status") or status)
    for item in data.get("error_list") or []:
        if isinstance(item, Mapping):
            out.pop(str(item.get(f"{kind}_id")), None)
    return out


def _format_time(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise errors.InvalidInput("times must be timezone-aware", field="schedule")
    return moment.astimezone(UTC).strftime(TIME_FORMAT)


def _parse_time(value: Any, zone: Any = UTC) -> datetime | None:
    if not value:
        return None
    naive = _strptime(str(value))
    return naive.replace(tzinfo=zone) if naive else None


@functools.lru_cache(maxsize=4096)
def _strptime(text: str) -> datetime | None:
    """Report rows repeat the same few days: parse each once."""
    try:
        return datetime.strptime(text, TIME_FORMAT)
    except ValueError:
        return None


def _zone(name: str) -> Any:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return UTC


def _money_or_none(value: Any, currency: str) -> int | None:
    return None if value is None else to_minor_units(value, currency)


def _campaign(item: Mapping[str, Any], currency: str) -> AdCampaign:
    mode = str(item.get("budget_mode") or "BUDGET_MODE_INFINITE")
    return AdCampaign(
        campaign_id=str(item["campaign_id"]),
        advertiser_id=str(item.get("advertiser_id", "")),
        name=str(item.get("campaign_name", "")),
        objective_type=str(item.get("objective_type", "")),
        budget_mode=mode,
        budget_minor=None if mode == "BUDGET_MODE_INFINITE" else _money_or_none(item.get("budget"), currency),
        currency=currency,
        operation_status=str(item.get("operation_status", "")),
        secondary_status=item.get("secondary_status"),
        created_at=_parse_time(item.get("create_time")),
        modified_at=_parse_time(item.get("modify_time")),
    )


def _adgroup(item: Mapping[str, Any], currency: str) -> AdGroup:
    mode = str(item.get("budget_mode") or "BUDGET_MODE_INFINITE")
    return AdGroup(
        adgroup_id=str(item["adgroup_id"]),
        campaign_id=str(item.get("campaign_id", "")),
        advertiser_id=str(item.get("advertiser_id", "")),
        name=str(item.get("adgroup_name", "")),
        budget_mode=mode,
        budget_minor=None if mode == "BUDGET_MODE_INFINITE" else _money_or_none(item.get("budget"), currency),
        currency=currency,
        billing_event=str(item.get("billing_event", "")),
        optimization_goal=str(item.get("optimization_goal", "")),
        pacing=str(item.get("pacing", "")),
        schedule_type=str(item.get("schedule_type", "")),
        schedule_start_time=_parse_time(item.get("schedule_start_time")),
        schedule_end_time=_parse_time(item.get("schedule_end_time")),
        operation_status=str(item.get("operation_status", "")),
        bid_price_minor=_money_or_none(item.get("bid_price"), currency),
        location_ids=[str(x) for x in item.get("location_ids") or []],
        placement_type=item.get("placement_type"),
        secondary_status=item.get("secondary_status"),
    )


def _video(item: Mapping[str, Any], file_name: str, signature: str, size: int) -> AdVideo:
    return AdVideo(
        video_id=str(item["video_id"]),
        file_name=str(item.get("file_name") or file_name),
        signature=str(item.get("signature") or signature),
        size=int(item.get("size") or size),
        duration=float(item["duration"]) if item.get("duration") is not None else None,
        width=int(item["width"]) if item.get("width") is not None else None,
        height=int(item["height"]) if item.get("height") is not None else None,
        format=item.get("format"),
        material_id=str(item["material_id"]) if item.get("material_id") is not None else None,
    )


def _ad(item: Mapping[str, Any]) -> Ad:
    return Ad(
        ad_id=str(item["ad_id"]),
        adgroup_id=str(item.get("adgroup_id", "")),
        campaign_id=str(item.get("campaign_id", "")),
        advertiser_id=str(item.get("advertiser_id", "")),
        name=str(item.get("ad_name", "")),
        operation_status=str(item.get("operation_status", "")),
        ad_format=item.get("ad_format"),
        ad_text=item.get("ad_text"),
        call_to_action=item.get("call_to_action"),
        landing_page_url=item.get("landing_page_url"),
        video_id=item.get("video_id"),
        identity_id=item.get("identity_id"),
        identity_type=item.get("identity_type"),
        secondary_status=item.get("secondary_status"),
    )


def parse_report_row(item: Mapping[str, Any], currency: str, zone: Any = UTC) -> ReportRow:
    """A report row with string metrics → numbers (money in minor units of ``currency``)."""
    dimensions = {str(k): str(v) for k, v in (item.get("dimensions") or {}).items()}
    metrics: Mapping[str, Any] = item.get("metrics") or {}
    values: dict[str, Any] = {}
    other: dict[str, float] = {}
    for name, raw in metrics.items():
        if name in MONEY_METRICS:
            money = parse_decimal(raw)
            values[MONEY_METRICS[name]] = to_minor_units(money, currency) if money is not None else None
        elif name in COUNT_METRICS:
            if isinstance(raw, str) and raw.isascii() and raw.isdigit():  # the usual "1234": no Decimal needed
                values[COUNT_METRICS[name]] = int(raw)
                continue
            number = parse_decimal(raw)
            values[COUNT_METRICS[name]] = int(number) if number is not None else 0
        elif name in RATE_METRICS:
            number = parse_decimal(raw)
            values[RATE_METRICS[name]] = float(number) if number is not None else None
        else:
            number = parse_decimal(raw)
            if number is not None:
                other[name] = float(number)
    if values.get("spend_minor") is None:
        values["spend_minor"] = 0
    day = _parse_time(dimensions.get("stat_time_day"), zone)
    hour = _parse_time(dimensions.get("stat_time_hour"), zone)
    return ReportRow(
        dimensions=dimensions,
        currency=currency,
        stat_day=day.date() if day else (hour.date() if hour else None),
        stat_hour=hour,
        other=other,
        **values,
    )


# --- leads ---------------------------------------------------------------------------------------------------


def lead_from_payload(payload: Mapping[str, Any]) -> Lead:
    """A Lead from a LEAD webhook or a ``page/lead`` item. The webhook body is not documented
    (research §5.8), so the known third-party shapes are accepted: the lead object itself,
    ``{"lead": {...}}``, ``{"leads": [{...}]}`` (first lead) or ``{"event_data": {"lead_info": {...}}}``.
    Answers come as ``fields`` (a mapping) or ``field_data``/``answers`` lists of
    ``{name|field_name, value|values}``. Re-fetch the lead before trusting webhook content."""
    item: Any = payload
    if isinstance(payload.get("lead"), Mapping):
        item = payload["lead"]
    elif isinstance(payload.get("leads"), list) and payload["leads"]:
        item = payload["leads"][0]
    elif isinstance((payload.get("event_data") or {}).get("lead_info"), Mapping):
        item = payload["event_data"]["lead_info"]
    lead_id = item.get("lead_id") or item.get("id")
    if not lead_id:
        raise errors.InvalidInput("lead payload has no lead_id", field="lead_id")
    fields: dict[str, str] = {}
    raw_fields = item.get("fields")
    if isinstance(raw_fields, Mapping):
        fields = {str(k): str(v) for k, v in raw_fields.items()}
    for entry in item.get("field_data") or item.get("answers") or []:
        if isinstance(entry, Mapping):
            name = entry.get("name") or entry.get("field_name") or entry.get("key")
            value = entry.get("value", entry.get("values"))
            if isinstance(value, list):
                value = ", ".join(str(v) for v in value)
            if name is not None and value is not None:
                fields[str(name)] = str(value)
    lowered = {k.lower(): v for k, v in fields.items()}
    created = item.get("create_time") or payload.get("create_time")
    created_at: datetime | None = None
    if isinstance(created, int | float) or (isinstance(created, str) and created.isdigit()):
        created_at = datetime.fromtimestamp(int(created), UTC)
    elif isinstance(created, str):
        created_at = _parse_time(created)

    def ident(key: str) -> str | None:
        value = item.get(key) or payload.get(key)
        return str(value) if value else None

    return Lead(
        lead_id=str(lead_id),
        advertiser_id=ident("advertiser_id"),
        page_id=ident("page_id"),
        campaign_id=ident("campaign_id"),
        adgroup_id=ident("adgroup_id"),
        ad_id=ident("ad_id"),
        created_at=created_at,
        fields=fields,
        email=lowered.get("email") or lowered.get("email_address"),
        phone=lowered.get("phone") or lowered.get("phone_number"),
    )
