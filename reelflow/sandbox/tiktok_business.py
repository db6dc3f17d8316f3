"""Sandbox for the TikTok API for Business v1.3 (ads) and the Events API 2.0.

Mounted under ``/tiktok-business`` (the `tiktok_business_base_url` sandbox prefix), so
``{sandbox}/tiktok-business/open_api/v1.3/campaign/get/`` answers like
``https://business-api.tiktok.com/open_api/v1.3/campaign/get/``: the same paths (trailing
slash), ``Access-Token`` header, JSON-encoded GET arrays, the
``{code, message, request_id, data}`` envelope with HTTP 200 and numeric error codes.

What it simulates:
* OAuth: ``/portal/auth`` approves at once and redirects with a one-time ``auth_code``
  (valid 1 h); ``/oauth2/access_token/`` issues tokens that expire (``TOKEN_TTL``) on the
  sandbox clock → 40102; unknown tokens → 40105; no token → 40104.
* Campaign / ad group / ad CRUD and status with the USD budget minimums (§5.5) → 40002.
* Video upload by file with the MD5 ``video_signature`` check (40900) and unique names (40911).
* Reports: delivery is simulated from each ad's enabled time (ad, ad group and campaign all
  ENABLE) and its ad group's budget, day by day on the sandbox clock; metrics are strings.
* ``event/track``: per-request validation (≤1,000 events, hashed PII, seconds) and dedup on
  ``event_source_id + event_id + event``.
* ``/tiktok-business/_sandbox/...``: inspection (every change and event, counts), reset,
  mock leads.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, Router, get, post
from litestar.datastructures import UploadFile
from litestar.params import Parameter
from litestar.response import Redirect

from reelflow.sandbox import core

PREFIX = "/tiktok-business"
API = "/open_api/v1.3"
TOKEN_TTL = timedelta(days=365)  # advertiser tokens are long-lived; tests expire them on demand
AUTH_CODE_TTL = timedelta(hours=1)
MIN_CAMPAIGN_BUDGET = 50.0  # USD, daily or lifetime (research §5.5)
MIN_ADGROUP_DAILY_BUDGET = 20.0  # USD per scheduled day
MAX_EVENTS_PER_REQUEST = 1000
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


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

    def ensure_advertiser(self, advertiser_id: str | None = None) -> str:
        advertiser_id = advertiser_id or self.next_id("advertiser")
        if advertiser_id not in self.advertisers:
            self.advertisers[advertiser_id] = {
                "advertiser_id": advertiser_id,
                "name": f"Sandbox Advertiser {advertiser_id[-4:]}",
                "status": "STATUS_ENABLE",
                "role": "ROLE_ADVERTISER",
                "currency": "USD",
                "timezone": "Etc/GMT",
                "display_timezone": "Etc/GMT",
                "balance": 10000.0,
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
                }
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


# --- OAuth ------------------------------------------------------------------------------------------


def _issue_code(st: BusinessState, advertiser_ids: list[str]) -> str:
    code = core.get_state().tokens.issue(
        "code", st.app_id, ttl=AUTH_CODE_TTL.total_seconds(), prefix="sbxauth_", client=st.app_id,
        advertiser_ids=advertiser_ids,
    )  # fmt: skip
    return code.value


@get(f"{PREFIX}/portal/auth", sync_to_thread=False)
def portal_auth(
    app_id: str, redirect_uri: str, oauth_state: str = Parameter(query="state", default="")
) -> Response[Any]:
    """The advertiser consents at once (to a new sandbox advertiser) and is sent back."""
    st = state()
    if app_id != st.app_id:
        raise BizError(40101, "Invalid app_id.")
    code = _issue_code(st, [st.ensure_advertiser()])
    separator = "&" if "?" in redirect_uri else "?"
    return Redirect(redirect_uri + separator + urlencode({"auth_code": code, "code": code, "state": oauth_state}))


@post(f"{PREFIX}/_sandbox/auth_code", sync_to_thread=False, status_code=200)
def issue_auth_code(data: dict[str, Any] | None = None) -> dict[str, Any]:
    """Test helper: an auth_code for ``advertiser_ids`` (created when new), without a browser."""
    st = state()
    wanted = [str(a) for a in (data or {}).get("advertiser_ids") or []] or [st.ensure_advertiser()]
    for advertiser_id in wanted:
        st.ensure_advertiser(advertiser_id)
    return {"auth_code": _issue_code(st, wanted), "advertiser_ids": wanted}


@post(f"{PREFIX}{API}/oauth2/access_token/", status_code=200)
async def access_token(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    body = await _json_body(request)
    _required(body, "app_id", "secret", "auth_code")
    if str(body["app_id"]) != st.app_id or body["secret"] != st.secret:
        raise BizError(40101, "Invalid partner: app_id or secret is wrong.")
    tokens = core.get_state().tokens
    code = tokens.check(str(body["auth_code"]), kind="code")
    if code is None or code.used or code.client != st.app_id:
        raise BizError(40110, "Auth code is invalid or has expired.")
    code.used = True  # an auth_code works once
    advertiser_ids = [str(a) for a in code.extra.get("advertiser_ids", [])]
    token = tokens.issue(
        "access", st.app_id, ttl=TOKEN_TTL.total_seconds(), prefix="sbxbiz_", client=st.app_id,
        advertiser_ids=advertiser_ids,
    )  # fmt: skip
    st.record("authorize", "token", token.value[-6:], {"advertiser_ids": advertiser_ids})
    return _ok(
        {
            "access_token": token.value,
            "advertiser_ids": advertiser_ids,
            "scope": [1, 2, 3, 4, 10, 11],
            "token_type": "Bearer",
            "expires_in": int(TOKEN_TTL.total_seconds()),
        }
    )


@get(f"{PREFIX}{API}/oauth2/advertiser/get/", sync_to_thread=False)
def advertiser_get(request: Request[Any, Any, Any], app_id: str = "", secret: str = "") -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    if app_id != st.app_id or secret != st.secret:
        raise BizError(40101, "Invalid partner: app_id or secret is wrong.")
    items = [
        {"advertiser_id": a, "advertiser_name": st.advertisers[a]["name"]}
        for a in _advertiser_ids(token)
        if a in st.advertisers
    ]
    return _ok({"list": items})


@get(f"{PREFIX}{API}/advertiser/info/", sync_to_thread=False)
def advertiser_info(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    ids = _json_param(request, "advertiser_ids")
    if not isinstance(ids, list) or not ids:
        raise BizError(40002, "advertiser_ids: Missing data for required field.")
    if len(ids) > 100:
        raise BizError(40011, "advertiser_ids: At most 100 ids.")
    return _ok({"list": [dict(st.advertisers[_advertiser(token, st, a)]) for a in ids]})


@get(f"{PREFIX}{API}/identity/get/", sync_to_thread=False)
def identity_get(request: Request[Any, Any, Any], advertiser_id: str = "", identity_type: str = "") -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    advertiser = _advertiser(token, st, advertiser_id)
    if identity_type and identity_type not in {"CUSTOMIZED_USER", "AUTH_CODE", "TT_USER", "BC_AUTH_TT"}:
        raise BizError(40002, "identity_type: Invalid enum value.")
    items = [i for i in st.identities.get(advertiser, []) if not identity_type or i["identity_type"] == identity_type]
    page = _page(items, request, max_size=100)
    return _ok({"identity_list": page["list"], "page_info": page["page_info"]})


# --- campaigns, ad groups, ads ----------------------------------------------------------------------

_KIND_ID = {"campaign": "campaign_id", "adgroup": "adgroup_id", "ad": "ad_id"}
_SECONDARY = {
    "campaign": {"ENABLE": "CAMPAIGN_STATUS_ENABLE", "DISABLE": "CAMPAIGN_STATUS_DISABLE",
                 "DELETE": "CAMPAIGN_STATUS_DELETE"},
    "adgroup": {"ENABLE": "ADGROUP_STATUS_DELIVERY_OK", "DISABLE": "ADGROUP_STATUS_DISABLE",
                "DELETE": "ADGROUP_STATUS_DELETE"},
    "ad": {"ENABLE": "AD_STATUS_DELIVERY_OK", "DISABLE": "AD_STATUS_DISABLE", "DELETE": "AD_STATUS_DELETE"},
}  # fmt: skip
_OBJECTIVES = {"REACH", "TRAFFIC", "VIDEO_VIEWS", "ENGAGEMENT", "LEAD_GENERATION", "WEB_CONVERSIONS",
               "APP_PROMOTION", "PRODUCT_SALES", "CATALOG_SALES"}  # fmt: skip
_BUDGET_MODES = {"BUDGET_MODE_INFINITE", "BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"}
_STATUSES = {"ENABLE", "DISABLE", "DELETE"}


def _view(entity: Entity) -> dict[str, Any]:
    data = dict(entity.fields)
    data["secondary_status"] = _SECONDARY[entity.kind].get(entity.status, entity.status)
    data["create_time"] = _fmt(entity.created_at)
    return data


def _entity(st: BusinessState, kind: str, entity_id: Any, advertiser_id: str) -> Entity:
    entity = st.entities.get(f"{kind}:{entity_id}")
    if entity is None or entity.advertiser_id != advertiser_id:
        raise BizError(40007, f"{kind} {entity_id} does not exist.")
    return entity


def _set_status(st: BusinessState, entity: Entity, status: str) -> None:
    entity.fields["operation_status"] = status
    entity.fields["modify_time"] = _fmt(st.now())
    entity.history.append((st.now(), status))


def _list_entities(request: Request[Any, Any, Any], kind: str) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    advertiser = _advertiser(token, st, request.query_params.get("advertiser_id"))
    filtering = _json_param(request, "filtering", {}) or {}
    if not isinstance(filtering, dict):
        raise BizError(40002, "filtering: Must be a JSON object.")
    items = [e for e in st.entities.values() if e.kind == kind and e.advertiser_id == advertiser]
    for id_field in ("campaign_ids", "adgroup_ids", "ad_ids"):
        if id_field in filtering:
            wanted = {str(i) for i in filtering[id_field]}
            key = id_field[:-1]
            items = [e for e in items if str(e.fields.get(key)) in wanted]
    status = filtering.get("primary_status", "STATUS_NOT_DELETE")
    if status in {"STATUS_NOT_DELETE", "STATUS_DELIVERY_OK", "STATUS_DISABLE", "STATUS_DELETE"}:
        keep = {"STATUS_NOT_DELETE": {"ENABLE", "DISABLE"}, "STATUS_DELIVERY_OK": {"ENABLE"},
                "STATUS_DISABLE": {"DISABLE"}, "STATUS_DELETE": {"DELETE"}}[status]  # fmt: skip
        items = [e for e in items if e.status in keep]
    name_field = {"campaign": "campaign_name", "adgroup": "adgroup_name", "ad": "ad_name"}[kind]
    if filtering.get(name_field):
        items = [e for e in items if str(filtering[name_field]) in str(e.fields.get(name_field, ""))]
    items.sort(key=lambda e: e.created_at, reverse=True)
    return _ok(_page([_view(e) for e in items], request))


@get(f"{PREFIX}{API}/campaign/get/", sync_to_thread=False)
def campaign_get(request: Request[Any, Any, Any]) -> Response[Any]:
    return _list_entities(request, "campaign")


@get(f"{PREFIX}{API}/adgroup/get/", sync_to_thread=False)
def adgroup_get(request: Request[Any, Any, Any]) -> Response[Any]:
    return _list_entities(request, "adgroup")


@get(f"{PREFIX}{API}/ad/get/", sync_to_thread=False)
def ad_get(request: Request[Any, Any, Any]) -> Response[Any]:
    return _list_entities(request, "ad")


def _check_campaign_budget(mode: str, budget: float | None) -> None:
    if mode not in _BUDGET_MODES:
        raise BizError(40002, "budget_mode: Invalid enum value.")
    if mode in {"BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"}:
        if budget is None:
            raise BizError(40002, "budget: Missing data for required field.")
        if budget < MIN_CAMPAIGN_BUDGET:
            raise BizError(40002, f"Campaign budget must be at least {MIN_CAMPAIGN_BUDGET:.2f} USD.")


@post(f"{PREFIX}{API}/campaign/create/", status_code=200)
async def campaign_create(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "campaign_name", "objective_type")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    if body.get("request_id"):
        # TikTok's idempotency key: the same request_id answers with the same campaign.
        existing = st.create_request_ids.get((advertiser, str(body["request_id"])))
        if existing:
            return _ok(_view(st.entities[f"campaign:{existing}"]))
    if body["objective_type"] not in _OBJECTIVES:
        raise BizError(40002, "objective_type: Invalid enum value.")
    if not 1 <= len(str(body["campaign_name"])) <= 512:
        raise BizError(40002, "campaign_name: Length must be between 1 and 512.")
    mode = body.get("budget_mode", "BUDGET_MODE_INFINITE")
    budget = _money(body["budget"], "budget") if body.get("budget") is not None else None
    _check_campaign_budget(mode, budget)
    status = body.get("operation_status", "ENABLE")
    if status not in {"ENABLE", "DISABLE"}:
        raise BizError(40002, "operation_status: Invalid enum value.")
    duplicate = any(
        e.kind == "campaign" and e.advertiser_id == advertiser and e.status != "DELETE"
        and e.fields["campaign_name"] == body["campaign_name"]
        for e in st.entities.values()
    )  # fmt: skip
    if duplicate:
        raise BizError(40002, "Campaign name already exists. Please try another one.")
    campaign_id = st.next_id("campaign")
    now = st.now()
    entity = Entity(
        "campaign", campaign_id, advertiser,
        {"advertiser_id": advertiser, "campaign_id": campaign_id, "campaign_name": body["campaign_name"],
         "objective_type": body["objective_type"], "budget_mode": mode,
         "budget": budget if mode != "BUDGET_MODE_INFINITE" else 0.0, "operation_status": status,
         "budget_optimize_on": bool(body.get("budget_optimize_on", False)), "modify_time": _fmt(now)},
        now, [(now, status)],
    )  # fmt: skip
    st.entities[f"campaign:{campaign_id}"] = entity
    if body.get("request_id"):
        st.create_request_ids[(advertiser, str(body["request_id"]))] = campaign_id
    st.record("create", "campaign", campaign_id, {k: v for k, v in body.items() if k != "advertiser_id"})
    return _ok(_view(entity))


def _scheduled_days(start: datetime, end: datetime | None) -> int:
    if end is None:
        return 1
    return max(1, math.ceil((end - start).total_seconds() / 86400))


def _check_adgroup_budget(
    campaign: Entity, mode: str, budget: float | None, start: datetime, end: datetime | None
) -> None:
    if mode not in {"BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"}:
        if campaign.fields["budget_mode"] == "BUDGET_MODE_INFINITE" and mode == "BUDGET_MODE_INFINITE":
            raise BizError(40002, "Ad group budget is required when the campaign has no budget.")
        if mode != "BUDGET_MODE_INFINITE":
            raise BizError(40002, "budget_mode: Invalid enum value.")
        return
    if campaign.fields["budget_mode"] == "BUDGET_MODE_DAY" and mode != "BUDGET_MODE_DAY":
        raise BizError(40002, "Ad groups of a daily-budget campaign must use a daily budget.")
    if budget is None:
        raise BizError(40002, "budget: Missing data for required field.")
    if mode == "BUDGET_MODE_TOTAL":
        if end is None:
            raise BizError(40002, "schedule_end_time is required for a lifetime budget.")
        minimum = MIN_ADGROUP_DAILY_BUDGET * _scheduled_days(start, end)
    else:
        minimum = MIN_ADGROUP_DAILY_BUDGET
    if budget < minimum:
        raise BizError(40002, f"Ad group budget must be at least {minimum:.2f} USD.")


@post(f"{PREFIX}{API}/adgroup/create/", status_code=200)
async def adgroup_create(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "campaign_id", "adgroup_name", "billing_event", "budget_mode",
              "optimization_goal", "pacing", "schedule_type", "schedule_start_time")  # fmt: skip
    advertiser = _advertiser(token, st, body["advertiser_id"])
    campaign = _entity(st, "campaign", body["campaign_id"], advertiser)
    if campaign.status == "DELETE":
        raise BizError(40002, "The campaign has been deleted.")
    if body["schedule_type"] not in {"SCHEDULE_FROM_NOW", "SCHEDULE_START_END"}:
        raise BizError(40002, "schedule_type: Invalid enum value.")
    if body["pacing"] not in {"PACING_MODE_SMOOTH", "PACING_MODE_FAST"}:
        raise BizError(40002, "pacing: Invalid enum value.")
    if body["billing_event"] not in {"CPC", "CPM", "CPV", "OCPC", "OCPM", "GD"}:
        raise BizError(40002, "billing_event: Invalid enum value.")
    start = _parse_time(body["schedule_start_time"], "schedule_start_time")
    end = _parse_time(body["schedule_end_time"], "schedule_end_time") if body.get("schedule_end_time") else None
    if body["schedule_type"] == "SCHEDULE_START_END" and end is None:
        raise BizError(40002, "schedule_end_time: Missing data for required field.")
    if end is not None and end <= start:
        raise BizError(40002, "schedule_end_time must be later than schedule_start_time.")
    budget = _money(body["budget"], "budget") if body.get("budget") is not None else None
    _check_adgroup_budget(campaign, body["budget_mode"], budget, start, end)
    status = body.get("operation_status", "ENABLE")
    if status not in {"ENABLE", "DISABLE"}:
        raise BizError(40002, "operation_status: Invalid enum value.")
    adgroup_id = st.next_id("adgroup")
    now = st.now()
    fields = {k: v for k, v in body.items() if k not in {"advertiser_id", "campaign_id"}}
    fields.update(
        advertiser_id=advertiser, campaign_id=campaign.id, adgroup_id=adgroup_id, budget=budget or 0.0,
        placement_type=body.get("placement_type", "PLACEMENT_TYPE_NORMAL"), operation_status=status,
        schedule_start_time=_fmt(start), schedule_end_time=_fmt(end) if end else None, modify_time=_fmt(now),
        bid_price=_money(body["bid_price"], "bid_price") if body.get("bid_price") is not None else None,
        location_ids=[str(x) for x in body.get("location_ids") or []],
    )  # fmt: skip
    entity = Entity("adgroup", adgroup_id, advertiser, fields, now, [(now, status)])
    st.entities[f"adgroup:{adgroup_id}"] = entity
    st.record("create", "adgroup", adgroup_id, {k: v for k, v in body.items() if k != "advertiser_id"})
    return _ok(_view(entity))


@post(f"{PREFIX}{API}/ad/create/", status_code=200)
async def ad_create(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "adgroup_id", "creatives")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    adgroup = _entity(st, "adgroup", body["adgroup_id"], advertiser)
    if adgroup.status == "DELETE":
        raise BizError(40002, "The ad group has been deleted.")
    creatives = body["creatives"]
    if not isinstance(creatives, list) or not 1 <= len(creatives) <= 20:
        raise BizError(40002, "creatives: Between 1 and 20 creatives.")
    identity_ids = {i["identity_id"] for i in st.identities.get(advertiser, [])}
    checked: list[dict[str, Any]] = []
    for creative in creatives:  # validate all before creating any (a request is all or nothing)
        if not isinstance(creative, dict):
            raise BizError(40002, "creatives: Each creative must be an object.")
        _required(creative, "ad_name", "ad_format", "ad_text", "identity_id", "identity_type")
        if creative.get("video_id") and creative["video_id"] not in st.videos:
            raise BizError(40053, f"Video {creative['video_id']} is invalid.")
        if creative["ad_format"] == "SINGLE_VIDEO" and not creative.get("video_id"):
            raise BizError(40002, "video_id: Missing data for required field.")
        if creative["identity_id"] not in identity_ids:
            raise BizError(40002, "identity_id: Identity does not exist.")
        if not 1 <= len(str(creative["ad_text"])) <= 100:
            raise BizError(40002, "ad_text: Length must be between 1 and 100.")
        checked.append(creative)
    now = st.now()
    created: list[Entity] = []
    for creative in checked:
        ad_id = st.next_id("ad")
        status = creative.get("operation_status", "ENABLE")
        fields = dict(creative)
        fields.update(advertiser_id=advertiser, campaign_id=adgroup.fields["campaign_id"], adgroup_id=adgroup.id,
                      ad_id=ad_id, operation_status=status, modify_time=_fmt(now))  # fmt: skip
        entity = Entity("ad", ad_id, advertiser, fields, now, [(now, status)])
        st.entities[f"ad:{ad_id}"] = entity
        st.record("create", "ad", ad_id, dict(creative))
        created.append(entity)
    return _ok({"ad_ids": [e.id for e in created], "creatives": [_view(e) for e in created]})


_IMMUTABLE = {"advertiser_id", "campaign_id", "adgroup_id", "ad_id", "objective_type", "operation_status"}


@post(f"{PREFIX}{API}/campaign/update/", status_code=200)
async def campaign_update(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "campaign_id")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    campaign = _entity(st, "campaign", body["campaign_id"], advertiser)
    if campaign.status == "DELETE":
        raise BizError(40002, "The campaign has been deleted.")
    change = {k: v for k, v in body.items() if k not in _IMMUTABLE}
    if "budget_mode" in change and change["budget_mode"] != campaign.fields["budget_mode"]:
        raise BizError(40002, "budget_mode cannot be changed after the campaign is created.")
    if "budget" in change:
        change["budget"] = _money(change["budget"], "budget")
        _check_campaign_budget(campaign.fields["budget_mode"], change["budget"])
    if "campaign_name" in change and not 1 <= len(str(change["campaign_name"])) <= 512:
        raise BizError(40002, "campaign_name: Length must be between 1 and 512.")
    return _apply_update(st, campaign, change)


@post(f"{PREFIX}{API}/adgroup/update/", status_code=200)
async def adgroup_update(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "adgroup_id")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    adgroup = _entity(st, "adgroup", body["adgroup_id"], advertiser)
    if adgroup.status == "DELETE":
        raise BizError(40002, "The ad group has been deleted.")
    change = {k: v for k, v in body.items() if k not in _IMMUTABLE}
    if "budget_mode" in change and change["budget_mode"] != adgroup.fields["budget_mode"]:
        raise BizError(40002, "budget_mode cannot be changed after the ad group is created.")
    if "budget" in change:
        change["budget"] = _money(change["budget"], "budget")
        start = _parse_time(change.get("schedule_start_time", adgroup.fields["schedule_start_time"]), "start")
        end_raw = change.get("schedule_end_time", adgroup.fields.get("schedule_end_time"))
        end = _parse_time(end_raw, "schedule_end_time") if end_raw else None
        campaign = st.entities[f"campaign:{adgroup.fields['campaign_id']}"]
        _check_adgroup_budget(campaign, adgroup.fields["budget_mode"], change["budget"], start, end)
    if "bid_price" in change:
        change["bid_price"] = _money(change["bid_price"], "bid_price")
    return _apply_update(st, adgroup, change)


@post(f"{PREFIX}{API}/ad/update/", status_code=200)
async def ad_update(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    _required(body, "advertiser_id", "ad_id")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    ad = _entity(st, "ad", body["ad_id"], advertiser)
    if ad.status == "DELETE":
        raise BizError(40002, "The ad has been deleted.")
    change = {k: v for k, v in body.items() if k not in _IMMUTABLE}
    if change.get("video_id") and change["video_id"] not in st.videos:
        raise BizError(40053, f"Video {change['video_id']} is invalid.")
    return _apply_update(st, ad, change)


def _apply_update(st: BusinessState, entity: Entity, change: dict[str, Any]) -> Response[Any]:
    effective = {k: v for k, v in change.items() if entity.fields.get(k) != v}
    if not effective:
        raise BizError(40012, "No update: the values are the same as before.")
    entity.fields.update(effective)
    entity.fields["modify_time"] = _fmt(st.now())
    st.record("update", entity.kind, entity.id, effective)
    return _ok(_view(entity))


async def _status_update(request: Request[Any, Any, Any], kind: str) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    body = await _json_body(request)
    ids_field = f"{_KIND_ID[kind]}s"
    _required(body, "advertiser_id", ids_field, "operation_status")
    advertiser = _advertiser(token, st, body["advertiser_id"])
    status = body["operation_status"]
    if status not in _STATUSES:
        raise BizError(40002, "operation_status: Invalid enum value.")
    ids = body[ids_field]
    if not isinstance(ids, list) or len(ids) > 100:
        raise BizError(40011, f"{ids_field}: At most 100 ids.")
    entities = [_entity(st, kind, i, advertiser) for i in ids]
    for entity in entities:
        if entity.status == "DELETE" and status != "DELETE":
            raise BizError(40002, f"{kind} {entity.id} has been deleted.")
    for entity in entities:
        if entity.status != status:  # setting the same status again changes nothing
            _set_status(st, entity, status)
            st.record("status", kind, entity.id, {"operation_status": status})
            if status == "DELETE":  # deleting a parent deletes its children, like the real API
                for child in st.entities.values():
                    is_child = child.fields.get(_KIND_ID[kind]) == entity.id and child.kind != kind
                    if is_child and child.status != "DELETE":
                        _set_status(st, child, "DELETE")
    status_list = [{_KIND_ID[kind]: e.id, "status": _SECONDARY[kind][e.status]} for e in entities]
    return _ok({ids_field: [e.id for e in entities], "status": status, f"{kind}_list": status_list})


@post(f"{PREFIX}{API}/campaign/status/update/", status_code=200)
async def campaign_status(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _status_update(request, "campaign")


@post(f"{PREFIX}{API}/adgroup/status/update/", status_code=200)
async def adgroup_status(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _status_update(request, "adgroup")


@post(f"{PREFIX}{API}/ad/status/update/", status_code=200)
async def ad_status(request: Request[Any, Any, Any]) -> Response[Any]:
    return await _status_update(request, "ad")


# --- video upload --------------------------------------------------------------------------------


def _probe(content: bytes) -> dict[str, Any]:
    """Duration and size of the uploaded video (PyAV); unreadable files get no metadata."""
    import io

    import av

    try:
        with av.open(io.BytesIO(content), mode="r") as container:
            duration = float(container.duration / 1_000_000) if container.duration else None
            meta: dict[str, Any] = {"duration": duration, "format": (container.format.name or "").split(",")[0]}
            if container.streams.video:
                video = container.streams.video[0]
                meta.update(width=video.width, height=video.height)
            return meta
    except (av.FFmpegError, ValueError, StopIteration):
        return {}


@post(f"{PREFIX}{API}/file/video/ad/upload/", status_code=200)
async def video_upload(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    form = await request.form()
    advertiser = _advertiser(token, st, form.get("advertiser_id"))
    upload_type = form.get("upload_type") or "UPLOAD_BY_FILE"
    if upload_type != "UPLOAD_BY_FILE":
        raise BizError(40009, f"{upload_type} is not supported in the sandbox.")
    upload = form.get("video_file")
    if not isinstance(upload, UploadFile):
        raise BizError(40002, "video_file: Missing data for required field.")
    signature = str(form.get("video_signature") or "").lower()
    if not signature:
        raise BizError(40002, "video_signature: Missing data for required field.")
    content = await upload.read()
    if not content:
        raise BizError(40906, "The file is empty.")
    if len(content) > 500 * 1024 * 1024:
        raise BizError(40907, "The file is too large.")
    if hashlib.md5(content).hexdigest() != signature:  # the API's own checksum, not security
        raise BizError(40900, "video_signature does not match the file's MD5.")
    file_name = str(form.get("file_name") or upload.filename or "video.mp4")
    if not 1 <= len(file_name) <= 100:
        raise BizError(40002, "file_name: Length must be between 1 and 100.")
    if any(v["advertiser_id"] == advertiser and v["file_name"] == file_name for v in st.videos.values()):
        raise BizError(40911, f"Material name {file_name} already exists.")
    video_id = st.next_id("video")
    now = st.now()
    meta = _probe(content)
    video = {
        "video_id": video_id,
        "advertiser_id": advertiser,
        "file_name": file_name,
        "signature": signature,
        "size": len(content),
        "duration": meta.get("duration"),
        "width": meta.get("width"),
        "height": meta.get("height"),
        "format": meta.get("format") or "mp4",
        "bit_rate": None,
        "material_id": str(7_400_000_000_000_000_000 + st.counters["video"]),
        "video_cover_url": f"https://sandbox.invalid/covers/{video_id}.jpg",
        "preview_url": f"https://sandbox.invalid/previews/{video_id}.mp4",
        "preview_url_expire_time": _fmt(now + timedelta(hours=6)),
        "displayable": True,
        "allowed_placements": ["PLACEMENT_TIKTOK"],
        "allow_download": False,
        "create_time": _fmt(now),
        "modify_time": _fmt(now),
    }
    st.videos[video_id] = video
    st.record("upload", "video", video_id, {"file_name": file_name, "size": len(content)})
    return _ok([{k: v for k, v in video.items() if k != "advertiser_id"}])  # data is an array


# --- reporting ----------------------------------------------------------------------------------------

_LEVEL_KIND = {"AUCTION_AD": "ad", "AUCTION_ADGROUP": "adgroup", "AUCTION_CAMPAIGN": "campaign",
               "AUCTION_ADVERTISER": "advertiser"}  # fmt: skip
_REPORT_METRICS = ["spend", "impressions", "clicks", "ctr", "cpc", "cpm", "conversion", "cost_per_conversion",
                   "conversion_rate", "reach", "video_play_actions", "likes", "comments", "shares",
                   "follows"]  # fmt: skip


def _unit(*parts: object) -> float:
    """A deterministic pseudo-random number in [0, 1) for the given key."""
    digest = hashlib.sha256("|".join(map(str, parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def _enabled_seconds(chain: list[Entity], start: datetime, end: datetime) -> float:
    """Seconds in [start, end) during which every entity of the chain was ENABLE."""
    points = sorted({start, end, *(t for e in chain for t, _ in e.history if start < t < end)})
    total = 0.0
    for a, b in itertools.pairwise(points):
        if all(_status_at(e, a) == "ENABLE" for e in chain):
            total += (b - a).total_seconds()
    return total


def _status_at(entity: Entity, moment: datetime) -> str | None:
    status = None
    for at, value in entity.history:
        if at <= moment:
            status = value
        else:
            break
    return status


def _ad_delivery(st: BusinessState, ad: Entity, start: datetime, end: datetime) -> dict[str, float]:
    """Simulated delivery of one ad in [start, end) (capped at the sandbox's now)."""
    end = min(end, st.now())
    if end <= start:
        return {}
    adgroup = st.entities[f"adgroup:{ad.fields['adgroup_id']}"]
    campaign = st.entities[f"campaign:{ad.fields['campaign_id']}"]
    sched_start = _parse_time(adgroup.fields["schedule_start_time"], "start")
    sched_end_raw = adgroup.fields.get("schedule_end_time")
    sched_end = _parse_time(sched_end_raw, "end") if sched_end_raw else end
    start, end = max(start, sched_start), min(end, sched_end)
    if end <= start:
        return {}
    seconds = _enabled_seconds([campaign, adgroup, ad], start, end)
    if seconds <= 0:
        return {}
    budget = float(adgroup.fields.get("budget") or 0.0)
    if adgroup.fields["budget_mode"] == "BUDGET_MODE_TOTAL":
        budget /= _scheduled_days(sched_start, _parse_time(sched_end_raw, "end") if sched_end_raw else None)
    elif adgroup.fields["budget_mode"] == "BUDGET_MODE_INFINITE":
        budget = float(campaign.fields.get("budget") or 50.0)
    siblings = sum(1 for e in st.entities.values() if e.kind == "ad" and e.fields.get("adgroup_id") == adgroup.id)
    day_key = start.date().isoformat()
    pacing = 0.6 + 0.35 * _unit(ad.id, day_key, "pace")
    spend = round(budget / max(1, siblings) * pacing * seconds / 86400, 2)
    cpm = 4.0 + 8.0 * _unit(ad.id, "cpm")
    impressions = int(spend / cpm * 1000)
    clicks = int(impressions * (0.005 + 0.015 * _unit(ad.id, "ctr")))
    conversions = int(clicks * (0.02 + 0.1 * _unit(ad.id, "cvr")))
    return {
        "spend": spend, "impressions": impressions, "clicks": clicks, "conversion": conversions,
        "reach": int(impressions * 0.82), "video_play_actions": int(impressions * 0.64),
        "likes": int(impressions * 0.03), "comments": int(impressions * 0.002),
        "shares": int(impressions * 0.004), "follows": int(impressions * 0.001),
    }  # fmt: skip


def _derive(totals: dict[str, float]) -> dict[str, str]:
    spend, impressions = totals.get("spend", 0.0), totals.get("impressions", 0.0)
    clicks, conversions = totals.get("clicks", 0.0), totals.get("conversion", 0.0)
    out = {
        "spend": f"{spend:.2f}",
        "ctr": f"{(clicks / impressions * 100) if impressions else 0:.2f}",
        "cpc": f"{(spend / clicks) if clicks else 0:.2f}",
        "cpm": f"{(spend / impressions * 1000) if impressions else 0:.2f}",
        "cost_per_conversion": f"{(spend / conversions) if conversions else 0:.2f}",
        "conversion_rate": f"{(conversions / clicks * 100) if clicks else 0:.2f}",
    }
    for key in ("impressions", "clicks", "conversion", "reach", "video_play_actions", "likes", "comments",
                "shares", "follows"):  # fmt: skip
        out[key] = str(int(totals.get(key, 0)))
    return out


@get(f"{PREFIX}{API}/report/integrated/get/", sync_to_thread=False)
def report_integrated(request: Request[Any, Any, Any]) -> Response[Any]:
    st = state()
    token = _require_token(request, st)
    q = request.query_params
    advertiser = _advertiser(token, st, q.get("advertiser_id"))
    if q.get("report_type", "BASIC") != "BASIC":
        raise BizError(40009, "Only BASIC reports are supported in the sandbox.")
    level = q.get("data_level", "AUCTION_AD")
    if level not in _LEVEL_KIND:
        raise BizError(40002, "data_level: Invalid enum value.")
    dimensions = _json_param(request, "dimensions")
    if not isinstance(dimensions, list) or not dimensions:
        raise BizError(40002, "dimensions: Missing data for required field.")
    id_dims = [d for d in dimensions if d in {"ad_id", "adgroup_id", "campaign_id", "advertiser_id"}]
    time_dims = [d for d in dimensions if d in {"stat_time_day", "stat_time_hour"}]
    if len(id_dims) != 1 or len(time_dims) > 1 or len(id_dims) + len(time_dims) != len(dimensions):
        raise BizError(40002, "dimensions: One id dimension and at most one time dimension are supported.")
    if _LEVEL_KIND[level] != id_dims[0].removesuffix("_id"):
        raise BizError(40002, f"dimensions: {id_dims[0]} does not match data_level {level}.")
    metrics = _json_param(request, "metrics", ["spend", "impressions"])
    unknown = [m for m in metrics if m not in _REPORT_METRICS] if isinstance(metrics, list) else [metrics]
    if unknown:
        raise BizError(40002, f"metrics: Unknown metrics {unknown}.")
    try:
        first = date.fromisoformat(q.get("start_date", ""))
        last = date.fromisoformat(q.get("end_date", ""))
    except ValueError:
        raise BizError(40002, "start_date/end_date: Format must be YYYY-MM-DD.") from None
    span = (last - first).days + 1
    limit = {"stat_time_day": 30, "stat_time_hour": 1}.get(time_dims[0] if time_dims else "", 365)
    if span < 1 or span > limit:
        raise BizError(40002, f"The date range must be 1 to {limit} days for these dimensions.")
    filtering = _json_param(request, "filtering", []) or []
    wanted: dict[str, set[str]] = {}
    for item in filtering if isinstance(filtering, list) else []:
        if isinstance(item, dict) and item.get("filter_type") == "IN":
            values = item.get("filter_value")
            values = json.loads(values) if isinstance(values, str) else values
            wanted[str(item.get("field_name"))] = {str(v) for v in values or []}

    ads = [e for e in st.entities.values() if e.kind == "ad" and e.advertiser_id == advertiser]
    step = timedelta(hours=1) if time_dims == ["stat_time_hour"] else timedelta(days=1)
    window_start = datetime.combine(first, datetime.min.time(), UTC)
    window_end = datetime.combine(last + timedelta(days=1), datetime.min.time(), UTC)
    buckets: dict[tuple[str, str], dict[str, float]] = {}
    for ad in ads:
        if ad.status == "DELETE":  # deleted entities are excluded by default (STATUS_NOT_DELETE)
            continue
        group_id = advertiser if level == "AUCTION_ADVERTISER" else str(ad.fields[id_dims[0]])
        if any(str(ad.fields.get(name, "")) not in values for name, values in wanted.items()):
            continue
        moment = window_start
        while moment < window_end:
            nxt = moment + step
            delivered = _ad_delivery(st, ad, moment, nxt)
            if delivered:
                time_key = _fmt(moment) if time_dims else ""
                bucket = buckets.setdefault((group_id, time_key), {})
                for key, value in delivered.items():
                    bucket[key] = bucket.get(key, 0.0) + value
            moment = nxt
    rows = []
    for (group_id, time_key), totals in sorted(buckets.items()):
        derived = _derive(totals)
        dims = {id_dims[0]: group_id}
        if time_dims:
            dims[time_dims[0]] = time_key
        rows.append({"dimensions": dims, "metrics": {m: derived[m] for m in metrics}})
    return _ok(_page(rows, request))


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


_handlers = [
    portal_auth, issue_auth_code, access_token, advertiser_get, advertiser_info, identity_get,
    campaign_get, adgroup_get, ad_get, campaign_create, adgroup_create, ad_create,
    campaign_update, adgroup_update, ad_update, campaign_status, adgroup_status, ad_status,
    video_upload, report_integrated, event_track, mock_lead, inspect,
]  # fmt: skip

# One Router, so that its exception handler turns every BizError into the envelope.
router = Router(path="/", route_handlers=_handlers, exception_handlers={BizError: biz_error_handler})
route_handlers = [router]
