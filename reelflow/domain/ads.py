"""Ads rules, pure: directions (objectives, budgets and their minimums), creatives, the
launch's choices (which creatives, which ad group), budget changes, and report math.

Money is integer minor units of the ad account's currency (KZT 2,500.00 = 250000).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from reelflow.errors import Forbidden, InvalidInput, LimitExceeded

Platform = Literal["tiktok", "facebook"]
PLATFORMS: tuple[str, ...] = ("tiktok", "facebook")
CREATE_PLATFORMS: tuple[str, ...] = (*PLATFORMS, "both")
OBJECTIVES: tuple[str, ...] = ("traffic", "conversions", "lead_generation")
ADGROUP_MODES: tuple[str, ...] = ("use_existing", "create_new")
CREATIVE_KINDS: tuple[str, ...] = ("video", "image", "carousel")
LAUNCH_MODES: tuple[str, ...] = ("auto", "manual")
ACTION_KINDS: tuple[str, ...] = (
    "pause_campaign",
    "resume_campaign",
    "pause_adgroup",
    "resume_adgroup",
    "pause_ad",
    "resume_ad",
    "update_adgroup_budget",
    "get_campaign_status",
    "create_adgroup",
)
GENDERS: tuple[str, ...] = ("GENDER_UNLIMITED", "GENDER_MALE", "GENDER_FEMALE")
AGE_GROUPS: tuple[str, ...] = (
    "AGE_13_17",
    "AGE_18_24",
    "AGE_25_34",
    "AGE_35_44",
    "AGE_45_54",
    "AGE_55_100",
)
PLACEMENTS: tuple[str, ...] = ("PLACEMENT_TIKTOK", "PLACEMENT_PANGLE", "PLACEMENT_GLOBAL_APP_BUNDLE")

# Our objective → TikTok's objective_type, optimization goal and billing event.
TIKTOK_OBJECTIVES: dict[str, tuple[str, str, str]] = {
    "traffic": ("TRAFFIC", "CLICK", "CPC"),
    "conversions": ("WEB_CONVERSIONS", "CONVERT", "OCPM"),
    "lead_generation": ("LEAD_GENERATION", "LEAD_GENERATION", "OCPM"),
}

# Minimum daily budget of an ad group, in minor units, per account currency. USD is
# TikTok's documented $20 per ad group per day (research §5.5); KZT 2,500 per day is what
# the ad teams work with (seed 003). Other currencies have their own ranges that are not
# documented here, so a direction in another currency is refused rather than guessed.
MIN_DAILY_BUDGET_MINOR: dict[str, int] = {"USD": 20_00, "KZT": 2_500_00}


@dataclass(frozen=True)
class AdSettings:
    """A direction's default ad settings (targeting, placements, schedule)."""

    countries: tuple[str, ...] = ()
    age_groups: tuple[str, ...] = ()
    gender: str = "GENDER_UNLIMITED"
    languages: tuple[str, ...] = ()
    placements: tuple[str, ...] = ("PLACEMENT_TIKTOK",)
    schedule_hours: int | None = None  # run for N hours from launch; None = until stopped
    ad_text: str | None = None
    landing_page_url: str | None = None
    call_to_action: str | None = None
    # The lead form (instant page) this direction's ads use: leads from it map here.
    instant_page_id: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "countries": list(self.countries),
            "age_groups": list(self.age_groups),
            "gender": self.gender,
            "languages": list(self.languages),
            "placements": list(self.placements),
            "schedule_hours": self.schedule_hours,
            "ad_text": self.ad_text,
            "landing_page_url": self.landing_page_url,
            "call_to_action": self.call_to_action,
            "instant_page_id": self.instant_page_id,
        }


def min_daily_budget(currency: str) -> int:
    """The minimum daily budget (minor units) in `currency`, or 422 when it is not known."""
    minimum = MIN_DAILY_BUDGET_MINOR.get(currency.upper())
    if minimum is None:
        known = ", ".join(sorted(MIN_DAILY_BUDGET_MINOR))
        raise InvalidInput(
            f"budgets in {currency} cannot be validated (known minimums: {known})", field="daily_budget_minor"
        )
    return minimum


def check_daily_budget(amount_minor: int, currency: str, *, field: str = "daily_budget_minor") -> int:
    minimum = min_daily_budget(currency)
    if amount_minor < minimum:
        raise InvalidInput(
            f"the daily budget must be at least {minimum} minor units of {currency.upper()}", field=field
        )
    return amount_minor


def check_objective(objective: str, *, field: str = "objective") -> str:
    if objective not in OBJECTIVES:
        raise InvalidInput(f"objective must be one of {', '.join(OBJECTIVES)}", field=field)
    return objective


def direction_platforms(platform: str) -> list[str]:
    """`both` at creation makes two directions, one per platform."""
    if platform not in CREATE_PLATFORMS:
        raise InvalidInput(f"platform must be one of {', '.join(CREATE_PLATFORMS)}", field="platform")
    return list(PLATFORMS) if platform == "both" else [platform]


def check_target_cpl(value: int | None) -> int | None:
    if value is not None and value <= 0:
        raise InvalidInput("target_cpl_minor must be positive", field="target_cpl_minor")
    return value


def check_adgroup_mode(mode: str) -> str:
    if mode not in ADGROUP_MODES:
        raise InvalidInput(f"adgroup_mode must be one of {', '.join(ADGROUP_MODES)}", field="adgroup_mode")
    return mode


def check_ad_settings(raw: Mapping[str, Any] | None) -> AdSettings:
    """Validate the default ad settings; every problem names its field."""
    data = dict(raw or {})
    unknown = set(data) - set(AdSettings().as_dict())
    if unknown:
        raise InvalidInput(f"unknown settings: {', '.join(sorted(unknown))}", field="settings")

    def strings(name: str) -> tuple[str, ...]:
        value = data.get(name) or []
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise InvalidInput(f"{name} must be a list of strings", field=f"settings.{name}")
        return tuple(value)

    countries = tuple(c.upper() for c in strings("countries"))
    if any(len(c) != 2 or not c.isalpha() for c in countries):
        raise InvalidInput("countries are ISO 3166 alpha-2 codes", field="settings.countries")
    age_groups = strings("age_groups")
    if any(a not in AGE_GROUPS for a in age_groups):
        raise InvalidInput(f"age_groups must be among {', '.join(AGE_GROUPS)}", field="settings.age_groups")
    gender = data.get("gender") or "GENDER_UNLIMITED"
    if gender not in GENDERS:
        raise InvalidInput(f"gender must be one of {', '.join(GENDERS)}", field="settings.gender")
    placements = strings("placements") or ("PLACEMENT_TIKTOK",)
    if any(p not in PLACEMENTS for p in placements):
        raise InvalidInput(f"placements must be among {', '.join(PLACEMENTS)}", field="settings.placements")
    hours = data.get("schedule_hours")
    if hours is not None and (not isinstance(hours, int) or isinstance(hours, bool) or not 1 <= hours <= 24 * 365):
        raise InvalidInput("schedule_hours must be 1 to 8760", field="settings.schedule_hours")
    ad_text = data.get("ad_text")
    if ad_text is not None and (not isinstance(ad_text, str) or not 1 <= len(ad_text) <= 100):
        raise InvalidInput("ad_text must be 1 to 100 characters", field="settings.ad_text")
    url = data.get("landing_page_url")
    if url is not None and (not isinstance(url, str) or not url.startswith(("https://", "http://"))):
        raise InvalidInput("landing_page_url must be an http(s) URL", field="settings.landing_page_url")
    cta = data.get("call_to_action")
    if cta is not None and not isinstance(cta, str):
        raise InvalidInput("call_to_action must be a string", field="settings.call_to_action")
    page = data.get("instant_page_id")
    if page is not None and (not isinstance(page, str) or not page.isascii() or not page.isalnum() or len(page) > 64):
        raise InvalidInput("instant_page_id must be a platform id", field="settings.instant_page_id")
    return AdSettings(
        countries=countries,
        age_groups=age_groups,
        gender=gender,
        languages=tuple(lang.lower() for lang in strings("languages")),
        placements=placements,
        schedule_hours=hours,
        ad_text=ad_text,
        landing_page_url=url,
        call_to_action=cta,
        instant_page_id=page,
    )


def check_creative_kind(kind: str, direction_platform: str | None) -> str:
    """TikTok directions take video creatives only (image/carousel → 422)."""
    if kind not in CREATIVE_KINDS:
        raise InvalidInput(f"kind must be one of {', '.join(CREATIVE_KINDS)}", field="kind")
    if direction_platform == "tiktok" and kind != "video":
        raise InvalidInput("TikTok directions take video creatives only", field="kind")
    return kind


def creative_file_name(creative_id: str) -> str:
    """The material name on TikTok: unique per advertiser and stable, so a retried upload
    is found by name instead of uploaded again."""
    return f"reelflow-{creative_id}.mp4"


def upload_timeout_s(size_bytes: int) -> float:
    """Read timeout for an upload: at least 5 minutes, or 10 s per MB (seed 003)."""
    return max(300.0, 10.0 * size_bytes / (1024 * 1024))


# --- the launch -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CreativeCandidate:
    creative_id: str
    running: bool
    spend_minor: int = 0
    leads: int = 0
    created_order: int = 0

    @property
    def cpl_minor(self) -> int | None:
        return cpl(self.spend_minor, self.leads)


def pick_auto_creatives(candidates: Sequence[CreativeCandidate], limit: int) -> list[str]:
    """`auto` mode: creatives not yet running, best first by past CPL (known CPLs ascending,
    then those without leads yet, oldest first)."""
    idle = [c for c in candidates if not c.running]
    idle.sort(key=lambda c: (c.cpl_minor is None, c.cpl_minor or 0, c.created_order))
    return [c.creative_id for c in idle[:limit]]


@dataclass(frozen=True)
class AdGroupSlot:
    adgroup_id: str
    status: str  # ENABLE | DISABLE
    ads_count: int


def choose_adgroup(slots: Iterable[AdGroupSlot], needed: int, capacity: int) -> AdGroupSlot | None:
    """`use_existing`: an ad group with room for `needed` ads under `capacity` (fewer than
    50 by default), enabled ones first, then the fullest (to keep ad groups few); None →
    create a new one."""
    fitting = [s for s in slots if s.ads_count + needed <= capacity and s.status in ("ENABLE", "DISABLE")]
    if not fitting:
        return None
    fitting.sort(key=lambda s: (s.status != "ENABLE", -s.ads_count, s.adgroup_id))
    return fitting[0]


# --- actions ----------------------------------------------------------------------------------------


def check_budget_change(
    current_minor: int | None,
    new_minor: int,
    currency: str,
    *,
    changes_today: int,
    per_day: int,
    max_ratio: float,
) -> None:
    """A budget update: at least the minimum, at most `per_day` changes per ad group per day,
    and each within ±`max_ratio` of the current budget."""
    check_daily_budget(new_minor, currency, field="budget_minor")
    if changes_today >= per_day:
        raise LimitExceeded(f"at most {per_day} budget changes per ad group per day", limit="budget_changes_per_day")
    if current_minor and abs(new_minor - current_minor) > current_minor * max_ratio:
        raise InvalidInput(
            f"a budget change may move the budget by at most {int(max_ratio * 100)}% at once", field="budget_minor"
        )


def check_account_usable(status: str) -> None:
    if status == "disconnected":
        raise Forbidden("the ad account is disconnected: connect it again first")


# --- reports --------------------------------------------------------------------------------------------


def cpl(spend_minor: int, leads: int) -> int | None:
    return round(spend_minor / leads) if leads else None


def cpl_vs_target(cpl_minor: int | None, target_minor: int | None) -> float | None:
    """CPL as a fraction of the target (1.0 = on target, below = better)."""
    if cpl_minor is None or not target_minor:
        return None
    return round(cpl_minor / target_minor, 4)


def roi(revenue_minor: int | None, spend_minor: int) -> float | None:
    """(revenue - spend) / spend, None when revenue is unknown or nothing was spent."""
    if revenue_minor is None or spend_minor <= 0:
        return None
    return round((revenue_minor - spend_minor) / spend_minor, 4)


# --- OAuth state ----------------------------------------------------------------------------------------


def sign_state(payload: Mapping[str, Any], secret: bytes) -> str:
    """A state parameter carrying `payload` (workspace, user, nonce, expiry) and its HMAC."""
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode().hex()
    mac = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}.{mac}"


def verify_state(state: str, secret: bytes, *, now: float | None = None) -> dict[str, Any]:
    """The payload of a state made by `sign_state`; 422 when forged, malformed or expired."""
    body, _, mac = state.partition(".")
    expected = hmac.new(secret, body.encode(), hashlib.sha256).hexdigest()[:32]
    if not body or not mac.isascii() or not hmac.compare_digest(mac, expected):  # non-ASCII: a TypeError
        raise InvalidInput("the OAuth state is not one this server issued", field="state")
    try:
        payload = json.loads(bytes.fromhex(body))
    except ValueError:
        raise InvalidInput("the OAuth state is malformed", field="state") from None
    if not isinstance(payload, dict) or float(payload.get("exp", 0)) < (now if now is not None else time.time()):
        raise InvalidInput("the OAuth state has expired: start again", field="state")
    return payload


_CHAT_ID = re.compile(r"^(-?[0-9]{1,20}|@[A-Za-z][A-Za-z0-9_]{4,31})$")


def check_telegram_chat_id(value: str) -> str | None:
    """A Telegram chat id (number, negative for groups) or public `@channel`; "" clears it."""
    value = value.strip()
    if not value:
        return None
    if not _CHAT_ID.match(value):
        raise InvalidInput("a Telegram chat id (digits, - for groups) or @channel", field="telegram_chat_id")
    return value
