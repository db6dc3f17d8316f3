"""Canonical records for the ads capability (TikTok Business API v1.3), and the
vendor error-code table.

Records are msgspec Structs with ids as strings (the API sends string ids), times as
aware UTC datetimes and money as integer minor units plus an ISO 4217 currency.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

import msgspec

from reelflow import errors

OperationStatus = Literal["ENABLE", "DISABLE", "DELETE", "FROZEN"]
BudgetMode = Literal["BUDGET_MODE_INFINITE", "BUDGET_MODE_DAY", "BUDGET_MODE_TOTAL", "BUDGET_MODE_DYNAMIC_DAILY_BUDGET"]
DataLevel = Literal["AUCTION_ADVERTISER", "AUCTION_CAMPAIGN", "AUCTION_ADGROUP", "AUCTION_AD"]

# --- money -------------------------------------------------------------------------------

# ISO 4217 currencies whose minor unit is not 1/100 (all others have two decimals).
_ZERO_DECIMAL = frozenset(
    [
        "BIF",
        "CLP",
        "DJF",
        "GNF",
        "ISK",
        "JPY",
        "KMF",
        "KRW",
        "PYG",
        "RWF",
        "UGX",
        "UYI",
        "VND",
        "VUV",
        "XAF",
        "XOF",
        "XPF",
    ]
)
_THREE_DECIMAL = frozenset(["BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"])


def currency_exponent(currency: str) -> int:
    code = currency.upper()
    if code in _ZERO_DECIMAL:
        return 0
    if code in _THREE_DECIMAL:
        return 3
    return 2


def to_minor_units(amount: str | float | int | Decimal, currency: str) -> int:
    """``"12.345"`` USD → 1235 (half up). Accepts the API's strings and numbers."""
    value = parse_decimal(amount)
    if value is None:
        return 0
    scaled = value * (Decimal(10) ** currency_exponent(currency))
    return int(scaled.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def from_minor_units(amount: int, currency: str) -> float:
    """1235 USD → 12.35, the unit the Business API takes in request bodies."""
    return float(Decimal(amount) / (Decimal(10) ** currency_exponent(currency)))


def parse_decimal(raw: Any) -> Decimal | None:
    """Parse a report metric: ``"1.23"``, ``"3.00%"``, ``"1,234"``, ``12``; ``"-"``/``""`` → None."""
    if raw is None or isinstance(raw, bool):
        return None
    if isinstance(raw, int | float | Decimal):
        return Decimal(str(raw))
    text = str(raw).strip().replace(",", "").rstrip("%").strip()
    if text in {"", "-", "N/A", "null"}:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:
        raise errors.Permanent(f"unparseable metric value {raw!r}") from None


# --- records -------------------------------------------------------------------------------


class AdvertiserToken(msgspec.Struct, frozen=True, kw_only=True):
    """The result of exchanging an ``auth_code`` (advertiser authorization)."""

    access_token: str
    advertiser_ids: list[str]
    scope: list[int] = []
    expires_at: datetime | None = None
    refresh_token: str | None = None
    refresh_token_expires_at: datetime | None = None


class Advertiser(msgspec.Struct, frozen=True, kw_only=True):
    advertiser_id: str
    name: str
    status: str
    currency: str
    timezone: str
    balance_minor: int = 0
    role: str | None = None
    country: str | None = None
    company: str | None = None


class Identity(msgspec.Struct, frozen=True, kw_only=True):
    identity_id: str
    identity_type: str
    display_name: str
    profile_image: str | None = None
    user_name: str | None = None
    available_status: str | None = None
    can_push_video: bool = False


class InstantPage(msgspec.Struct, frozen=True, kw_only=True):
    """An instant page (lead form) of an advertiser (``/page/get/``, ``business_type=LEAD_GEN``)."""

    page_id: str
    title: str
    status: str | None = None
    business_type: str | None = None
    create_time: str | None = None
    update_time: str | None = None


class AdCampaign(msgspec.Struct, frozen=True, kw_only=True):
    campaign_id: str
    advertiser_id: str
    name: str
    objective_type: str
    budget_mode: str
    budget_minor: int | None
    currency: str
    operation_status: str
    secondary_status: str | None = None
    created_at: datetime | None = None
    modified_at: datetime | None = None


class AdGroup(msgspec.Struct, frozen=True, kw_only=True):
    adgroup_id: str
    campaign_id: str
    advertiser_id: str
    name: str
    budget_mode: str
    budget_minor: int | None
    currency: str
    billing_event: str
    optimization_goal: str
    pacing: str
    schedule_type: str
    schedule_start_time: datetime | None
    schedule_end_time: datetime | None
    operation_status: str
    bid_price_minor: int | None = None
    location_ids: list[str] = []
    placement_type: str | None = None
    secondary_status: str | None = None


class Ad(msgspec.Struct, frozen=True, kw_only=True):
    ad_id: str
    adgroup_id: str
    campaign_id: str
    advertiser_id: str
    name: str
    operation_status: str
    ad_format: str | None = None
    ad_text: str | None = None
    call_to_action: str | None = None
    landing_page_url: str | None = None
    video_id: str | None = None
    identity_id: str | None = None
    identity_type: str | None = None
    secondary_status: str | None = None


class AdVideo(msgspec.Struct, frozen=True, kw_only=True):
    video_id: str
    file_name: str
    signature: str
    size: int
    duration: float | None = None
    width: int | None = None
    height: int | None = None
    format: str | None = None
    material_id: str | None = None


class ReportRow(msgspec.Struct, frozen=True, kw_only=True):
    """One row of ``report/integrated/get`` with metrics parsed from strings.

    Money metrics (spend, cpc, cpm, cost_per_conversion) are minor units of `currency`;
    rates (ctr, conversion_rate) are percentages as floats (``"3.00"`` → 3.0).
    """

    dimensions: dict[str, str]
    currency: str
    stat_day: date | None = None
    stat_hour: datetime | None = None
    spend_minor: int = 0
    impressions: int = 0
    clicks: int = 0
    reach: int = 0
    conversions: int = 0
    video_views: int = 0
    likes: int = 0
    comments: int = 0
    shares: int = 0
    follows: int = 0
    views_2s: int = 0
    views_6s: int = 0
    cpc_minor: int | None = None
    cpm_minor: int | None = None
    cost_per_conversion_minor: int | None = None
    ctr: float | None = None
    conversion_rate: float | None = None
    other: dict[str, float] = {}

    @property
    def ad_id(self) -> str | None:
        return self.dimensions.get("ad_id")

    @property
    def adgroup_id(self) -> str | None:
        return self.dimensions.get("adgroup_id")

    @property
    def campaign_id(self) -> str | None:
        return self.dimensions.get("campaign_id")


class Report(msgspec.Struct, frozen=True, kw_only=True):
    rows: list[ReportRow]
    page: int
    total_pages: int
    total_rows: int


class Lead(msgspec.Struct, frozen=True, kw_only=True):
    """A lead from a TikTok instant form (webhook or pull). ``fields`` holds the answers."""

    lead_id: str
    advertiser_id: str | None = None
    page_id: str | None = None
    campaign_id: str | None = None
    adgroup_id: str | None = None
    ad_id: str | None = None
    created_at: datetime | None = None
    fields: dict[str, str] = {}
    email: str | None = None
    phone: str | None = None


# Report metric → (record field, kind). Money metrics become minor units.
MONEY_METRICS = {"spend": "spend_minor", "cpc": "cpc_minor", "cpm": "cpm_minor",
                 "cost_per_conversion": "cost_per_conversion_minor"}  # fmt: skip
COUNT_METRICS = {"impressions": "impressions", "clicks": "clicks", "reach": "reach", "conversion": "conversions",
                 "video_play_actions": "video_views", "likes": "likes", "comments": "comments",
                 "shares": "shares", "follows": "follows", "video_watched_2s": "views_2s",
                 "video_watched_6s": "views_6s"}  # fmt: skip
RATE_METRICS = {"ctr": "ctr", "conversion_rate": "conversion_rate"}
DEFAULT_METRICS = [*MONEY_METRICS, *COUNT_METRICS, *RATE_METRICS]


# --- vendor error codes (research §5.2) --------------------------------------------------------


class ErrorKind(enum.Enum):
    RETRYABLE = "retryable"
    AUTH_EXPIRED = "auth_expired"
    INVALID = "invalid"
    FORBIDDEN = "forbidden"
    NOT_FOUND = "not_found"
    CONFLICT = "conflict"
    CONFIGURATION = "configuration"
    PERMANENT = "permanent"


K = ErrorKind
BUSINESS_ERROR_CODES: dict[int, tuple[ErrorKind, str]] = {
    40000: (K.INVALID, "invalid params"),
    40001: (K.FORBIDDEN, "permission error"),
    40002: (K.INVALID, "param error"),
    40003: (K.FORBIDDEN, "forbidden"),
    40006: (K.INVALID, "version error"),
    40007: (K.NOT_FOUND, "not exist"),
    40009: (K.PERMANENT, "unsupported in sandbox"),
    40011: (K.INVALID, "ID limit exceeded"),
    40012: (K.CONFLICT, "no update"),
    40013: (K.NOT_FOUND, "sandbox advertiser does not exist"),
    40050: (K.CONFLICT, "duplicated request"),
    40053: (K.INVALID, "video ID invalid"),
    40061: (K.INVALID, "invalid batch size"),
    40062: (K.INVALID, "PII not hashed"),
    40100: (K.RETRYABLE, "request too frequent"),
    40101: (K.CONFIGURATION, "invalid partner (app_id/secret)"),
    40102: (K.AUTH_EXPIRED, "access token expired"),
    40103: (K.AUTH_EXPIRED, "refresh token expired"),
    40104: (K.AUTH_EXPIRED, "empty access token"),
    40105: (K.AUTH_EXPIRED, "invalid access token"),
    40107: (K.AUTH_EXPIRED, "invalid refresh token"),
    40108: (K.INVALID, "invalid grant type"),
    40110: (K.INVALID, "auth code error"),
    40113: (K.FORBIDDEN, "app forbidden"),
    40118: (K.FORBIDDEN, "not in whitelist"),
    40130: (K.FORBIDDEN, "scope not authorized"),
    40132: (K.RETRYABLE, "request frequency limited"),
    40200: (K.PERMANENT, "general task error"),
    40201: (K.RETRYABLE, "task not ready"),
    40202: (K.RETRYABLE, "write conflict"),
    40300: (K.NOT_FOUND, "advertiser does not exist"),
    40301: (K.FORBIDDEN, "advertiser role error"),
    40400: (K.CONFIGURATION, "route not found"),
    40502: (K.PERMANENT, "ad number limit"),
    40700: (K.INVALID, "RPC validation error"),
    40900: (K.INVALID, "signature error"),
    40901: (K.RETRYABLE, "video transcoding"),
    40902: (K.RETRYABLE, "URL fetch timeout"),
    40905: (K.NOT_FOUND, "file does not exist"),
    40906: (K.INVALID, "file empty"),
    40907: (K.INVALID, "file too large"),
    40908: (K.INVALID, "file type error"),
    40911: (K.CONFLICT, "duplicated material name"),
    40915: (K.INVALID, "file upload invalid"),
    40916: (K.INVALID, "video illegal content"),
    41000: (K.PERMANENT, "blocked"),
    41001: (K.PERMANENT, "interface offline"),
    50000: (K.RETRYABLE, "system error"),
    50002: (K.RETRYABLE, "system timeout"),
    60001: (K.RETRYABLE, "maintenance"),
    61000: (K.RETRYABLE, "too many requests (blacklist)"),
}
del K

# Rate-limit codes get a pause before the next try; 61000 is a temporary blacklist.
RETRY_AFTER_S: dict[int, float] = {40100: 1.0, 40132: 1.0, 61000: 60.0, 60001: 60.0}


def classify_code(code: int) -> tuple[ErrorKind, str]:
    """Kind and meaning of a Business API ``code`` (non-zero). Unknown 5xxxx/6xxxx are retryable."""
    if code in BUSINESS_ERROR_CODES:
        return BUSINESS_ERROR_CODES[code]
    if 51000 <= code <= 51099:
        return ErrorKind.RETRYABLE, "internal service error"
    if 52000 <= code <= 52204:
        return ErrorKind.RETRYABLE, "storage error"
    if code >= 50000:
        return ErrorKind.RETRYABLE, "server error"
    return ErrorKind.PERMANENT, "unknown error"
