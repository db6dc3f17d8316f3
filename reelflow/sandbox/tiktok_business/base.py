"""Sandbox TikTok Business: constants, state, the envelope and request helpers."""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from litestar import Request, Response

from reelflow.sandbox import core

PREFIX = "/tiktok-business"
API = "/open_api/v1.3"
# Advertiser access tokens are long-lived (research §5.3): they do not run out on a clock and
# the exchange answers no expiry and no refresh token; they stop working when the advertiser
# withdraws the authorization (`_sandbox/revoke` → 40105) or a test expires them (→ 40102).
# The token store needs a number: a century stands for "no expiry".
TOKEN_TTL = timedelta(days=36500)
AUTH_CODE_TTL = timedelta(hours=1)
MIN_CAMPAIGN_BUDGET = 50.0  # USD, daily or lifetime (research §5.5)
MIN_ADGROUP_DAILY_BUDGET = 20.0  # USD per scheduled day
# Minimums per account currency: (campaign, ad group per day). USD as documented (§5.5);
# KZT 2,500 per day as the ad teams know it (seed 003). Other currencies use USD's numbers.
MIN_BUDGETS: dict[str, tuple[float, float]] = {"USD": (50.0, 20.0), "KZT": (2500.0, 2500.0)}
# What one USD is worth in the currency: scales the simulated CPM so reports look real.
CURRENCY_SCALE: dict[str, float] = {"USD": 1.0, "KZT": 500.0}
MAX_EVENTS_PER_REQUEST = 1000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"
# Campaign objectives the API knows (campaign/create, tool/region).
OBJECTIVES = {"REACH", "TRAFFIC", "VIDEO_VIEWS", "ENGAGEMENT", "LEAD_GENERATION", "WEB_CONVERSIONS",
              "APP_PROMOTION", "PRODUCT_SALES", "CATALOG_SALES"}  # fmt: skip


class BizError(Exception):
    """Answered as ``{code, message, request_id, data: {}}`` with HTTP 200, like the real API."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# --- state ---------------------------------------------------------------------------------------


@dataclass
class Entity:
    """A campaign, ad group or ad: its API fields plus its ENABLE history (for delivery)."""

    kind: str
    id: str
    advertiser_id: str
    fields: dict[str, Any]
    created_at: datetime
    history: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def status(self) -> str:
        return str(self.fields["operation_status"])


@dataclass
class BusinessState:
    """This platform's store inside the shared sandbox state (dropped by ``POST /sandbox/reset``)."""

    app_id: str
    secret: str
    events_tokens: set[str]
    pixel_codes: set[str]
    advertisers: dict[str, dict[str, Any]] = field(default_factory=dict)
    identities: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    entities: dict[str, Entity] = field(default_factory=dict)
    create_request_ids: dict[tuple[str, str], str] = field(default_factory=dict)
    videos: dict[str, dict[str, Any]] = field(default_factory=dict)
    events: dict[tuple[str, str, str], dict[str, Any]] = field(default_factory=dict)
    event_requests: list[dict[str, Any]] = field(default_factory=list)
    leads: dict[str, dict[str, Any]] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    @staticmethod
    def now() -> datetime:
        return core.get_state().clock.now_dt()

    def next_id(self, kind: str) -> str:
        base = {"campaign": 1_800_000_000_000_000_000, "adgroup": 1_810_000_000_000_000_000,
                "ad": 1_820_000_000_000_000_000, "video": 0, "advertiser": 7_100_000_000_000_000_000,
                "lead": 7_300_000_000_000_000_000}[kind]  # fmt: skip
        self.counters[kind] = self.counters.get(kind, 0) + 1
        if kind == "video":
            return f"v10033g50000{self.counters[kind]:08d}sbx"
        return str(base + self.counters[kind])

    @staticmethod
    def record(action: str, kind: str, entity_id: str, change: dict[str, Any]) -> None:
        """A domain event in the shared inspection log: ``tiktok_business.<kind>.<action>``."""
        core.get_state().record(f"tiktok_business.{kind}.{action}", id=entity_id, change=change)

    def min_budgets(self, advertiser_id: str) -> tuple[float, float]:
        currency = str(self.advertisers.get(advertiser_id, {}).get("currency", "USD"))
        return MIN_BUDGETS.get(currency, MIN_BUDGETS["USD"])

    def ensure_advertiser(
        self, advertiser_id: str | None = None, *, currency: str = "USD", timezone: str = "Etc/GMT"
    ) -> str:
        advertiser_id = advertiser_id or self.next_id("advertiser")
        if advertiser_id not in self.advertisers:
            self.advertisers[advertiser_id] = {
                "advertiser_id": advertiser_id,
                "name": f"Sandbox Advertiser {advertiser_id[-4:]}",
                "status": "STATUS_ENABLE",
                "role": "ROLE_ADVERTISER",
                "currency": currency,
                "timezone": timezone,
                "display_timezone": timezone,
                "balance": 10000.0 * CURRENCY_SCALE.get(currency, 1.0),
                "company": "Sandbox Co",
                "country": "US",
                "industry": "291905",
                "email": "ads@example.com",
                "create_time": int(self.now().timestamp()),
            }
            self.identities[advertiser_id] = [
                {
                    "identity_id": f"{advertiser_id}-identity-1",
                    "identity_type": "CUSTOMIZED_USER",
                    "display_name": "Sandbox Brand",
                    "profile_image": "https://sandbox.invalid/avatar.png",
                    "user_name": None,
                    "available_status": "AVAILABLE",
                    "can_push_video": False,
                    "can_pull_video": False,
                },
                {
                    "identity_id": f"{advertiser_id}-tt-user-1",
                    "identity_type": "TT_USER",
                    "display_name": "@sandbox.brand",
                    "profile_image": "https://sandbox.invalid/avatar.png",
                    "user_name": "sandbox.brand",
                    "available_status": "AVAILABLE",
                    "can_push_video": True,
                    "can_pull_video": True,
                },
            ]
        return advertiser_id


def _new_state() -> BusinessState:
    from reelflow.settings import get_settings

    settings = get_settings()
    return BusinessState(
        app_id=settings.credential("tiktok_business_app_id"),
        secret=settings.credential("tiktok_business_secret"),
        events_tokens={settings.credential("tiktok_events_access_token")},
        pixel_codes={settings.credential("tiktok_pixel_code")},
    )


def state() -> BusinessState:
    return core.get_state().store("tiktok_business", _new_state)


def render_error(status: int, code: str | int | None, message: str) -> tuple[int, Any]:
    """Injected faults in the Business API's shape: HTTP 200 and a numeric code, except 5xx."""
    try:
        numeric = int(code) if code is not None else None
    except ValueError:
        numeric = None
    if numeric is None:
        numeric = 40102 if code == "auth_expired" else {401: 40105, 403: 40001, 404: 40007, 429: 40100}.get(status)
        numeric = numeric or (50000 if status >= 500 else 40002)
    body = {"code": numeric, "message": message, "request_id": core.log_id(), "data": {}}
    return (status if status >= 500 else 200), body


core.register_platform(PREFIX, render_error)


# --- request helpers ------------------------------------------------------------------------------


def _envelope(code: int, message: str, data: Any) -> Response[Any]:
    body = {"code": code, "message": message, "request_id": core.log_id(), "data": data}
    return Response(body, status_code=200, media_type="application/json")


def _ok(data: Any) -> Response[Any]:
    return _envelope(0, "OK", data)


def biz_error_handler(_: Request[Any, Any, Any], exc: BizError) -> Response[Any]:
    return _envelope(exc.code, exc.message, {})


def _authenticate(request: Request[Any, Any, Any], st: BusinessState) -> core.Token | None:
    """The OAuth token for the ``Access-Token`` header (None for an Events API token)."""
    value = request.headers.get("Access-Token")
    if not value:
        raise BizError(40104, "Access token is empty.")
    tokens = core.get_state().tokens
    token = tokens.get(value)
    if token is None or token.kind != "access" or token.client != st.app_id or token.revoked:
        if value in st.events_tokens:
            return None
        raise BizError(40105, "Access token is invalid.")
    if tokens.check(value) is None:
        raise BizError(40102, "Access token has expired.")
    return token


def _require_token(request: Request[Any, Any, Any], st: BusinessState) -> core.Token:
    token = _authenticate(request, st)
    if token is None:
        raise BizError(40001, "This token may only call the Events API.")
    return token


def _advertiser_ids(token: core.Token) -> list[str]:
    return [str(a) for a in token.extra.get("advertiser_ids", [])]


def _advertiser(token: core.Token, st: BusinessState, advertiser_id: Any) -> str:
    if advertiser_id in (None, ""):
        raise BizError(40002, "advertiser_id: Missing data for required field.")
    advertiser_id = str(advertiser_id)
    if advertiser_id not in st.advertisers:
        raise BizError(40300, f"Advertiser {advertiser_id} does not exist.")
    if advertiser_id not in _advertiser_ids(token):
        raise BizError(40001, f"No permission to operate advertiser {advertiser_id}.")
    return advertiser_id


def _json_param(request: Request[Any, Any, Any], name: str, default: Any = None) -> Any:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return json.loads(raw)
    except ValueError:
        raise BizError(40002, f"{name}: Not a valid JSON value.") from None


def _int_param(request: Request[Any, Any, Any], name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BizError(40002, f"{name}: Not a valid integer.") from None
    if not lo <= value <= hi:
        raise BizError(40002, f"{name}: Must be between {lo} and {hi}.")
    return value


async def _json_body(request: Request[Any, Any, Any]) -> dict[str, Any]:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        raise BizError(40002, "Request body is not valid JSON.") from None
    if not isinstance(body, dict):
        raise BizError(40002, "Request body must be a JSON object.")
    return body


def _required(body: dict[str, Any], *names: str) -> None:
    for name in names:
        if body.get(name) in (None, "", []):
            raise BizError(40002, f"{name}: Missing data for required field.")


def _page(items: list[Any], request: Request[Any, Any, Any], max_size: int = 1000) -> dict[str, Any]:
    page = _int_param(request, "page", 1, 1, 1_000_000)
    page_size = _int_param(request, "page_size", 10, 1, max_size)
    total = len(items)
    start = (page - 1) * page_size
    return {
        "list": items[start : start + page_size],
        "page_info": {
            "page": page,
            "page_size": page_size,
            "total_number": total,
            "total_page": math.ceil(total / page_size) if total else 0,
        },
    }


def _fmt(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime(_TIME_FORMAT)


def _parse_time(value: Any, name: str) -> datetime:
    try:
        return datetime.strptime(str(value), _TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise BizError(40002, f"{name}: Time format must be YYYY-MM-DD HH:MM:SS.") from None


def _money(value: Any, name: str) -> float:
    try:
        amount = float(value)
    except (TypeError, ValueError):
        raise BizError(40002, f"{name}: Not a valid number.") from None
    if amount < 0 or not math.isfinite(amount):
        raise BizError(40002, f"{name}: Must be a positive number.")
    return round(amount, 2)


# The entities of each advertiser, rebuilt when entities are added (they are never removed,
# and `/sandbox/reset` makes a new dict): a list or a report reads its advertiser's entities
# instead of scanning every advertiser's (that scan grew with the number of advertisers:
# 200,000 entities at 500 advertisers × 200 ad groups).
_BY_ADVERTISER: dict[str, list[Entity]] = {}
_INDEXED: list[Any] = [None, -1]  # the entities dict indexed, and its size then


def advertiser_entities(st: BusinessState, advertiser: str) -> list[Entity]:
    if _INDEXED[0] is not st.entities or _INDEXED[1] != len(st.entities):
        index: dict[str, list[Entity]] = {}
        for entity in st.entities.values():
            index.setdefault(entity.advertiser_id, []).append(entity)
        _BY_ADVERTISER.clear()
        _BY_ADVERTISER.update(index)
        _INDEXED[:] = [st.entities, len(st.entities)]
    return _BY_ADVERTISER.get(advertiser, [])
